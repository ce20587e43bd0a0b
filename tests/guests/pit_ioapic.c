/*
 * The PIT's IRQ 0 through the IOAPIC, where the MADT says it arrives: the
 * interrupt source override for ISA IRQ 0 (ACPI 6.5 §5.2.12.5) names GSI 2,
 * so IOAPIC input 2 (82093AA §3.2.4), as on every PC. Both 8259As are
 * masked, so only the IOAPIC path can deliver. Channel 0 runs in mode 2
 * (rate generator) at 1 kHz; the guest waits for 10 ticks.
 */
#include "lib/guest.h"
#include "lib/trap.h"

#define LAPIC        0xfee00000ul
#define IOAPIC       0xfec00000ul
#define TIMER_VECTOR 0x30
#define PIT_HZ       1193182u
#define TICKS        10

static volatile int ticks;

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    asm volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static void on_tick(struct trap_frame *f)
{
    (void)f;
    ticks++;
    *(volatile uint32_t *)(LAPIC + 0xb0) = 0; /* EOI */
}

static void ioapic_write(unsigned reg, uint32_t v)
{
    *(volatile uint32_t *)IOAPIC = reg;
    *(volatile uint32_t *)(IOAPIC + 0x10) = v;
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    uint16_t divisor = PIT_HZ / 1000;
    uint64_t start;

    (void)cmdline, (void)mem_size;
    idt_init();
    trap_set_handler(TIMER_VECTOR, on_tick);
    asm volatile("cli");
    outb(0x21, 0xff); /* both 8259As masked: no ExtINT path */
    outb(0xa1, 0xff);
    *(volatile uint32_t *)(LAPIC + 0xf0) = 0x1ff; /* SVR: enabled, spurious 0xff */
    ioapic_write(0x11 + 2 * 2, 0);                /* destination APIC 0 */
    ioapic_write(0x10 + 2 * 2, TIMER_VECTOR);     /* fixed, edge, active high */
    outb(0x43, 0x34);                             /* channel 0, lobyte/hibyte, mode 2 */
    outb(0x40, (uint8_t)divisor);
    outb(0x40, (uint8_t)(divisor >> 8));
    /* No HLT: with no interrupt coming it would never return. A second of
     * TSC (at 4 GHz) is a hundred times what the ticks take. */
    start = rdtsc();
    while (ticks < TICKS && rdtsc() - start < 4000000000ull)
        asm volatile("sti; nop; cli");
    CHECK(ticks >= TICKS);
    printf("pit: %d ticks through IOAPIC input 2\n", ticks);
    outb(0x43, 0x30); /* channel 0 back to one-shot, stopped */
    guest_finish();
}
