/*
 * One local APIC (SDM Vol. 3A chapter 11): the xAPIC register page, the
 * x2APIC MSRs 0x800-0x8ff, IA32_TSC_DEADLINE, and the state the CPU takes
 * interrupts, NMIs, INIT and SIPI from. Version 0x50014: six LVT entries
 * (timer, thermal, PMC, LINT0, LINT1, error; no CMCI), no EOI-broadcast
 * suppression. The timer counts at LAPIC_BUS_HZ divided by the divide
 * configuration, on the clock_ns time base; TSC-deadline mode compares the
 * caller's TSC with the deadline.
 *
 * A LAPIC knows nothing of the others: writes that need the rest of the
 * system (an ICR send, the EOI of a level-triggered vector) come back as a
 * struct lapic_effects for the caller to carry out after the call.
 *
 * Locking: every function takes l->lock and calls nothing outside. extint_ok
 * can be read without it.
 */
#ifndef VX86_HW_IRQCHIP_LAPIC_H
#define VX86_HW_IRQCHIP_LAPIC_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/irqchip/apic.h"
#include "hw/irqchip/irqchip.h"

#define LAPIC_VERSION 0x50014
#define LAPIC_NR_LVT  6

/* The LVT entries, in register order from 0x320 (SDM Figure 11-8). */
enum { LVT_TIMER, LVT_THERMAL, LVT_PMC, LVT_LINT0, LVT_LINT1, LVT_ERROR };
#define LVT_MASKED        (1u << 16)
#define LVT_TIMER_MODE(v) (((v) >> 17) & 3)

/* IA32_APIC_BASE bits, SDM Vol. 3A §11.4.4. */
#define APIC_BASE_BSP  (1ull << 8)
#define APIC_BASE_EXTD (1ull << 10)
#define APIC_BASE_EN   (1ull << 11)

#define MSR_IA32_TSC_DEADLINE 0x6e0
#define MSR_X2APIC_FIRST      0x800
#define MSR_X2APIC_LAST       0x8ff

/* lapic_intr: the interrupt comes from the 8259A through LINT0 (or an
 * ExtINT message); run its INTA cycle. */
#define LAPIC_INTR_EXTINT 256

struct lapic_now {
    uint64_t ns;  /* clock_ns */
    uint64_t tsc; /* the CPU's TSC at the same moment */
};

struct lapic_effects {
    bool send; /* msg is an IPI to deliver */
    struct apic_msg msg;
    int eoi_vector; /* a level-triggered vector was EOIed: tell the IOAPIC; else -1 */
};

struct lapic {
    pthread_mutex_t lock;
    int index;
    uint64_t tsc_hz;
    uint64_t base; /* IA32_APIC_BASE as the CPU holds it */
    uint32_t id;   /* xAPIC: 8 bits (register bits 31:24); x2APIC: 32 bits */
    uint32_t tpr, ldr, dfr, svr, esr, esr_pending;
    uint32_t icr_lo, icr_hi;
    uint32_t lvt[LAPIC_NR_LVT]; /* timer, thermal, PMC, LINT0, LINT1, error */
    uint32_t irr[8], isr[8], tmr[8];
    uint32_t timer_initial, dcr;
    uint64_t timer_start_ns; /* when the current count was the initial count */
    uint64_t timer_next_ns;  /* next expiry while timer_armed */
    bool timer_armed;
    bool timer_done; /* a one-shot count reached 0: stopped until TMICT is written */
    uint64_t tsc_deadline;
    /* NMIs delivered and not yet taken, at most 2: two from different
     * sources may arrive before the CPU takes either (KVM counts so too). */
    uint8_t nmi_pending;
    bool init_pending, sipi_pending, extint_pending;
    bool wait_sipi; /* after INIT (or as an AP at power-on): only SIPI starts it */
    uint8_t sipi_vector;
    /* LINT0 takes the 8259A's INT: LVT LINT0 unmasked ExtINT, or the APIC
     * hardware-disabled (the INTR pin then goes straight to the CPU). */
    atomic_bool extint_ok;
};

/* Power-on state: APIC ID index, xAPIC enabled at 0xfee00000, CPU 0 the BSP
 * with LINT0 in ExtINT mode (virtual wire, as firmware leaves it and as
 * KVM's LINT0 quirk does), the others waiting for SIPI. */
void lapic_init(struct lapic *l, int index, uint64_t tsc_hz);
void lapic_destroy(struct lapic *l);

/* IA32_APIC_BASE was written (or reset): EN and EXTD select disabled, xAPIC
 * or x2APIC mode; leaving the disabled state resets the APIC. */
void lapic_update_base(struct lapic *l, uint64_t base);

bool lapic_x2apic(const struct lapic *l);

/* xAPIC page access, offset in the 4 KiB page (dword-aligned registers).
 * Outside xAPIC mode reads give all ones and writes are dropped. */
uint32_t lapic_read(struct lapic *l, uint32_t offset, const struct lapic_now *now);
void lapic_write(struct lapic *l, uint32_t offset, uint32_t value, const struct lapic_now *now,
                 struct lapic_effects *fx);

/* x2APIC MSRs and IA32_TSC_DEADLINE; return -1 for #GP. */
int lapic_rdmsr(struct lapic *l, uint32_t msr, uint64_t *value, const struct lapic_now *now);
int lapic_wrmsr(struct lapic *l, uint32_t msr, uint64_t value, const struct lapic_now *now,
                struct lapic_effects *fx);

void lapic_set_tpr(struct lapic *l, uint8_t tpr);
uint8_t lapic_get_tpr(struct lapic *l);

/* Does m's destination (shorthands aside) name this APIC? */
bool lapic_match(struct lapic *l, const struct apic_msg *m);
/* Processor priority, for lowest-priority arbitration. */
uint8_t lapic_ppr(struct lapic *l);
/* Takes message m; returns whether it was accepted. */
bool lapic_accept(struct lapic *l, const struct apic_msg *m);

/* Fires expired timers; returns whether an interrupt was raised. */
bool lapic_service(struct lapic *l, const struct lapic_now *now);
/* clock_ns time of the next timer expiry, or UINT64_MAX. */
uint64_t lapic_next_deadline(struct lapic *l, const struct lapic_now *now);

/* The maskable interrupt to take now: a vector, LAPIC_INTR_EXTINT, or -1.
 * pic_int: the 8259A's INT pin. With ack, takes it: the vector moves from
 * IRR to ISR (an ExtINT message is consumed), and with nothing to take the
 * spurious vector is returned (or LAPIC_INTR_EXTINT where LINT0 takes the
 * 8259A, which then gives its own). */
int lapic_intr(struct lapic *l, bool pic_int, bool ack);

int lapic_take_nmi(struct lapic *l);
/* IRQCHIP_INIT (after resetting the APIC as INIT does), IRQCHIP_SIPI with
 * *vector, or 0. */
int lapic_take_startup(struct lapic *l, uint8_t *vector);
/* The APIC as INIT leaves it, nothing pending, waiting for SIPI or not. */
void lapic_init_reset(struct lapic *l, bool wait_sipi);

#endif
