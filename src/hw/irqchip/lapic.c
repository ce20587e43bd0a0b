#include "hw/irqchip/lapic.h"

#include <string.h>

#include "hw/irqchip/irqchip.h"
#include "hw/irqchip/lapic_timer.h"
#include "vm/board.h"

/* Register offsets in the xAPIC page, SDM Vol. 3A Table 11-1; the x2APIC
 * MSR of a register is 0x800 + offset / 16 (Table 11-6). */
enum {
    APIC_ID = 0x20,
    APIC_LVR = 0x30,
    APIC_TPR = 0x80,
    APIC_APR = 0x90,
    APIC_PPR = 0xa0,
    APIC_EOI = 0xb0,
    APIC_LDR = 0xd0,
    APIC_DFR = 0xe0,
    APIC_SVR = 0xf0,
    APIC_ISR = 0x100,
    APIC_TMR = 0x180,
    APIC_IRR = 0x200,
    APIC_ESR = 0x280,
    APIC_ICR = 0x300,
    APIC_ICR2 = 0x310,
    APIC_LVTT = 0x320,
    APIC_LVTERR = 0x370,
    APIC_TMICT = 0x380,
    APIC_TMCCT = 0x390,
    APIC_TDCR = 0x3e0,
    APIC_SELF_IPI = 0x3f0, /* x2APIC only */
};

#define LVT_DM(v) (((v) >> 8) & 7)

/* SDM Figure 11-8: vector, delivery mode, polarity, trigger, mask, timer mode. */
static const uint32_t lvt_writable[LAPIC_NR_LVT] = {
    [LVT_TIMER] = 0x000700ff, [LVT_THERMAL] = 0x000107ff, [LVT_PMC] = 0x000107ff,
    [LVT_LINT0] = 0x0001a7ff, [LVT_LINT1] = 0x0001a7ff,   [LVT_ERROR] = 0x000100ff,
};

#define SVR_ENABLE   (1u << 8)
#define SVR_WRITABLE 0x3ff /* vector, APIC enable, focus processor checking */

/* ESR bits, SDM Figure 11-9. */
#define ESR_SEND_ILLEGAL (1u << 5)
#define ESR_RECV_ILLEGAL (1u << 6)

/* ICR low dword, SDM Figure 11-12; delivery status (bit 12) always reads idle. */
#define ICR_LOGICAL  (1u << 11)
#define ICR_ASSERT   (1u << 14)
#define ICR_LEVEL    (1u << 15)
#define ICR_SH_SHIFT 18
#define ICR_WRITABLE 0x000ccfff

static bool hw_enabled(const struct lapic *l)
{
    return l->base & APIC_BASE_EN;
}

bool lapic_x2apic(const struct lapic *l)
{
    return (l->base & (APIC_BASE_EN | APIC_BASE_EXTD)) == (APIC_BASE_EN | APIC_BASE_EXTD);
}

static bool sw_enabled(const struct lapic *l)
{
    return l->svr & SVR_ENABLE;
}

static int highest(const uint32_t *bits)
{
    for (int i = 7; i >= 0; i--)
        if (bits[i])
            return i * 32 + 31 - __builtin_clz(bits[i]);
    return -1;
}

static void set_bit(uint32_t *bits, int v)
{
    bits[v >> 5] |= 1u << (v & 31);
}

static void clear_bit(uint32_t *bits, int v)
{
    bits[v >> 5] &= ~(1u << (v & 31));
}

static bool test_bit(const uint32_t *bits, int v)
{
    return bits[v >> 5] & (1u << (v & 31));
}

/* SDM §11.8.3.1. */
static uint32_t ppr(const struct lapic *l)
{
    int isrv = highest(l->isr);
    uint32_t isr_class = isrv < 0 ? 0 : (uint32_t)isrv & 0xf0;

    return (l->tpr & 0xf0) >= isr_class ? l->tpr : isr_class;
}

/* SDM §11.6.2.4 (P6 family arbitration priority). */
static uint32_t apr(const struct lapic *l)
{
    int irrv = highest(l->irr), isrv = highest(l->isr);
    uint32_t tpr = l->tpr & 0xf0, irr = irrv < 0 ? 0 : irrv & 0xf0,
             isr = isrv < 0 ? 0 : isrv & 0xf0;

    if (tpr >= irr && tpr > isr)
        return l->tpr;
    return tpr > irr ? (tpr > isr ? tpr : isr) : (irr > isr ? irr : isr);
}

static uint32_t x2apic_ldr(uint32_t id)
{
    return (id >> 4) << 16 | 1u << (id & 0xf);
}

static void update_extint(struct lapic *l)
{
    uint32_t lint0 = l->lvt[LVT_LINT0];

    atomic_store(&l->extint_ok,
                 !hw_enabled(l) || (!(lint0 & LVT_MASKED) && LVT_DM(lint0) == APIC_DM_EXTINT));
}

/* The state after INIT or power-on, but for the APIC ID and base (SDM §11.4.7.3). */
static void reset(struct lapic *l)
{
    memset(l->irr, 0, sizeof(l->irr));
    memset(l->isr, 0, sizeof(l->isr));
    memset(l->tmr, 0, sizeof(l->tmr));
    l->tpr = 0;
    l->ldr = lapic_x2apic(l) ? x2apic_ldr(l->id) : 0;
    l->dfr = 0xffffffff;
    l->svr = 0xff;
    l->esr = l->esr_pending = 0;
    l->icr_lo = l->icr_hi = 0;
    for (int i = 0; i < LAPIC_NR_LVT; i++)
        l->lvt[i] = LVT_MASKED;
    if (l->index == 0)
        l->lvt[LVT_LINT0] = APIC_DM_EXTINT << 8;
    lapic_timer_reset(l);
    l->nmi_pending = 0;
    l->init_pending = l->sipi_pending = l->extint_pending = false;
    update_extint(l);
}

void lapic_init(struct lapic *l, int index, uint64_t tsc_hz)
{
    memset(l, 0, sizeof(*l));
    pthread_mutex_init(&l->lock, NULL);
    l->index = index;
    l->tsc_hz = tsc_hz;
    l->id = (uint32_t)index;
    l->base = BOARD_LAPIC_BASE | APIC_BASE_EN | (index == 0 ? APIC_BASE_BSP : 0);
    reset(l);
    l->wait_sipi = index != 0;
}

void lapic_destroy(struct lapic *l)
{
    pthread_mutex_destroy(&l->lock);
}

void lapic_update_base(struct lapic *l, uint64_t base)
{
    bool was_en, was_x2;

    pthread_mutex_lock(&l->lock);
    was_en = hw_enabled(l);
    was_x2 = lapic_x2apic(l);
    l->base = base;
    if (hw_enabled(l) && (!was_en || (was_x2 && !lapic_x2apic(l)))) {
        /* Enabled again, or x2APIC back to xAPIC (which only goes through
         * disabled on real CPUs): the power-up state (SDM §11.4.3). */
        l->id = (uint32_t)l->index;
        reset(l);
    } else if (lapic_x2apic(l) && !was_x2) {
        l->id = (uint32_t)l->index; /* the x2APIC ID is the initial APIC ID */
        l->ldr = x2apic_ldr(l->id);
    }
    update_extint(l);
    pthread_mutex_unlock(&l->lock);
}

static void raise_error(struct lapic *l, uint32_t bits);

/* An interrupt into IRR; vectors 0-15 are illegal (SDM §11.5.3). */
static void take_fixed(struct lapic *l, int vector, bool level)
{
    if (vector < 16) {
        raise_error(l, ESR_RECV_ILLEGAL);
        return;
    }
    set_bit(l->irr, vector);
    if (level)
        set_bit(l->tmr, vector);
    else
        clear_bit(l->tmr, vector);
}

static void raise_error(struct lapic *l, uint32_t bits)
{
    uint32_t lvt = l->lvt[LVT_ERROR];

    l->esr_pending |= bits;
    if (!(lvt & LVT_MASKED) && (lvt & 0xff) >= 16)
        take_fixed(l, lvt & 0xff, false);
}

static bool timer_fire(struct lapic *l)
{
    uint32_t lvt = l->lvt[LVT_TIMER];

    if (lvt & LVT_MASKED)
        return false;
    take_fixed(l, lvt & 0xff, false);
    return true;
}

static bool service(struct lapic *l, const struct lapic_now *now)
{
    return lapic_timer_expired(l, now) && timer_fire(l);
}

static void write_lvt(struct lapic *l, int i, uint32_t v, uint64_t now)
{
    uint32_t old = l->lvt[i];

    v &= lvt_writable[i];
    if (!sw_enabled(l))
        v |= LVT_MASKED; /* SDM §11.4.7.2 */
    l->lvt[i] = v;
    if (i == LVT_TIMER && LVT_TIMER_MODE(old) != LVT_TIMER_MODE(v))
        lapic_timer_mode_changed(l, LVT_TIMER_MODE(old), now);
    if (i == LVT_LINT0)
        update_extint(l);
}

static void eoi(struct lapic *l, struct lapic_effects *fx)
{
    int v = highest(l->isr);

    if (v < 0)
        return;
    clear_bit(l->isr, v);
    if (test_bit(l->tmr, v))
        fx->eoi_vector = v;
}

static void send(struct lapic *l, struct lapic_effects *fx)
{
    uint32_t lo = l->icr_lo;
    struct apic_msg m = {.dest = lapic_x2apic(l) ? l->icr_hi : l->icr_hi >> 24,
                         .vector = lo & 0xff,
                         .mode = (lo >> 8) & 7,
                         .shorthand = (lo >> ICR_SH_SHIFT) & 3,
                         .logical = lo & ICR_LOGICAL,
                         .level = lo & ICR_LEVEL,
                         .assert = lo & ICR_ASSERT,
                         .x2apic = lapic_x2apic(l),
                         .src = l->index};

    if ((m.mode == APIC_DM_FIXED || m.mode == APIC_DM_LOWEST) && m.vector < 16) {
        raise_error(l, ESR_SEND_ILLEGAL);
        return;
    }
    fx->send = true;
    fx->msg = m;
}

static uint32_t read_reg(struct lapic *l, uint32_t off, uint64_t now)
{
    switch (off) {
    case APIC_ID:
        return lapic_x2apic(l) ? l->id : l->id << 24;
    case APIC_LVR:
        return LAPIC_VERSION;
    case APIC_TPR:
        return l->tpr;
    case APIC_APR:
        return apr(l);
    case APIC_PPR:
        return ppr(l);
    case APIC_LDR:
        return l->ldr;
    case APIC_DFR:
        return l->dfr;
    case APIC_SVR:
        return l->svr;
    case APIC_ESR:
        return l->esr;
    case APIC_ICR:
        return l->icr_lo;
    case APIC_ICR2:
        return l->icr_hi;
    case APIC_TMICT:
        return l->timer_initial;
    case APIC_TMCCT:
        return lapic_timer_count(l, now);
    case APIC_TDCR:
        return l->dcr;
    }
    if (off >= APIC_ISR && off < APIC_ISR + 0x80)
        return l->isr[(off - APIC_ISR) >> 4];
    if (off >= APIC_TMR && off < APIC_TMR + 0x80)
        return l->tmr[(off - APIC_TMR) >> 4];
    if (off >= APIC_IRR && off < APIC_IRR + 0x80)
        return l->irr[(off - APIC_IRR) >> 4];
    if (off >= APIC_LVTT && off <= APIC_LVTERR)
        return l->lvt[(off - APIC_LVTT) >> 4];
    return 0;
}

static void write_reg(struct lapic *l, uint32_t off, uint32_t v, uint64_t now,
                      struct lapic_effects *fx)
{
    switch (off) {
    case APIC_ID:
        if (!lapic_x2apic(l))
            l->id = v >> 24;
        break;
    case APIC_TPR:
        l->tpr = v & 0xff;
        break;
    case APIC_EOI:
        eoi(l, fx);
        break;
    case APIC_LDR:
        if (!lapic_x2apic(l))
            l->ldr = v & 0xff000000;
        break;
    case APIC_DFR:
        if (!lapic_x2apic(l))
            l->dfr = v | 0x0fffffff;
        break;
    case APIC_SVR:
        l->svr = v & SVR_WRITABLE;
        if (!sw_enabled(l)) {
            for (int i = 0; i < LAPIC_NR_LVT; i++)
                l->lvt[i] |= LVT_MASKED;
            update_extint(l);
        }
        break;
    case APIC_ESR: /* a write makes the errors since the last one readable */
        l->esr = l->esr_pending;
        l->esr_pending = 0;
        break;
    case APIC_ICR:
        l->icr_lo = v & ICR_WRITABLE;
        send(l, fx);
        break;
    case APIC_ICR2:
        l->icr_hi = lapic_x2apic(l) ? v : v & 0xff000000;
        break;
    case APIC_TMICT:
        lapic_timer_start(l, v, now);
        break;
    case APIC_TDCR:
        lapic_timer_set_dcr(l, v, now);
        break;
    case APIC_SELF_IPI:
        take_fixed(l, v & 0xff, false);
        break;
    default:
        if (off >= APIC_LVTT && off <= APIC_LVTERR)
            write_lvt(l, (off - APIC_LVTT) >> 4, v, now);
        break;
    }
}

uint32_t lapic_read(struct lapic *l, uint32_t offset, const struct lapic_now *now)
{
    uint32_t v = 0xffffffff;

    pthread_mutex_lock(&l->lock);
    if (hw_enabled(l) && !lapic_x2apic(l))
        v = (offset & 0xf) || offset >= APIC_SELF_IPI ? 0 : read_reg(l, offset, now->ns);
    pthread_mutex_unlock(&l->lock);
    return v;
}

void lapic_write(struct lapic *l, uint32_t offset, uint32_t value, const struct lapic_now *now,
                 struct lapic_effects *fx)
{
    fx->send = false;
    fx->eoi_vector = -1;
    pthread_mutex_lock(&l->lock);
    if (hw_enabled(l) && !lapic_x2apic(l) && !(offset & 0xf) && offset < APIC_SELF_IPI) {
        service(l, now);
        write_reg(l, offset, value, now->ns, fx);
    }
    pthread_mutex_unlock(&l->lock);
}

/* x2APIC MSR access rules, SDM Table 11-6: no APR, DFR or ICR2; EOI and
 * SELF IPI are write-only; ID, version, PPR, LDR, ISR, TMR, IRR and the
 * current count are read-only. A write of reserved bits raises #GP: any
 * bit of EOI or ESR, bits 31:8 of SELF IPI (§11.12.11). */
static bool x2_readable(uint32_t off)
{
    switch (off) {
    case APIC_ID:
    case APIC_LVR:
    case APIC_TPR:
    case APIC_PPR:
    case APIC_LDR:
    case APIC_SVR:
    case APIC_ESR:
    case APIC_TMICT:
    case APIC_TMCCT:
    case APIC_TDCR:
        return true;
    }
    return (off >= APIC_ISR && off < APIC_ESR) || (off >= APIC_LVTT && off <= APIC_LVTERR);
}

static bool x2_writable(uint32_t off)
{
    switch (off) {
    case APIC_TPR:
    case APIC_EOI:
    case APIC_SVR:
    case APIC_ESR:
    case APIC_TMICT:
    case APIC_TDCR:
    case APIC_SELF_IPI:
        return true;
    }
    return off >= APIC_LVTT && off <= APIC_LVTERR;
}

static bool x2_msr(const struct lapic *l, uint32_t msr)
{
    return lapic_x2apic(l) && msr >= MSR_X2APIC_FIRST && msr <= MSR_X2APIC_LAST;
}

int lapic_rdmsr(struct lapic *l, uint32_t msr, uint64_t *value, const struct lapic_now *now)
{
    uint32_t off = (msr - MSR_X2APIC_FIRST) << 4;
    int r = 0;

    pthread_mutex_lock(&l->lock);
    if (msr == MSR_IA32_TSC_DEADLINE)
        *value = hw_enabled(l) && lapic_timer_mode(l) == TIMER_TSC_DEADLINE ? l->tsc_deadline : 0;
    else if (x2_msr(l, msr) && off == APIC_ICR)
        *value = (uint64_t)l->icr_hi << 32 | l->icr_lo;
    else if (x2_msr(l, msr) && x2_readable(off))
        *value = read_reg(l, off, now->ns);
    else
        r = -1;
    pthread_mutex_unlock(&l->lock);
    return r;
}

int lapic_wrmsr(struct lapic *l, uint32_t msr, uint64_t value, const struct lapic_now *now,
                struct lapic_effects *fx)
{
    uint32_t off = (msr - MSR_X2APIC_FIRST) << 4;
    int r = 0;

    fx->send = false;
    fx->eoi_vector = -1;
    pthread_mutex_lock(&l->lock);
    service(l, now);
    if (msr == MSR_IA32_TSC_DEADLINE) {
        /* Ignored outside TSC-deadline mode (SDM §11.5.4.1). */
        if (hw_enabled(l) && lapic_timer_mode(l) == TIMER_TSC_DEADLINE)
            l->tsc_deadline = value;
    } else if (x2_msr(l, msr) && off == APIC_ICR) {
        l->icr_hi = (uint32_t)(value >> 32);
        l->icr_lo = (uint32_t)value & ICR_WRITABLE;
        send(l, fx);
    } else if (x2_msr(l, msr) && x2_writable(off) && !(value >> 32) &&
               !((off == APIC_EOI || off == APIC_ESR) && value) &&
               !(off == APIC_SELF_IPI && (value & ~0xffULL))) {
        write_reg(l, off, (uint32_t)value, now->ns, fx);
    } else {
        r = -1;
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

void lapic_set_tpr(struct lapic *l, uint8_t tpr)
{
    pthread_mutex_lock(&l->lock);
    l->tpr = tpr;
    pthread_mutex_unlock(&l->lock);
}

uint8_t lapic_get_tpr(struct lapic *l)
{
    uint8_t tpr;

    pthread_mutex_lock(&l->lock);
    tpr = (uint8_t)l->tpr;
    pthread_mutex_unlock(&l->lock);
    return tpr;
}

/* SDM §11.6.2: physical, flat and cluster logical, and x2APIC cluster destinations. */
static bool match(const struct lapic *l, const struct apic_msg *m)
{
    uint32_t d = m->dest, ldr;

    if (!hw_enabled(l))
        return false;
    if (m->x2apic ? d == 0xffffffff : (d & 0xff) == 0xff)
        return true;
    if (!m->logical)
        return lapic_x2apic(l) ? d == l->id : (d & 0xff) == (l->id & 0xff);
    if (lapic_x2apic(l))
        return (d >> 16) == (l->ldr >> 16) && (d & l->ldr & 0xffff);
    d &= 0xff;
    ldr = l->ldr >> 24;
    if ((l->dfr >> 28) == 0xf)
        return d & ldr;
    return ((d >> 4) == (ldr >> 4) || (d >> 4) == 0xf) && (d & ldr & 0xf);
}

bool lapic_match(struct lapic *l, const struct apic_msg *m)
{
    bool hit;

    pthread_mutex_lock(&l->lock);
    hit = match(l, m);
    pthread_mutex_unlock(&l->lock);
    return hit;
}

uint8_t lapic_ppr(struct lapic *l)
{
    uint8_t v;

    pthread_mutex_lock(&l->lock);
    v = (uint8_t)ppr(l);
    pthread_mutex_unlock(&l->lock);
    return v;
}

bool lapic_accept(struct lapic *l, const struct apic_msg *m)
{
    bool ok = false;

    pthread_mutex_lock(&l->lock);
    if (!hw_enabled(l))
        goto out;
    switch (m->mode) {
    case APIC_DM_FIXED:
    case APIC_DM_LOWEST:
        /* A software-disabled APIC takes no new interrupts (§11.4.7.2). */
        if (sw_enabled(l)) {
            take_fixed(l, m->vector, m->level);
            ok = true;
        }
        break;
    case APIC_DM_NMI:
        if (l->nmi_pending < 2)
            l->nmi_pending++;
        ok = true;
        break;
    case APIC_DM_INIT:
        /* INIT level de-assert only resynchronized arbitration IDs on P6. */
        if (m->level && !m->assert)
            break;
        ok = l->init_pending = true;
        break;
    case APIC_DM_STARTUP:
        /* A SIPI is taken only in (or on the way to) wait-for-SIPI (§8.4.4). */
        if (l->wait_sipi || l->init_pending) {
            l->sipi_pending = true;
            l->sipi_vector = m->vector;
            ok = true;
        }
        break;
    case APIC_DM_EXTINT:
        ok = l->extint_pending = true;
        break;
    default: /* SMI: no SMM */
        break;
    }
out:
    pthread_mutex_unlock(&l->lock);
    return ok;
}

bool lapic_service(struct lapic *l, const struct lapic_now *now)
{
    bool fired;

    pthread_mutex_lock(&l->lock);
    fired = service(l, now);
    pthread_mutex_unlock(&l->lock);
    return fired;
}

uint64_t lapic_next_deadline(struct lapic *l, const struct lapic_now *now)
{
    uint64_t t;

    pthread_mutex_lock(&l->lock);
    t = lapic_timer_deadline(l, now);
    pthread_mutex_unlock(&l->lock);
    return t;
}

int lapic_intr(struct lapic *l, bool pic_int, bool ack)
{
    int r;

    pthread_mutex_lock(&l->lock);
    if (l->extint_pending || (pic_int && atomic_load(&l->extint_ok))) {
        /* ExtINT goes before the APIC's own interrupts and ignores TPR, as in KVM. */
        if (ack)
            l->extint_pending = false;
        r = LAPIC_INTR_EXTINT;
    } else {
        int v = hw_enabled(l) ? highest(l->irr) : -1;

        if (v >= 0 && (uint32_t)(v & 0xf0) > (ppr(l) & 0xf0)) {
            r = v;
            if (ack) {
                clear_bit(l->irr, v);
                set_bit(l->isr, v);
            }
        } else if (!ack) {
            r = -1;
        } else if (atomic_load(&l->extint_ok)) {
            r = LAPIC_INTR_EXTINT; /* the 8259A's INT went away: it gives IRQ7 */
        } else {
            r = (int)(l->svr & 0xff); /* withdrawn before INTA (§11.9) */
        }
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}

int lapic_take_nmi(struct lapic *l)
{
    int nmi;

    pthread_mutex_lock(&l->lock);
    nmi = l->nmi_pending;
    l->nmi_pending = 0;
    pthread_mutex_unlock(&l->lock);
    return nmi;
}

void lapic_init_reset(struct lapic *l, bool wait_sipi)
{
    pthread_mutex_lock(&l->lock);
    reset(l);
    l->wait_sipi = wait_sipi;
    pthread_mutex_unlock(&l->lock);
}

int lapic_take_startup(struct lapic *l, uint8_t *vector)
{
    int r = 0;

    pthread_mutex_lock(&l->lock);
    if (l->init_pending) {
        /* A SIPI that came after the INIT survives the reset. */
        bool sipi = l->sipi_pending;
        uint8_t sipi_vector = l->sipi_vector;

        reset(l);
        l->wait_sipi = true;
        l->sipi_pending = sipi;
        l->sipi_vector = sipi_vector;
        r = IRQCHIP_INIT;
    } else if (l->sipi_pending) {
        l->sipi_pending = false;
        l->wait_sipi = false;
        *vector = l->sipi_vector;
        r = IRQCHIP_SIPI;
    }
    pthread_mutex_unlock(&l->lock);
    return r;
}
