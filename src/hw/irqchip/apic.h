/*
 * The interrupt message that IOAPIC redirection entries and LAPIC ICR
 * writes produce and LAPICs accept (SDM Vol. 3A §11.6.1, Figure 11-12;
 * 82093AA data sheet §3.2.4).
 */
#ifndef VX86_HW_IRQCHIP_APIC_H
#define VX86_HW_IRQCHIP_APIC_H

#include <stdbool.h>
#include <stdint.h>

/* Delivery modes, the ICR's and redirection entries' bits 10:8. */
enum {
    APIC_DM_FIXED = 0,
    APIC_DM_LOWEST = 1,
    APIC_DM_SMI = 2,
    APIC_DM_NMI = 4,
    APIC_DM_INIT = 5,
    APIC_DM_STARTUP = 6,
    APIC_DM_EXTINT = 7,
};

/* Destination shorthands, ICR bits 19:18. */
enum { APIC_DEST_NONE = 0, APIC_DEST_SELF = 1, APIC_DEST_ALL = 2, APIC_DEST_OTHERS = 3 };

struct apic_msg {
    uint32_t dest; /* APIC ID or logical destination: 8 bits, or 32 with x2apic */
    uint8_t vector;
    uint8_t mode; /* APIC_DM_* */
    uint8_t shorthand;
    bool logical;
    bool level;  /* level-triggered: sets the TMR bit, the EOI goes to the IOAPIC */
    bool assert; /* ICR level bit; INIT with level set and assert clear is "de-assert" */
    bool x2apic; /* sent by an x2APIC: dest is 32 bits and 0xffffffff is broadcast */
    int src;     /* the sending CPU for shorthands; -1 from the IOAPIC */
};

#endif
