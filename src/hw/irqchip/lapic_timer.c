#include "hw/irqchip/lapic_timer.h"

#define NS_PER_S 1000000000ull

int lapic_timer_mode(const struct lapic *l)
{
    return LVT_TIMER_MODE(l->lvt[LVT_TIMER]);
}

void lapic_timer_reset(struct lapic *l)
{
    l->timer_initial = l->dcr = 0;
    l->timer_armed = l->timer_done = false;
    l->tsc_deadline = 0;
}

/* Divide configuration bits 3, 1:0: 0b111 is 1, else 2 << value (Figure 11-10). */
static uint32_t divisor(const struct lapic *l)
{
    uint32_t v = (l->dcr & 3) | (l->dcr & 8) >> 1;

    return 1u << ((v + 1) & 7);
}

static uint64_t ticks_to_ns(uint64_t ticks, uint32_t div)
{
    unsigned __int128 ns = (unsigned __int128)ticks * div * NS_PER_S / LAPIC_BUS_HZ;

    return ns > UINT64_MAX ? UINT64_MAX : ns ? (uint64_t)ns : 1;
}

static uint64_t ns_to_ticks(uint64_t ns, uint32_t div)
{
    return (uint64_t)((unsigned __int128)ns * LAPIC_BUS_HZ / ((unsigned __int128)NS_PER_S * div));
}

static bool counting(const struct lapic *l)
{
    return l->timer_initial && !l->timer_done && lapic_timer_mode(l) != TIMER_TSC_DEADLINE;
}

/* Recomputes the next expiry from timer_start_ns. */
static void rearm(struct lapic *l, uint64_t now)
{
    uint64_t period, elapsed;

    if (!counting(l)) {
        l->timer_armed = false;
        return;
    }
    period = ticks_to_ns(l->timer_initial, divisor(l));
    elapsed = now > l->timer_start_ns ? now - l->timer_start_ns : 0;
    if (lapic_timer_mode(l) == TIMER_PERIODIC) {
        l->timer_armed = true;
        l->timer_next_ns = l->timer_start_ns + (elapsed / period + 1) * period;
    } else {
        l->timer_armed = elapsed < period;
        l->timer_next_ns = l->timer_start_ns + period;
    }
}

void lapic_timer_start(struct lapic *l, uint32_t initial, uint64_t now)
{
    /* The initial count does nothing in TSC-deadline mode (§11.5.4.1). */
    if (lapic_timer_mode(l) == TIMER_TSC_DEADLINE)
        return;
    l->timer_initial = initial;
    l->timer_start_ns = now;
    l->timer_done = false;
    rearm(l, now);
}

void lapic_timer_set_dcr(struct lapic *l, uint32_t dcr, uint64_t now)
{
    uint32_t left = lapic_timer_count(l, now);
    uint64_t done;

    l->dcr = dcr & 0xb;
    if (!counting(l))
        return;
    /* Go on from the current count at the new rate. */
    done = ticks_to_ns(l->timer_initial - left, divisor(l));
    l->timer_start_ns = now > done ? now - done : 0;
    rearm(l, now);
}

void lapic_timer_mode_changed(struct lapic *l, int old_mode, uint64_t now)
{
    /* A one-shot count that reached 0 stays there when the mode changes to
     * periodic: only a write of the initial count starts the timer again
     * (as KVM's, which kvm-unit-tests' apic test checks). */
    if (old_mode == TIMER_ONESHOT && counting(l) && now >= l->timer_start_ns &&
        now - l->timer_start_ns >= ticks_to_ns(l->timer_initial, divisor(l)))
        l->timer_done = true;
    /* Entering or leaving TSC-deadline mode disarms the timer (§11.5.4.1). */
    if ((old_mode == TIMER_TSC_DEADLINE) != (lapic_timer_mode(l) == TIMER_TSC_DEADLINE))
        l->timer_initial = 0, l->tsc_deadline = 0;
    rearm(l, now);
}

uint32_t lapic_timer_count(const struct lapic *l, uint64_t now)
{
    uint64_t ticks;

    if (!counting(l))
        return 0;
    ticks = ns_to_ticks(now > l->timer_start_ns ? now - l->timer_start_ns : 0, divisor(l));
    if (lapic_timer_mode(l) == TIMER_PERIODIC)
        return l->timer_initial - (uint32_t)(ticks % l->timer_initial);
    return ticks >= l->timer_initial ? 0 : l->timer_initial - (uint32_t)ticks;
}

bool lapic_timer_expired(struct lapic *l, const struct lapic_now *now)
{
    if (lapic_timer_mode(l) == TIMER_TSC_DEADLINE) {
        if (!l->tsc_deadline || now->tsc < l->tsc_deadline)
            return false;
        l->tsc_deadline = 0;
        return true;
    }
    if (!l->timer_armed || now->ns < l->timer_next_ns)
        return false;
    rearm(l, now->ns);
    return true;
}

uint64_t lapic_timer_deadline(const struct lapic *l, const struct lapic_now *now)
{
    unsigned __int128 dt;

    if (lapic_timer_mode(l) != TIMER_TSC_DEADLINE)
        return l->timer_armed ? l->timer_next_ns : UINT64_MAX;
    if (!l->tsc_deadline)
        return UINT64_MAX;
    if (now->tsc >= l->tsc_deadline || !l->tsc_hz)
        return l->tsc_hz ? now->ns : UINT64_MAX;
    dt = ((unsigned __int128)(l->tsc_deadline - now->tsc) * NS_PER_S + l->tsc_hz - 1) / l->tsc_hz;
    return dt < UINT64_MAX - now->ns ? now->ns + (uint64_t)dt : UINT64_MAX;
}
