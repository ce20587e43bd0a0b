/*
 * The interrupt shadow of STI (SDM Vol. 3A §6.8.3, STI): with an interrupt
 * waiting while IF is 0, STI lets the next instruction run and the
 * interrupt comes right after it, before the one after that. The
 * interrupt is a fixed self-IPI from the LAPIC's ICR (§10.6.1), sent
 * with IF clear. Each case runs often enough for the emu engine to
 * translate it, after a while interpreted.
 */
#include <stdbool.h>

#include "lib/guest.h"
#include "lib/trap.h"

#define LAPIC  0xfee00000ul
#define VECTOR 0x50
#define ROUNDS 64

static volatile uint64_t seen_rip;
static volatile unsigned seen;
static volatile uint64_t cell;

static void lapic_write(unsigned reg, uint32_t v)
{
    *(volatile uint32_t *)(LAPIC + reg) = v;
}

static void on_ipi(struct trap_frame *f)
{
    seen_rip = f->rip;
    seen++;
    lapic_write(0xb0, 0); /* EOI */
}

/* A fixed IPI to this CPU (destination shorthand "self"), left waiting
 * for IF. */
static void self_ipi(void)
{
    lapic_write(0x300, 0x40000 | 0x4000 | VECTOR);
}

/* Returns the address of the instruction after STI's next one, which is
 * where the interrupt must return to. */
static uint64_t sti_then_register_op(void)
{
    uint64_t after;

    asm volatile("lea 1f(%%rip), %0\n\t"
                 "sti\n\t"
                 "inc %%r8\n"
                 "1:\tinc %%r9\n\t"
                 "cli"
                 : "=&r"(after)
                 :
                 : "r8", "r9", "memory");
    return after;
}

static uint64_t sti_then_store(void)
{
    uint64_t after;

    asm volatile("lea 1f(%%rip), %0\n\t"
                 "sti\n\t"
                 "movq $1, %1\n"
                 "1:\tincq %1\n\t"
                 "cli"
                 : "=&r"(after), "+m"(cell)
                 :
                 : "memory");
    return after;
}

static uint64_t sti_then_jump(void)
{
    uint64_t after;

    asm volatile("lea 1f(%%rip), %0\n\t"
                 "sti\n\t"
                 "jmp 1f\n\t"
                 "ud2\n"
                 "1:\tnop\n\t"
                 "cli"
                 : "=&r"(after)
                 :
                 : "memory");
    return after;
}

static uint64_t sti_then_hlt(void)
{
    uint64_t after;

    asm volatile("lea 1f(%%rip), %0\n\t"
                 "sti\n\t"
                 "hlt\n"
                 "1:\tnop\n\t"
                 "cli"
                 : "=&r"(after)
                 :
                 : "memory");
    return after;
}

/* halts: fn waits for the interrupt, so every round has one. */
static void run(const char *name, uint64_t (*fn)(void), bool halts)
{
    unsigned early = 0, late = 0, missing = 0, sent = 0;

    /* Every other round without an interrupt (unless fn halts), so that
     * the emu engine chains the translated blocks, which look at events
     * only at their entry. */
    for (unsigned i = 0; i < 2 * ROUNDS; i++) {
        unsigned before = seen;
        uint64_t after;

        bool send = halts || (i & 1);

        if (send) {
            self_ipi();
            sent++;
        }
        after = fn();
        if (!send)
            missing += seen != before; /* none sent: none may come */
        else if (seen != before + 1)
            missing++;
        else if (seen_rip < after)
            early++;
        else if (seen_rip > after)
            late++;
    }
    printf("sti, then %s: %u rounds with an interrupt, early %u, late %u, missing or extra %u\n",
           name, sent, early, late, missing);
    CHECK(early == 0 && late == 0 && missing == 0);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline, (void)mem_size;
    idt_init();
    asm volatile("cli");
    lapic_write(0xf0, 0x1ff); /* SVR: enabled, spurious 0xff */
    trap_set_handler(VECTOR, on_ipi);
    run("a register operation", sti_then_register_op, false);
    run("a store", sti_then_store, false);
    run("a jump", sti_then_jump, false);
    run("hlt", sti_then_hlt, true);
    guest_finish();
}
