#include "hw/irqchip/ioapic.h"

#include <string.h>

/* Bits the guest can write; delivery status and Remote IRR are read-only.
 * With an IOMMU, bits 55:48 too: a VT-d remappable entry keeps its format
 * bit and interrupt index there (VT-d §5.1.5.1). */
#define RTE_REMAP_BITS 0x00ff000000000000ull
#define RTE_WRITABLE                                                                               \
    (0xff00000000000000ull | IOAPIC_RTE_MASKED | IOAPIC_RTE_LEVEL | IOAPIC_RTE_POLARITY |          \
     IOAPIC_RTE_LOGICAL | 0x7ffull)

/* Entry e as the MSI the IOAPIC sends through an IOMMU, remapped into m
 * (SDM Vol. 3A §11.11 for the compatibility format, VT-d §5.1.5.1 for the
 * remappable one). false: the IOMMU dropped it. */
static bool remap(struct ioapic *a, uint64_t e, struct apic_msg *m)
{
    uint64_t addr = 0xfee00000ull;
    uint32_t data = (uint32_t)(e & IOAPIC_RTE_VECTOR) | (e & IOAPIC_RTE_LEVEL ? 0xc000u : 0);

    if (e & IOAPIC_RTE_REMAPPABLE)
        addr |= (e >> 49 & 0x7fff) << 5 | 1u << 4 | (e >> 11 & 1) << 2;
    else
        addr |= (e >> IOAPIC_RTE_DEST_SHIFT) << 12 | (e & IOAPIC_RTE_LOGICAL ? 4 : 0),
            data |= (uint32_t)(e >> IOAPIC_RTE_DM_SHIFT & 7) << 8;
    if (a->remap(a->remap_opaque, &addr, &data) || (addr >> 20) != 0xfee)
        return false;
    *m = (struct apic_msg){.dest = (uint32_t)(addr >> 12) & 0xff,
                           .vector = (uint8_t)data,
                           .mode = (data >> 8) & 7,
                           .logical = addr & 4,
                           .level = data & 0x8000,
                           .assert = true,
                           .src = -1};
    return true;
}

static void service(struct ioapic *a, int pin)
{
    uint64_t e = a->rte[pin];
    struct apic_msg m;

    if ((e & IOAPIC_RTE_MASKED) || !(a->lines & (1u << pin)))
        return;
    if ((e & IOAPIC_RTE_LEVEL) && (e & IOAPIC_RTE_REMOTE))
        return;
    m = (struct apic_msg){.dest = (uint32_t)(e >> IOAPIC_RTE_DEST_SHIFT),
                          .vector = (uint8_t)(e & IOAPIC_RTE_VECTOR),
                          .mode = (e >> IOAPIC_RTE_DM_SHIFT) & 7,
                          .logical = e & IOAPIC_RTE_LOGICAL,
                          .level = e & IOAPIC_RTE_LEVEL,
                          .assert = true,
                          .src = -1};
    if (a->remap && !remap(a, e, &m))
        return;
    /* Remote IRR is set when a LAPIC accepts a level-triggered fixed or
     * lowest-priority interrupt, and cleared by its EOI (§3.2.4, bit 14). */
    if (a->deliver(a->opaque, &m) > 0 && m.level &&
        (m.mode == APIC_DM_FIXED || m.mode == APIC_DM_LOWEST))
        a->rte[pin] |= IOAPIC_RTE_REMOTE;
}

void ioapic_init(struct ioapic *a, int (*deliver)(void *opaque, const struct apic_msg *m),
                 void *opaque)
{
    memset(a, 0, sizeof(*a));
    pthread_mutex_init(&a->lock, NULL);
    for (int i = 0; i < IOAPIC_PINS; i++)
        a->rte[i] = IOAPIC_RTE_MASKED;
    a->deliver = deliver;
    a->opaque = opaque;
}

void ioapic_destroy(struct ioapic *a)
{
    pthread_mutex_destroy(&a->lock);
}

void ioapic_set_irq(struct ioapic *a, int pin, int level)
{
    uint32_t bit = 1u << pin;
    bool rising;

    if (pin < 0 || pin >= IOAPIC_PINS)
        return;
    pthread_mutex_lock(&a->lock);
    rising = level && !(a->lines & bit);
    if (level)
        a->lines |= bit;
    else
        a->lines &= ~bit;
    if (rising || (level && (a->rte[pin] & IOAPIC_RTE_LEVEL)))
        service(a, pin);
    pthread_mutex_unlock(&a->lock);
}

static uint32_t read_reg(struct ioapic *a, uint32_t index)
{
    int pin;

    switch (index) {
    case IOAPIC_ID:
    case IOAPIC_ARB: /* the arbitration ID is loaded from the ID */
        return (uint32_t)a->id << 24;
    case IOAPIC_VER:
        return (IOAPIC_PINS - 1) << 16 | IOAPIC_VERSION;
    }
    if (index < IOAPIC_REDTBL || index >= IOAPIC_REDTBL + 2 * IOAPIC_PINS)
        return 0;
    pin = (index - IOAPIC_REDTBL) / 2;
    return (uint32_t)(a->rte[pin] >> (index & 1 ? 32 : 0));
}

static void write_reg(struct ioapic *a, uint32_t index, uint32_t value)
{
    uint64_t e, v;
    int pin;

    if (index == IOAPIC_ID) {
        a->id = (value >> 24) & 0xf;
        return;
    }
    if (index < IOAPIC_REDTBL || index >= IOAPIC_REDTBL + 2 * IOAPIC_PINS)
        return;
    pin = (index - IOAPIC_REDTBL) / 2;
    e = a->rte[pin];
    if (index & 1)
        v = (e & 0xffffffffull) | (uint64_t)value << 32;
    else
        v = (e & ~0xffffffffull) | value;
    e = (v & (RTE_WRITABLE | (a->remap ? RTE_REMAP_BITS : 0))) | (e & IOAPIC_RTE_REMOTE);
    /* Switching a pin to edge clears Remote IRR; old Linux EOIs this way. */
    if (!(e & IOAPIC_RTE_LEVEL))
        e &= ~IOAPIC_RTE_REMOTE;
    a->rte[pin] = e;
    if (e & IOAPIC_RTE_LEVEL)
        service(a, pin); /* unmasked while asserted */
}

uint32_t ioapic_read(struct ioapic *a, uint64_t offset)
{
    uint32_t v = 0;

    pthread_mutex_lock(&a->lock);
    if (offset == IOAPIC_REGSEL)
        v = a->regsel;
    else if (offset == IOAPIC_IOWIN)
        v = read_reg(a, a->regsel);
    pthread_mutex_unlock(&a->lock);
    return v;
}

void ioapic_write(struct ioapic *a, uint64_t offset, uint32_t value)
{
    if (offset == IOAPIC_EOI) {
        ioapic_eoi(a, value & 0xff);
        return;
    }
    pthread_mutex_lock(&a->lock);
    if (offset == IOAPIC_REGSEL)
        a->regsel = value & 0xff;
    else if (offset == IOAPIC_IOWIN)
        write_reg(a, a->regsel, value);
    pthread_mutex_unlock(&a->lock);
}

void ioapic_eoi(struct ioapic *a, uint8_t vector)
{
    pthread_mutex_lock(&a->lock);
    for (int pin = 0; pin < IOAPIC_PINS; pin++) {
        uint64_t e = a->rte[pin];

        if (!(e & IOAPIC_RTE_LEVEL) || !(e & IOAPIC_RTE_REMOTE) ||
            (e & IOAPIC_RTE_VECTOR) != vector)
            continue;
        a->rte[pin] = e & ~IOAPIC_RTE_REMOTE;
        service(a, pin);
    }
    pthread_mutex_unlock(&a->lock);
}
