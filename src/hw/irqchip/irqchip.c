#include "hw/irqchip/irqchip.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <time.h>

#include "hw/irqchip/ioapic.h"
#include "hw/irqchip/lapic.h"
#include "hw/irqchip/pic.h"
#include "hw/irqchip/pit.h"
#include "vm/board.h"
#include "vm/vm.h"

#define NS_PER_S        1000000000ull
#define MAX_CPUS        64 /* wake_mask has a bit per CPU */
#define IOAPIC_PIN_IRQ0 2

/* A PIO range's handlers learn which ports they serve from this. */
struct irqchip_port {
    struct irqchip *c;
    uint16_t base;
};

static const struct {
    uint16_t base, len;
    const char *name;
} pio_ranges[] = {
    {BOARD_PIC_MASTER_PORT, 2, "pic"}, {BOARD_PIC_SLAVE_PORT, 2, "pic"},
    {BOARD_PIC_ELCR_PORT, 2, "elcr"},  {BOARD_PIT_PORT, 4, "pit"},
    {BOARD_PORT61, 1, "port61"},
};

#define NR_PIO_RANGES (int)(sizeof(pio_ranges) / sizeof(pio_ranges[0]))

struct irqchip {
    struct pic pic;
    struct pit pit;
    struct ioapic ioapic;
    uint64_t tsc_hz;
    uint64_t (*clock_ns)(void);
    uint64_t (*now_tsc)(void *opaque, int cpu);
    void (*wake)(void *opaque, int cpu);
    void *opaque;
    /* CPUs to wake: set under device locks, called by whoever next holds none. */
    _Atomic uint64_t wake_mask;
    struct irqchip_port ports[NR_PIO_RANGES];
    int ncpus;
    struct lapic lapic[];
};

static uint64_t monotonic_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * NS_PER_S + (uint64_t)ts.tv_nsec;
}

static void want_wake(struct irqchip *c, int cpu)
{
    atomic_fetch_or(&c->wake_mask, 1ull << cpu);
}

/* Ends every entry point, with no lock held. */
static void flush_wakes(struct irqchip *c)
{
    uint64_t m = atomic_exchange(&c->wake_mask, 0);

    while (m) {
        int cpu = __builtin_ctzll(m);

        m &= m - 1;
        if (c->wake)
            c->wake(c->opaque, cpu);
    }
}

static struct lapic_now lapic_now(struct irqchip *c, int cpu)
{
    struct lapic_now now = {.ns = c->clock_ns()};

    if (c->now_tsc)
        now.tsc = c->now_tsc(c->opaque, cpu);
    else
        now.tsc = (uint64_t)((unsigned __int128)now.ns * c->tsc_hz / NS_PER_S);
    return now;
}

/* Delivers an APIC message; returns how many LAPICs accepted it. Takes one
 * LAPIC lock at a time; may run under the IOAPIC's lock. */
static int route(struct irqchip *c, const struct apic_msg *m)
{
    int n = 0, best = -1;
    uint8_t best_ppr = 0;

    for (int i = 0; i < c->ncpus; i++) {
        struct lapic *l = &c->lapic[i];
        bool hit;

        switch (m->shorthand) {
        case APIC_DEST_SELF:
            hit = i == m->src;
            break;
        case APIC_DEST_ALL:
            hit = true;
            break;
        case APIC_DEST_OTHERS:
            hit = i != m->src;
            break;
        default:
            hit = lapic_match(l, m);
            break;
        }
        if (!hit)
            continue;
        if (m->mode == APIC_DM_LOWEST) {
            /* The lowest processor priority wins; ties go to the lowest index. */
            uint8_t p = lapic_ppr(l);

            if (best < 0 || p < best_ppr)
                best = i, best_ppr = p;
            continue;
        }
        if (lapic_accept(l, m)) {
            want_wake(c, i);
            n++;
        }
    }
    if (best >= 0 && lapic_accept(&c->lapic[best], m)) {
        want_wake(c, best);
        n++;
    }
    return n;
}

static int ioapic_deliver(void *opaque, const struct apic_msg *m)
{
    return route(opaque, m);
}

/* The IOMMU's interrupt remapping (vm.h); the IOAPIC's requests carry no
 * PCI source-id. */
static int ioapic_remap(void *opaque, uint64_t *addr, uint32_t *data)
{
    return vm_msi_remap(opaque, VM_SID_NONE, addr, data);
}

/* The 8259A's INT rose: the CPUs whose LINT0 takes it must look. */
static void pic_raise(void *opaque)
{
    struct irqchip *c = opaque;

    for (int i = 0; i < c->ncpus; i++)
        if (atomic_load(&c->lapic[i].extint_ok))
            want_wake(c, i);
}

static void drive(struct irqchip *c, uint32_t gsi, int level)
{
    if (gsi < 16 && gsi != PIC_CASCADE_IRQ)
        pic_set_irq(&c->pic, (int)gsi, level);
    if (gsi == 0)
        ioapic_set_irq(&c->ioapic, IOAPIC_PIN_IRQ0, level);
    else if (gsi != IOAPIC_PIN_IRQ0 && gsi < IOAPIC_PINS)
        ioapic_set_irq(&c->ioapic, (int)gsi, level);
}

static void pit_irq(void *opaque, int level)
{
    drive(opaque, 0, level);
}

static bool pit_port(uint16_t base)
{
    return base == BOARD_PIT_PORT || base == BOARD_PORT61;
}

static uint64_t pio_read(void *opaque, uint64_t offset, unsigned size)
{
    struct irqchip_port *p = opaque;
    uint16_t port = (uint16_t)(p->base + offset);
    uint8_t v;

    (void)size;
    v = pit_port(p->base) ? pit_read(&p->c->pit, port) : pic_read(&p->c->pic, port);
    flush_wakes(p->c); /* a PIC poll acknowledges, a PIT read services IRQ0 */
    return v;
}

static void pio_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct irqchip_port *p = opaque;
    uint16_t port = (uint16_t)(p->base + offset);

    (void)size;
    if (pit_port(p->base)) {
        pit_write(&p->c->pit, port, (uint8_t)value);
        want_wake(p->c, 0); /* the PIT's next event may have moved; cpu 0 services it */
    } else {
        pic_write(&p->c->pic, port, (uint8_t)value);
    }
    flush_wakes(p->c);
}

static uint64_t ioapic_mmio_read(void *opaque, uint64_t offset, unsigned size)
{
    struct irqchip *c = opaque;

    (void)size;
    return ioapic_read(&c->ioapic, offset);
}

static void ioapic_mmio_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct irqchip *c = opaque;

    (void)size;
    ioapic_write(&c->ioapic, offset, (uint32_t)value);
    flush_wakes(c);
}

struct irqchip *irqchip_create(struct vm *vm, int ncpus, uint64_t tsc_hz,
                               uint64_t (*now_tsc)(void *opaque, int cpu),
                               void (*wake)(void *opaque, int cpu), void *opaque)
{
    struct irqchip *c;
    int err = 0;

    if (ncpus < 1 || ncpus > MAX_CPUS) {
        errno = EINVAL;
        return NULL;
    }
    c = calloc(1, sizeof(*c) + (size_t)ncpus * sizeof(c->lapic[0]));
    if (!c) {
        errno = ENOMEM;
        return NULL;
    }
    c->ncpus = ncpus;
    c->tsc_hz = tsc_hz;
    c->clock_ns = monotonic_ns;
    c->now_tsc = now_tsc;
    c->wake = wake;
    c->opaque = opaque;
    atomic_init(&c->wake_mask, 0);
    pic_init(&c->pic, pic_raise, c);
    pit_init(&c->pit, monotonic_ns, pit_irq, c);
    ioapic_init(&c->ioapic, ioapic_deliver, c);
    if (vm->cfg.iommu) {
        c->ioapic.remap = ioapic_remap;
        c->ioapic.remap_opaque = vm;
    }
    for (int i = 0; i < ncpus; i++)
        lapic_init(&c->lapic[i], i, tsc_hz);

    for (int i = 0; i < NR_PIO_RANGES && !err; i++) {
        if (vm->cfg.no_pit && pit_port(pio_ranges[i].base))
            continue;
        c->ports[i] = (struct irqchip_port){c, pio_ranges[i].base};
        err = bus_register(&vm->pio, &(struct bus_range){.base = pio_ranges[i].base,
                                                         .len = pio_ranges[i].len,
                                                         .widths = BUS_W1,
                                                         .read = pio_read,
                                                         .write = pio_write,
                                                         .opaque = &c->ports[i],
                                                         .name = pio_ranges[i].name});
    }
    if (!err)
        err = bus_register(&vm->mmio, &(struct bus_range){.base = BOARD_IOAPIC_BASE,
                                                          .len = IOAPIC_SIZE,
                                                          .widths = BUS_W4,
                                                          .read = ioapic_mmio_read,
                                                          .write = ioapic_mmio_write,
                                                          .opaque = c,
                                                          .name = "ioapic"});
    if (err) {
        /* Ranges already registered keep a stale opaque: the VM is going away. */
        irqchip_destroy(c);
        errno = -err;
        return NULL;
    }
    return c;
}

void irqchip_destroy(struct irqchip *c)
{
    if (!c)
        return;
    for (int i = 0; i < c->ncpus; i++)
        lapic_destroy(&c->lapic[i]);
    ioapic_destroy(&c->ioapic);
    pit_destroy(&c->pit);
    pic_destroy(&c->pic);
    free(c);
}

void irqchip_set_clock(struct irqchip *c, uint64_t (*clock_ns)(void))
{
    c->clock_ns = clock_ns;
    c->pit.clock_ns = clock_ns;
}

void irqchip_set_irq(struct irqchip *c, uint32_t gsi, int level)
{
    drive(c, gsi, level != 0);
    flush_wakes(c);
}

int irqchip_msi(struct irqchip *c, uint64_t addr, uint32_t data)
{
    struct apic_msg m = {.dest = (uint32_t)(addr >> 12) & 0xff,
                         .vector = (uint8_t)data,
                         .mode = (data >> 8) & 7,
                         .logical = addr & 4,
                         .level = data & 0x8000,
                         .assert = true,
                         .src = -1};
    int n;

    if ((addr >> 20) != 0xfee || m.mode == 3 || m.mode == APIC_DM_STARTUP)
        return 0;
    /* A message can only assert: an edge to the LAPIC, with no Remote IRR
     * and no EOI to send back (§11.11.2: level-triggered messages are for
     * devices that emulate a level line, and vx86's devices do not). */
    m.level = false;
    n = route(c, &m);
    flush_wakes(c);
    return n;
}

int irqchip_pending(struct irqchip *c, int cpu, bool if_flag)
{
    struct lapic *l = &c->lapic[cpu];
    struct lapic_now now = lapic_now(c, cpu);
    int v = -1;

    if (now.ns >= pit_next_event(&c->pit))
        pit_service(&c->pit);
    lapic_service(l, &now);
    if (if_flag) {
        v = lapic_intr(l, atomic_load(&c->pic.output), false);
        if (v == LAPIC_INTR_EXTINT)
            v = pic_peek(&c->pic);
    }
    flush_wakes(c);
    return v;
}

int irqchip_ack(struct irqchip *c, int cpu)
{
    int v = lapic_intr(&c->lapic[cpu], atomic_load(&c->pic.output), true);

    if (v == LAPIC_INTR_EXTINT)
        v = pic_ack(&c->pic);
    want_wake(c, cpu);
    flush_wakes(c);
    return v;
}

int irqchip_take_nmi(struct irqchip *c, int cpu)
{
    return lapic_take_nmi(&c->lapic[cpu]);
}

int irqchip_take_startup(struct irqchip *c, int cpu, uint8_t *sipi_vector)
{
    return lapic_take_startup(&c->lapic[cpu], sipi_vector);
}

void irqchip_init_cpu(struct irqchip *c, int cpu, bool wait_sipi)
{
    lapic_init_reset(&c->lapic[cpu], wait_sipi);
}

uint64_t irqchip_next_deadline(struct irqchip *c, int cpu)
{
    struct lapic_now now = lapic_now(c, cpu);
    uint64_t t = lapic_next_deadline(&c->lapic[cpu], &now);

    if (cpu == 0) {
        uint64_t pit = pit_next_event(&c->pit);

        t = pit < t ? pit : t;
    }
    return t;
}

/* After a LAPIC write, with its lock released: the IPI and the IOAPIC EOI
 * it asked for, and a wake-up for the writer (TPR, EOI, timer changes). */
static void apply(struct irqchip *c, int cpu, const struct lapic_effects *fx)
{
    if (fx->eoi_vector >= 0)
        ioapic_eoi(&c->ioapic, (uint8_t)fx->eoi_vector);
    if (fx->send)
        route(c, &fx->msg);
    want_wake(c, cpu);
    flush_wakes(c);
}

uint32_t lapic_mmio_read(struct irqchip *c, int cpu, uint32_t offset)
{
    struct lapic_now now = lapic_now(c, cpu);

    return lapic_read(&c->lapic[cpu], offset, &now);
}

void lapic_mmio_write(struct irqchip *c, int cpu, uint32_t offset, uint32_t value)
{
    struct lapic_now now = lapic_now(c, cpu);
    struct lapic_effects fx;

    lapic_write(&c->lapic[cpu], offset, value, &now, &fx);
    apply(c, cpu, &fx);
}

int lapic_msr_read(struct irqchip *c, int cpu, uint32_t msr, uint64_t *value)
{
    struct lapic_now now = lapic_now(c, cpu);

    return lapic_rdmsr(&c->lapic[cpu], msr, value, &now);
}

int lapic_msr_write(struct irqchip *c, int cpu, uint32_t msr, uint64_t value)
{
    struct lapic_now now = lapic_now(c, cpu);
    struct lapic_effects fx;
    int r = lapic_wrmsr(&c->lapic[cpu], msr, value, &now, &fx);

    apply(c, cpu, &fx);
    return r;
}

void lapic_set_cr8(struct irqchip *c, int cpu, uint64_t cr8)
{
    lapic_set_tpr(&c->lapic[cpu], (uint8_t)((cr8 & 0xf) << 4));
    want_wake(c, cpu);
    flush_wakes(c);
}

uint64_t lapic_get_cr8(struct irqchip *c, int cpu)
{
    return lapic_get_tpr(&c->lapic[cpu]) >> 4;
}

void lapic_set_base(struct irqchip *c, int cpu, uint64_t base)
{
    lapic_update_base(&c->lapic[cpu], base);
    want_wake(c, cpu);
    flush_wakes(c);
}
