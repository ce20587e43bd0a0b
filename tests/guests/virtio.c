/*
 * vx86's virtio-mmio devices as a driver sees them, without Linux: finds
 * the console and the rng among the windows (VIRTIO 1.2 §4.2.2), negotiates
 * VERSION_1, takes 64 random bytes from the rng and waits for its interrupt
 * through the IOAPIC (level-triggered, on the GSI the DSDT gives), writes
 * a line to the console's transmit queue, then hands the rng a buffer
 * outside RAM and checks that the device asks for a reset.
 */
#include "lib/guest.h"
#include "lib/trap.h"
#include "lib/vring.h"

#define MMIO_BASE  0xd0100000ul
#define MMIO_SIZE  0x1000ul
#define MMIO_SLOTS 7
#define FIRST_GSI  16 /* slot i's line (README, "Guest-visible platform") */
#define RNG_VECTOR 0x40
#define IOAPIC     0xfec00000ul
#define LAPIC      0xfee00000ul

enum {
    MAGIC = 0x000,
    VERSION = 0x004,
    DEVICE_ID = 0x008,
    DRIVER_FEATURES = 0x020,
    DRIVER_FEATURES_SEL = 0x024,
    QUEUE_SEL = 0x030,
    QUEUE_NUM = 0x038,
    QUEUE_READY = 0x044,
    QUEUE_NOTIFY = 0x050,
    INTERRUPT_STATUS = 0x060,
    INTERRUPT_ACK = 0x064,
    STATUS = 0x070,
    QUEUE_DESC = 0x080,
    QUEUE_DRIVER = 0x090,
    QUEUE_DEVICE = 0x0a0,
};

static struct vring rng_ring, con_ring;
static uint8_t random[64];
static volatile int irqs_seen;
static volatile uint32_t isr_seen;
static uint64_t rng_base;

static uint32_t rd(uint64_t base, unsigned off)
{
    return *(volatile uint32_t *)(base + off);
}

static void wr(uint64_t base, unsigned off, uint32_t v)
{
    *(volatile uint32_t *)(base + off) = v;
}

static int find(uint32_t device_id)
{
    for (int i = 0; i < MMIO_SLOTS; i++) {
        uint64_t base = MMIO_BASE + i * MMIO_SIZE;

        if (rd(base, MAGIC) == 0x74726976 && rd(base, VERSION) == 2 &&
            rd(base, DEVICE_ID) == device_id)
            return i;
    }
    return -1;
}

/* §3.1.1 with VERSION_1 alone, queue q on ring r. */
static void driver_init(uint64_t base, unsigned q, struct vring *r)
{
    wr(base, STATUS, 0);
    wr(base, STATUS, 1);
    wr(base, STATUS, 3);
    wr(base, DRIVER_FEATURES_SEL, 1);
    wr(base, DRIVER_FEATURES, 1); /* VIRTIO_F_VERSION_1, bit 32 */
    wr(base, STATUS, 0xb);
    CHECK(rd(base, STATUS) == 0xb);
    memset(r, 0, sizeof(*r));
    wr(base, QUEUE_SEL, q);
    wr(base, QUEUE_NUM, QSIZE);
    wr(base, QUEUE_DESC, (uint32_t)(uint64_t)r->desc);
    wr(base, QUEUE_DRIVER, (uint32_t)(uint64_t)&r->avail);
    wr(base, QUEUE_DEVICE, (uint32_t)(uint64_t)&r->used);
    wr(base, QUEUE_READY, 1);
    wr(base, STATUS, 0xf);
}

static void offer(uint64_t base, unsigned q, struct vring *r, uint64_t addr, uint32_t len,
                  uint16_t flags)
{
    vring_post(r, addr, len, flags);
    wr(base, QUEUE_NOTIFY, q);
}

/* An interrupt with InterruptStatus 0 is not the device's, as for Linux's
 * vm_interrupt (IRQ_NONE): a level-triggered line may be delivered again
 * after its EOI although the device lowered it first (software KVM here
 * does so when another thread raised it). Only the device's count. */
static void rng_irq(struct trap_frame *f)
{
    uint32_t isr = rd(rng_base, INTERRUPT_STATUS);

    (void)f;
    if (isr) {
        isr_seen = isr;
        wr(rng_base, INTERRUPT_ACK, isr);
        irqs_seen++;
    }
    *(volatile uint32_t *)(LAPIC + 0xb0) = 0; /* EOI: the IOAPIC re-arms the line */
}

static void ioapic_write(unsigned reg, uint32_t v)
{
    *(volatile uint32_t *)IOAPIC = reg;
    *(volatile uint32_t *)(IOAPIC + 0x10) = v;
}

/* The local APIC software-enabled; gsi's redirection entry (82093AA §3.2.4)
 * fixed to vector, physical destination APIC 0, active high, level. */
static void ioapic_route(unsigned gsi, unsigned vector)
{
    *(volatile uint32_t *)(LAPIC + 0xf0) = 0x1ff; /* SVR: enabled, spurious 0xff */
    ioapic_write(0x11 + 2 * gsi, 0);
    ioapic_write(0x10 + 2 * gsi, vector | 1u << 15);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    static const char line[] = "hvc0: hello from the virtio guest\n";
    int rng = find(4), con = find(3);
    int zeros = 0;

    (void)cmdline;
    CHECK(rng >= 0);
    CHECK(con >= 0);
    if (rng < 0 || con < 0)
        guest_finish();
    rng_base = MMIO_BASE + rng * MMIO_SIZE;
    idt_init();
    trap_set_handler(RNG_VECTOR, rng_irq);
    ioapic_route(FIRST_GSI + (unsigned)rng, RNG_VECTOR);

    driver_init(rng_base, 0, &rng_ring);
    asm volatile("cli");
    offer(rng_base, 0, &rng_ring, (uint64_t)random, sizeof(random), 2 /* WRITE */);
    while (!irqs_seen)
        asm volatile("sti; hlt; cli");
    CHECK(irqs_seen == 1);
    CHECK(isr_seen == 1);
    CHECK(rng_ring.used.idx == 1);
    CHECK(rng_ring.used.ring[0].len == sizeof(random));
    for (unsigned i = 0; i < sizeof(random); i++)
        zeros += !random[i];
    CHECK(zeros < 8);
    printf("rng: %d interrupt(s), %u bytes\n", irqs_seen, rng_ring.used.ring[0].len);

    driver_init(MMIO_BASE + con * MMIO_SIZE, 1, &con_ring);
    offer(MMIO_BASE + con * MMIO_SIZE, 1, &con_ring, (uint64_t)line, sizeof(line) - 1, 0);
    CHECK(vring_wait_used(&con_ring, 1));

    /* A buffer past the end of RAM: the device needs a reset and says so
     * with a configuration-change interrupt. */
    offer(rng_base, 0, &rng_ring, mem_size + 0x100000, 64, 2);
    while (irqs_seen < 2)
        asm volatile("sti; hlt; cli");
    CHECK(rd(rng_base, STATUS) & 64);
    CHECK(isr_seen == 2);
    CHECK(rng_ring.used.idx == 1);
    wr(rng_base, STATUS, 0);
    CHECK(rd(rng_base, STATUS) == 0);
    guest_finish();
}
