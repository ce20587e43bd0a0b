/*
 * The APIC timer (SDM Vol. 3A §11.5.4): one-shot and periodic counting at
 * LAPIC_BUS_HZ / divide configuration, and TSC-deadline. Its state lives
 * in struct lapic (timer_*, dcr, tsc_deadline) and its mode in LVT timer
 * bits 18:17. For lapic.c only; every function wants l->lock held.
 */
#ifndef VX86_HW_IRQCHIP_LAPIC_TIMER_H
#define VX86_HW_IRQCHIP_LAPIC_TIMER_H

#include "hw/irqchip/lapic.h"

enum { TIMER_ONESHOT = 0, TIMER_PERIODIC = 1, TIMER_TSC_DEADLINE = 2 };

int lapic_timer_mode(const struct lapic *l);
void lapic_timer_reset(struct lapic *l);

/* Register writes: initial count, divide configuration, and the LVT timer
 * entry having changed mode from old_mode. */
void lapic_timer_start(struct lapic *l, uint32_t initial, uint64_t now);
void lapic_timer_set_dcr(struct lapic *l, uint32_t dcr, uint64_t now);
void lapic_timer_mode_changed(struct lapic *l, int old_mode, uint64_t now);

/* The current count register. */
uint32_t lapic_timer_count(const struct lapic *l, uint64_t now);

/* Whether the timer has expired by now; consumes the expiry (missed
 * periods coalesce into one). */
bool lapic_timer_expired(struct lapic *l, const struct lapic_now *now);

/* clock_ns time of the next expiry, or UINT64_MAX. */
uint64_t lapic_timer_deadline(const struct lapic *l, const struct lapic_now *now);

#endif
