/*
 * vx86's virtio-pci functions (vx86 run --transport pci) as a driver sees
 * them, without Linux: finds the rng and the console on bus 0 through
 * 0xCF8/0xCFC, follows their vendor capabilities (VIRTIO 1.2 §4.1.4) into
 * the BAR, takes 64 random bytes with the queue's interrupt through MSI-X,
 * writes a line to the console, then turns MSI-X off and takes the next
 * interrupt on INTA through the IOAPIC (reading ISR clears it), and last
 * hands the rng a buffer outside RAM: the device needs a reset and says so
 * with a configuration interrupt.
 */
#include "lib/guest.h"
#include "lib/trap.h"
#include "lib/vring.h"

#include <stdbool.h>

#define LAPIC         0xfee00000ul
#define IOAPIC        0xfec00000ul
#define QUEUE_VECTOR  0x40
#define CONFIG_VECTOR 0x41
#define INTX_VECTOR   0x42

/* The common configuration (§4.1.4.3). */
enum {
    GFSELECT = 0x08,
    GFEATURE = 0x0c,
    MSIX_CONFIG = 0x10,
    STATUS = 0x14,
    QUEUE_SELECT = 0x16,
    QUEUE_SIZE = 0x18,
    QUEUE_MSIX_VECTOR = 0x1a,
    QUEUE_ENABLE = 0x1c,
    QUEUE_NOTIFY_OFF = 0x1e,
    QUEUE_DESC = 0x20,
    QUEUE_DRIVER = 0x28,
    QUEUE_DEVICE = 0x30,
};

struct vdev {
    unsigned slot;
    uint64_t common, isr, notify, msix_table;
    uint32_t notify_mul;
    unsigned msix_cap;
};

static struct vring rng_ring, con_ring;
static uint8_t random[64];
static volatile int queue_irqs, config_irqs, intx_irqs;
static volatile uint8_t isr_seen;
static struct vdev rng, con;

static uint32_t cfg_rd(unsigned slot, unsigned off)
{
    outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
    return inl(0xcfc) >> (8 * (off & 3));
}

static void cfg_wr16(unsigned slot, unsigned off, uint16_t v)
{
    outl(0xcf8, 0x80000000u | slot << 11 | (off & 0xfc));
    outw(0xcfc + (off & 2), v);
}

#define MMIO(type, addr) (*(volatile type *)(addr))

/* The function 0 of bus 0 with vendor 0x1af4 and device 0x1040 + id, its
 * structures located through the capability list. */
static bool find(uint32_t id, struct vdev *d)
{
    for (unsigned slot = 1; slot < 32; slot++) {
        uint64_t bar;

        if (cfg_rd(slot, 0) != ((0x1040 + id) << 16 | 0x1af4))
            continue;
        d->slot = slot;
        bar = cfg_rd(slot, 0x10) & ~0xful;
        for (unsigned cap = cfg_rd(slot, 0x34) & 0xff; cap; cap = cfg_rd(slot, cap + 1) & 0xff) {
            uint8_t cap_id = (uint8_t)cfg_rd(slot, cap), type = (uint8_t)cfg_rd(slot, cap + 3);
            uint64_t at = bar + cfg_rd(slot, cap + 8);

            CHECK(cap_id == 0x11 || (cfg_rd(slot, cap + 4) & 0xff) == 0); /* BAR 0 */
            if (cap_id == 0x11) {
                d->msix_cap = cap;
                d->msix_table = bar + (cfg_rd(slot, cap + 4) & ~7u);
            } else if (cap_id == 0x09 && type == 1) {
                d->common = at;
            } else if (cap_id == 0x09 && type == 2) {
                d->notify = at;
                d->notify_mul = cfg_rd(slot, cap + 16);
            } else if (cap_id == 0x09 && type == 3) {
                d->isr = at;
            }
        }
        return d->common && d->notify && d->isr && d->msix_cap;
    }
    return false;
}

static void set64(uint64_t addr, uint64_t v)
{
    MMIO(uint32_t, addr) = (uint32_t)v;
    MMIO(uint32_t, addr + 4) = (uint32_t)(v >> 32);
}

/* §3.1.1 with VERSION_1 alone, queue q on ring r; vec: its MSI-X vector
 * (0xffff: none), vector 0 for config changes. */
static void driver_init(struct vdev *d, unsigned q, struct vring *r, uint16_t vec)
{
    MMIO(uint8_t, d->common + STATUS) = 0;
    MMIO(uint8_t, d->common + STATUS) = 1;
    MMIO(uint8_t, d->common + STATUS) = 3;
    MMIO(uint32_t, d->common + GFSELECT) = 1;
    MMIO(uint32_t, d->common + GFEATURE) = 1; /* VIRTIO_F_VERSION_1, bit 32 */
    MMIO(uint8_t, d->common + STATUS) = 0xb;
    CHECK(MMIO(uint8_t, d->common + STATUS) == 0xb);
    MMIO(uint16_t, d->common + MSIX_CONFIG) = vec == 0xffff ? 0xffff : 0;
    memset(r, 0, sizeof(*r));
    MMIO(uint16_t, d->common + QUEUE_SELECT) = (uint16_t)q;
    MMIO(uint16_t, d->common + QUEUE_SIZE) = QSIZE;
    MMIO(uint16_t, d->common + QUEUE_MSIX_VECTOR) = vec;
    CHECK(MMIO(uint16_t, d->common + QUEUE_MSIX_VECTOR) == vec);
    set64(d->common + QUEUE_DESC, (uint64_t)r->desc);
    set64(d->common + QUEUE_DRIVER, (uint64_t)&r->avail);
    set64(d->common + QUEUE_DEVICE, (uint64_t)&r->used);
    MMIO(uint16_t, d->common + QUEUE_ENABLE) = 1;
    MMIO(uint8_t, d->common + STATUS) = 0xf;
}

static void offer(struct vdev *d, unsigned q, struct vring *r, uint64_t addr, uint32_t len,
                  uint16_t flags)
{
    uint16_t off;

    MMIO(uint16_t, d->common + QUEUE_SELECT) = (uint16_t)q;
    off = MMIO(uint16_t, d->common + QUEUE_NOTIFY_OFF);
    vring_post(r, addr, len, flags);
    MMIO(uint16_t, d->notify + off * d->notify_mul) = (uint16_t)q;
}

static void eoi(void)
{
    MMIO(uint32_t, LAPIC + 0xb0) = 0;
}

static void on_queue(struct trap_frame *f)
{
    (void)f;
    queue_irqs++;
    eoi();
}

static void on_config(struct trap_frame *f)
{
    (void)f;
    config_irqs++;
    eoi();
}

/* ISR 0: not the device's (a level-triggered line may be delivered again
 * after its EOI, as software KVM here does), as for Linux's vp_interrupt. */
static void on_intx(struct trap_frame *f)
{
    uint8_t isr = MMIO(uint8_t, rng.isr); /* reading deasserts INTA */

    (void)f;
    if (isr) {
        isr_seen = isr;
        intx_irqs++;
    }
    eoi(); /* the IOAPIC re-arms the level-triggered line */
}

static void ioapic_write(unsigned reg, uint32_t v)
{
    MMIO(uint32_t, IOAPIC) = reg;
    MMIO(uint32_t, IOAPIC + 0x10) = v;
}

/* MSI-X table entry i: vector vec to APIC 0, fixed, edge (SDM Vol. 3A
 * §11.11), unmasked. */
static void msix_entry(struct vdev *d, unsigned i, uint8_t vec)
{
    uint64_t e = d->msix_table + 16 * i;

    MMIO(uint32_t, e) = 0xfee00000;
    MMIO(uint32_t, e + 4) = 0;
    MMIO(uint32_t, e + 8) = vec;
    MMIO(uint32_t, e + 12) = 0;
}

static void wait_for(volatile int *count, int n)
{
    while (*count < n)
        asm volatile("sti; hlt; cli");
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    static const char line[] = "hvc0: hello over virtio-pci\n";
    unsigned gsi;
    int zeros = 0;

    (void)cmdline;
    CHECK(find(4, &rng));
    CHECK(find(3, &con));
    if (!rng.common || !con.common)
        guest_finish();
    idt_init();
    trap_set_handler(QUEUE_VECTOR, on_queue);
    trap_set_handler(CONFIG_VECTOR, on_config);
    trap_set_handler(INTX_VECTOR, on_intx);
    MMIO(uint32_t, LAPIC + 0xf0) = 0x1ff; /* SVR: enabled, spurious 0xff */
    asm volatile("cli");

    /* MSI-X: vector 0 for config changes, 1 for the queue */
    msix_entry(&rng, 0, CONFIG_VECTOR);
    msix_entry(&rng, 1, QUEUE_VECTOR);
    cfg_wr16(rng.slot, rng.msix_cap + 2, 0x8000);
    driver_init(&rng, 0, &rng_ring, 1);
    offer(&rng, 0, &rng_ring, (uint64_t)random, sizeof(random), 2 /* WRITE */);
    wait_for(&queue_irqs, 1);
    CHECK(queue_irqs == 1 && config_irqs == 0 && intx_irqs == 0);
    CHECK(rng_ring.used.idx == 1);
    CHECK(rng_ring.used.ring[0].len == sizeof(random));
    for (unsigned i = 0; i < sizeof(random); i++)
        zeros += !random[i];
    CHECK(zeros < 8);
    printf("rng: %d MSI-X interrupt(s), %u bytes\n", queue_irqs, rng_ring.used.ring[0].len);

    driver_init(&con, 1, &con_ring, 0xffff);
    offer(&con, 1, &con_ring, (uint64_t)line, sizeof(line) - 1, 0);
    CHECK(vring_wait_used(&con_ring, 1));

    /* MSI-X off: INTA, level-triggered, on the GSI the interrupt line
     * register names (the _PRT says the same) */
    cfg_wr16(rng.slot, rng.msix_cap + 2, 0);
    gsi = cfg_rd(rng.slot, 0x3c) & 0xff;
    CHECK((cfg_rd(rng.slot, 0x3d) & 0xff) == 1);
    CHECK(gsi >= 16 && gsi < 24);
    ioapic_write(0x11 + 2 * gsi, 0);
    ioapic_write(0x10 + 2 * gsi, INTX_VECTOR | 1u << 15);
    offer(&rng, 0, &rng_ring, (uint64_t)random, sizeof(random), 2);
    wait_for(&intx_irqs, 1);
    CHECK(isr_seen == 1); /* a queue interrupt */
    CHECK(rng_ring.used.idx == 2);
    CHECK(MMIO(uint8_t, rng.isr) == 0);
    printf("rng: INTA on GSI %u\n", gsi);

    /* A buffer past the end of RAM: a configuration interrupt */
    offer(&rng, 0, &rng_ring, mem_size + 0x100000, 64, 2);
    wait_for(&intx_irqs, 2);
    CHECK(isr_seen == 2);
    CHECK(MMIO(uint8_t, rng.common + STATUS) & 64);
    CHECK(rng_ring.used.idx == 2);
    MMIO(uint8_t, rng.common + STATUS) = 0;
    CHECK(MMIO(uint8_t, rng.common + STATUS) == 0);
    CHECK(queue_irqs == 1 && config_irqs == 0);
    guest_finish();
}
