/*
 * LOCK-prefixed read-modify-writes are atomic across processors (SDM Vol. 3A
 * §9.1.2.2), whatever the operand's size and alignment, a split lock across
 * cache lines and pages included (§9.1.2.2: "the integrity of a bus lock is
 * not affected by the alignment of the memory field"); XCHG with memory is
 * locked without the prefix (SDM XCHG).
 *
 * First, on the BSP alone: locked operations whose operand runs into a page
 * that is not present fault (#PF, CR2 there) before they write anything.
 *
 * The BSP finds the processors in the MADT (ACPI 6.5 §5.2.12), starts every
 * AP with INIT and start-up IPIs (SDM Vol. 3A §9.4.4; smp_atomic_ap.S takes
 * it to long mode), and then every processor hammers the same shared cells
 * at the same time, cell by cell, with a barrier before each:
 *
 *  - counters: LOCK ADD/INC/SUB/XADD/ADC/SBB, immediate and register
 *    sources, CMPXCHG loops and, at 8 bytes, CMPXCHG8B loops: every one adds
 *    1, so the total is exact;
 *  - bits: each processor owns one bit of each word of a 4-word array and
 *    sets, clears and flips it with LOCK BTS/BTR/BTC (immediate offsets, one
 *    past the operand size, which the CPU takes modulo the size; register
 *    offsets reaching the words before and after) and LOCK AND/OR/XOR, and
 *    checks the old bit (CF) every time, while a LOCK ADD counts in the
 *    word's upper half;
 *  - bits against adds: on one word, even processors only flip their own
 *    bit with LOCK BTS/BTR/BTC and check CF, odd ones only LOCK ADD to the
 *    upper half;
 *  - flips: LOCK NOT and LOCK XOR/BTC of the processor's own bit, all of
 *    which commute, an even number of each, so the cell ends as it began;
 *    LOCK NEG twice on another;
 *  - exchange: XCHG and LOCK XCHG of a token held in a register, and a LOCK
 *    ADD, on one cell: the tokens plus the cell sum to the start plus the
 *    adds;
 *  - a 16-byte cell: CMPXCHG16B loops adding 1 to both halves, LOCK ADD and
 *    XADD on one half, CMPXCHG8B loops on the other.
 *
 * Every processor runs a cell for a number of rounds and on until all have
 * run that many (more_rounds), so that they overlap even where the host runs the
 * vCPU threads in turns; the totals count the rounds each one ran.
 *
 * Each kind of cell at every operand size is placed aligned, across a cache
 * line, across two pages next to each other in guest-physical memory, and
 * across two pages that are not (a separate mapping). A lost update shows as
 * a wrong total or a wrong CF. Last, all processors at once run XCHG, LOCK
 * OR and LOCK XADD on their local APIC's TPR (MMIO) and check what it reads.
 * With one processor it checks the same sums.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define NCPU_MAX 8 /* each owns one bit of a 16-bit word's low byte */
/* Rounds per cell and processor, at least: fewer where each operation
 * costs more (a host split lock across lines and pages; an exclusive
 * section across unrelated pages). */
#define ITERS         2000
#define ITERS_ALIGNED (ITERS * 8)
#define ITERS_FAR     (ITERS / 8)

#define AP_TRAMP 0x20000 /* smp_atomic_ap.S */
#define LAPIC    0xfee00000ul
#define SPLIT_VA 0x8000000000ull /* PML4 entry 1: nothing else there */

#define LAPIC_ID       0x20
#define LAPIC_TPR      0x80
#define LAPIC_SVR      0xf0
#define LAPIC_ICR_LO   0x300
#define LAPIC_ICR_HI   0x310
#define ICR_INIT       0x4500 /* delivery mode INIT, level assert */
#define ICR_STARTUP    0x4600 /* delivery mode start-up; vector in bits 7:0 */
#define ICR_DELIVERING (1u << 12)

enum { PL_ALIGNED, PL_LINE, PL_PAGE, PL_SPLIT, PL_COUNT };
enum { G_ADD, G_BITS, G_DUEL, G_FLIP, G_NEG, G_XCHG, G_COUNT };
#define SLOTS (G_COUNT * 4)

static const char *const pl_name[PL_COUNT] = {"aligned", "across a cache line",
                                              "across adjacent pages", "across unrelated pages"};

static uint8_t aligned_area[SLOTS * 64] __attribute__((aligned(64)));
static uint8_t line_area[SLOTS * 128] __attribute__((aligned(64)));
static uint8_t page_area[(SLOTS + 1) * 4096] __attribute__((aligned(4096)));
static uint8_t split_frames[(SLOTS + 2) * 4096] __attribute__((aligned(4096)));
static volatile uint64_t cell16[2] __attribute__((aligned(16)));

static int ncpu = 1;
static uint8_t apic_ids[NCPU_MAX];
static volatile int ap_next, ap_alive;
static uint8_t ap_stacks[NCPU_MAX][8192] __attribute__((aligned(16)));
static volatile uint64_t tokens[PL_COUNT][NCPU_MAX][4];
static volatile int bit_errors[NCPU_MAX], tpr_errors[NCPU_MAX];
/* Rounds each processor ran on each cell (more_rounds), and on the 16-byte cell. */
static volatile int rounds[PL_COUNT][G_COUNT][4][NCPU_MAX], rounds16[NCPU_MAX];

extern uint8_t ap_tramp_start[], ap_tramp_end[], ap_tramp_cr3[], ap_tramp_stack[], ap_tramp_entry[];

/* ---- where the cells are ---- */

/* The cell of group g and size index si (1, 2, 4, 8 bytes) at placement pl:
 * a crossing cell has half its bytes on each side of its own boundary. */
static volatile void *cell(int pl, int g, int si)
{
    int slot = g * 4 + si;
    unsigned half = (1u << si) / 2;

    switch (pl) {
    case PL_ALIGNED:
        return aligned_area + slot * 64 + 16;
    case PL_LINE:
        return line_area + slot * 128 + 64 - half;
    case PL_PAGE:
        return page_area + (slot + 1) * 4096 - half;
    default:
        return (uint8_t *)SPLIT_VA + (slot + 1) * 4096 - half;
    }
}

/* SPLIT_VA's pages map to split_frames with each pair swapped (page 2k to
 * frame 2k+1 and back), so no two neighbouring pages are neighbours in
 * guest-physical memory, nor in vx86's host memory. */
static void map_split_pages(void)
{
    uint64_t *pml4 = (uint64_t *)(read_cr3() & PTE_ADDR);

    for (int i = 0; i < SLOTS + 2; i++)
        pgtable_map(pml4, SPLIT_VA + (uint64_t)i * 4096, (uint64_t)&split_frames[(i ^ 1) * 4096],
                    PAGE_4K, PTE_P | PTE_RW);
    write_cr3(read_cr3());
}

/* ---- the processors ---- */

static uint32_t get32(const uint8_t *p)
{
    return p[0] | p[1] << 8 | p[2] << 16 | (uint32_t)p[3] << 24;
}

static int sig_is(const uint8_t *p, const char *sig, int n)
{
    for (int i = 0; i < n; i++)
        if (p[i] != (uint8_t)sig[i])
            return 0;
    return 1;
}

/* The enabled processors' APIC IDs from the MADT, found through the RSDP
 * (ACPI 6.5 §5.2.5.1) and the RSDT; the BSP's first. */
static void find_cpus(void)
{
    const uint8_t *rsdp = 0, *rsdt, *madt = 0;
    uint32_t step = 4;
    uint32_t bsp = *(volatile uint32_t *)(LAPIC + LAPIC_ID) >> 24;

    for (uintptr_t a = 0xe0000; a < 0x100000 && !rsdp; a += 16)
        if (sig_is((const uint8_t *)a, "RSD PTR ", 8))
            rsdp = (const uint8_t *)a;
    CHECK(rsdp != 0);
    if (!rsdp)
        return;
    /* Revision 2 and later: the XSDT, with 64-bit entries (below 4 GiB here). */
    if (rsdp[15] >= 2 && get32(rsdp + 24)) {
        rsdt = (const uint8_t *)(uintptr_t)get32(rsdp + 24);
        step = 8;
    } else {
        rsdt = (const uint8_t *)(uintptr_t)get32(rsdp + 16);
    }
    for (uint32_t off = 36; off + 4 <= get32(rsdt + 4); off += step) {
        const uint8_t *t = (const uint8_t *)(uintptr_t)get32(rsdt + off);

        if (sig_is(t, "APIC", 4))
            madt = t;
    }
    CHECK(madt != 0);
    if (!madt)
        return;
    apic_ids[0] = (uint8_t)bsp;
    for (uint32_t off = 44; off + 2 <= get32(madt + 4); off += madt[off + 1]) {
        /* Type 0: processor local APIC, flags bit 0: enabled (Table 5.23). */
        if (madt[off] != 0 || !(get32(madt + off + 4) & 1) || madt[off + 3] == bsp)
            continue;
        if (ncpu == NCPU_MAX) {
            printf("more than %d processors: the rest stay idle\n", NCPU_MAX);
            break;
        }
        apic_ids[ncpu++] = madt[off + 3];
    }
}

static void lapic_write(unsigned reg, uint32_t v)
{
    *(volatile uint32_t *)(LAPIC + reg) = v;
}

static void send_ipi(uint8_t apic_id, uint32_t icr)
{
    lapic_write(LAPIC_ICR_HI, (uint32_t)apic_id << 24);
    lapic_write(LAPIC_ICR_LO, icr);
    while (*(volatile uint32_t *)(LAPIC + LAPIC_ICR_LO) & ICR_DELIVERING)
        __asm__ volatile("pause");
}

static uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

/* Waits up to about a second (the TSC is at least 1 GHz) for ap_alive to reach n. */
static int wait_alive(int n)
{
    uint64_t t0 = rdtsc();

    while (ap_alive < n)
        if (rdtsc() - t0 > 2000000000ull)
            return 0;
    return 1;
}

static void worker(int me);

static void ap_main(void)
{
    int me = ap_next;

    __atomic_add_fetch(&ap_alive, 1, __ATOMIC_SEQ_CST);
    worker(me);
    for (;;)
        __asm__ volatile("cli; hlt");
}

/* INIT, then start-up IPIs until the AP says it runs (SDM Vol. 3A §9.4.4.1). */
static void start_aps(void)
{
    memcpy((void *)AP_TRAMP, ap_tramp_start, (unsigned long)(ap_tramp_end - ap_tramp_start));
#define TRAMP_VAR(sym) (*(volatile uint64_t *)(AP_TRAMP + ((sym)-ap_tramp_start)))
    TRAMP_VAR(ap_tramp_cr3) = read_cr3();
    TRAMP_VAR(ap_tramp_entry) = (uint64_t)ap_main;
    lapic_write(LAPIC_SVR, 0x1ff);
    for (int i = 1; i < ncpu; i++) {
        TRAMP_VAR(ap_tramp_stack) = (uint64_t)(ap_stacks[i] + sizeof(ap_stacks[i]));
        ap_next = i;
        send_ipi(apic_ids[i], ICR_INIT);
        for (int tries = 0; tries < 2 && ap_alive < i; tries++) {
            send_ipi(apic_ids[i], ICR_STARTUP | AP_TRAMP >> 12);
            wait_alive(i);
        }
        if (ap_alive < i) {
            printf("FAIL: processor %d (APIC ID %u) did not start\n", i, apic_ids[i]);
            guest_exit(3);
        }
    }
#undef TRAMP_VAR
}

static volatile uint32_t bar_count, bar_gen;
static volatile int cell_done; /* processors that ran their n rounds on this cell */

static void barrier(void)
{
    uint32_t gen = __atomic_load_n(&bar_gen, __ATOMIC_ACQUIRE);

    if (__atomic_add_fetch(&bar_count, 1, __ATOMIC_ACQ_REL) == (uint32_t)ncpu) {
        bar_count = 0;
        cell_done = 0;
        __atomic_store_n(&bar_gen, gen + 1, __ATOMIC_RELEASE);
    } else {
        while (__atomic_load_n(&bar_gen, __ATOMIC_ACQUIRE) == gen)
            __asm__ volatile("pause");
    }
}

/* ---- the operations, one set per operand size ---- */

/*
 * The rounds on a cell: at least n, and on until every processor has run n,
 * so that each processor's rounds all overlap with the others' running, even
 * where the host leaves one vCPU's thread unscheduled for a while.
 */
static int more_rounds(int i, int n)
{
    if (i == n)
        __atomic_add_fetch(&cell_done, 1, __ATOMIC_ACQ_REL);
    return i < n || __atomic_load_n(&cell_done, __ATOMIC_ACQUIRE) < ncpu;
}

/* CMPXCHG8B adding 1 to the 8 bytes at p. */
static void cx8_inc(volatile uint64_t *p)
{
    uint64_t old = *p;
    _Bool ok;

    do {
        uint32_t lo = (uint32_t)old, hi = (uint32_t)(old >> 32);
        uint64_t nw = old + 1;

        __asm__ volatile("lock cmpxchg8b %[m]"
                         : [m] "+m"(*p), "+a"(lo), "+d"(hi), "=@ccz"(ok)
                         : "b"((uint32_t)nw), "c"((uint32_t)(nw >> 32))
                         : "memory");
        old = (uint64_t)hi << 32 | lo;
    } while (!ok);
}

/* What a round of adds_ adds: 9, and CMPXCHG8B's 1 at 8 bytes. */
#define ADDS_PER_ROUND(si) (9 + ((si) == 3))

/* S: the size suffix, Q: the register constraint (byte registers for 8 bits). */
#define DEFINE_OPS(T, S, Q)                                                                        \
    static void adds_##T(volatile T *p, int n, volatile int *r)                                    \
    {                                                                                              \
        int i;                                                                                     \
                                                                                                   \
        for (i = 0; more_rounds(i, n); i++) {                                                      \
            T x = 1, old, nw;                                                                      \
            _Bool ok;                                                                              \
                                                                                                   \
            __asm__ volatile("lock add" S " $1, %0" : "+m"(*p) : : "cc");                          \
            __asm__ volatile("lock inc" S " %0" : "+m"(*p) : : "cc");                              \
            __asm__ volatile("lock sub" S " $-1, %0" : "+m"(*p) : : "cc");                         \
            __asm__ volatile("lock xadd" S " %1, %0" : "+m"(*p), "+" Q(x) : : "cc");               \
            __asm__ volatile("clc; lock adc" S " $1, %0" : "+m"(*p) : : "cc");                     \
            __asm__ volatile("stc; lock adc" S " $0, %0" : "+m"(*p) : : "cc");                     \
            __asm__ volatile("clc; lock sbb" S " $-1, %0" : "+m"(*p) : : "cc");                    \
            x = 1;                                                                                 \
            __asm__ volatile("lock add" S " %1, %0" : "+m"(*p) : Q(x) : "cc");                     \
            old = *p;                                                                              \
            do {                                                                                   \
                nw = (T)(old + 1);                                                                 \
                __asm__ volatile("lock cmpxchg" S " %[n], %[m]"                                    \
                                 : [m] "+m"(*p), "+a"(old), "=@ccz"(ok)                            \
                                 : [n] Q(nw)                                                       \
                                 : "memory");                                                      \
            } while (!ok);                                                                         \
            if (sizeof(T) == 8)                                                                    \
                cx8_inc((volatile uint64_t *)p);                                                   \
        }                                                                                          \
        *r = i;                                                                                    \
    }                                                                                              \
                                                                                                   \
    /* NOT twice, and the own bit XORed and flipped by BTC (not in bytes). */                      \
    static void flips_##T(volatile T *p, int me, int n)                                            \
    {                                                                                              \
        T bit = (T)(1u << me);                                                                     \
        int i;                                                                                     \
                                                                                                   \
        for (i = 0; more_rounds(i, n); i++) {                                                      \
            __asm__ volatile("lock not" S " %0" : "+m"(*p) : : "memory");                          \
            __asm__ volatile("lock xor" S " %1, %0" : "+m"(*p) : Q(bit) : "cc", "memory");         \
            __asm__ volatile("lock not" S " %0" : "+m"(*p) : : "memory");                          \
            if (sizeof(T) > 1)                                                                     \
                btc_own_##T(p, me);                                                                \
            else                                                                                   \
                __asm__ volatile("lock xor" S " %1, %0" : "+m"(*p) : Q(bit) : "cc", "memory");     \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    static void negs_##T(volatile T *p, int n)                                                     \
    {                                                                                              \
        int i;                                                                                     \
                                                                                                   \
        for (i = 0; more_rounds(i, n); i++) {                                                      \
            __asm__ volatile("lock neg" S " %0" : "+m"(*p) : : "cc", "memory");                    \
            __asm__ volatile("lock neg" S " %0" : "+m"(*p) : : "cc", "memory");                    \
        }                                                                                          \
    }                                                                                              \
                                                                                                   \
    /* Returns the token this processor holds at the end. */                                       \
    static T xchgs_##T(volatile T *p, T tok, int n, volatile int *r)                               \
    {                                                                                              \
        int i;                                                                                     \
                                                                                                   \
        for (i = 0; more_rounds(i, n); i++) {                                                      \
            __asm__ volatile("xchg" S " %1, %0" : "+m"(*p), "+" Q(tok) : : "memory");              \
            __asm__ volatile("lock xchg" S " %1, %0" : "+m"(*p), "+" Q(tok) : : "memory");         \
            __asm__ volatile("lock add" S " $1, %0" : "+m"(*p) : : "cc", "memory");                \
            __asm__ volatile("xchg" S " %0, %1" : "+m"(*p), "+" Q(tok) : : "memory");              \
        }                                                                                          \
        *r = i;                                                                                    \
        return tok;                                                                                \
    }

/* BTC of bit me by register: the byte case never runs (no byte form). */
static void btc_own_uint8_t(volatile uint8_t *p, int me)
{
    (void)p, (void)me;
}

#define DEFINE_BTC_OWN(T, S)                                                                       \
    static void btc_own_##T(volatile T *p, int me)                                                 \
    {                                                                                              \
        __asm__ volatile("lock btc" S " %1, %0" : "+m"(*p) : "r"((T)me) : "cc", "memory");         \
    }
DEFINE_BTC_OWN(uint16_t, "w")
DEFINE_BTC_OWN(uint32_t, "l")
DEFINE_BTC_OWN(uint64_t, "q")

DEFINE_OPS(uint8_t, "b", "q")
DEFINE_OPS(uint16_t, "w", "r")
DEFINE_OPS(uint32_t, "l", "r")
DEFINE_OPS(uint64_t, "q", "r")

static void cx16_inc(volatile uint64_t *p)
{
    uint64_t lo = p[0], hi = p[1];
    _Bool ok;

    do {
        __asm__ volatile("lock cmpxchg16b %[m]"
                         : [m] "+m"(*(volatile __int128 *)p), "+a"(lo), "+d"(hi), "=@ccz"(ok)
                         : "b"(lo + 1), "c"(hi + 1)
                         : "memory");
    } while (!ok);
}

/*
 * Bits: p[-1..2] are words of B bits; this processor owns bit me of each and
 * checks its old value (CF) at every step; a counter in the upper half of
 * p[-1], p[0] and p[2] goes up by unit. Returns the wrong CFs.
 */
#define BT_REG(op, S, T, p, off)                                                                   \
    ({                                                                                             \
        _Bool cf_;                                                                                 \
        __asm__ volatile("lock " op S " %[o], %[m]"                                                \
                         : [m] "+m"(*(p)), "=@ccc"(cf_)                                            \
                         : [o] "r"((T)(off))                                                       \
                         : "memory");                                                              \
        cf_;                                                                                       \
    })
#define BT_IMM1(op, S, p, k)                                                                       \
    ({                                                                                             \
        _Bool cf_;                                                                                 \
        __asm__ volatile("lock " op S " %[b], %[m]"                                                \
                         : [m] "+m"(*(p)), "=@ccc"(cf_)                                            \
                         : [b] "i"(k)                                                              \
                         : "memory");                                                              \
        cf_;                                                                                       \
    })
/* An immediate bit offset needs a constant: one case per processor. */
#define BT_IMM(op, S, p, me, extra)                                                                \
    ({                                                                                             \
        _Bool r_ = 0;                                                                              \
        switch (me) {                                                                              \
        case 0:                                                                                    \
            r_ = BT_IMM1(op, S, p, 0 + (extra));                                                   \
            break;                                                                                 \
        case 1:                                                                                    \
            r_ = BT_IMM1(op, S, p, 1 + (extra));                                                   \
            break;                                                                                 \
        case 2:                                                                                    \
            r_ = BT_IMM1(op, S, p, 2 + (extra));                                                   \
            break;                                                                                 \
        case 3:                                                                                    \
            r_ = BT_IMM1(op, S, p, 3 + (extra));                                                   \
            break;                                                                                 \
        case 4:                                                                                    \
            r_ = BT_IMM1(op, S, p, 4 + (extra));                                                   \
            break;                                                                                 \
        case 5:                                                                                    \
            r_ = BT_IMM1(op, S, p, 5 + (extra));                                                   \
            break;                                                                                 \
        case 6:                                                                                    \
            r_ = BT_IMM1(op, S, p, 6 + (extra));                                                   \
            break;                                                                                 \
        default:                                                                                   \
            r_ = BT_IMM1(op, S, p, 7 + (extra));                                                   \
            break;                                                                                 \
        }                                                                                          \
        r_;                                                                                        \
    })

#define DEFINE_BITS(T, S, B)                                                                       \
    static int bits_##T(volatile T *p, int me, int n, volatile int *r)                             \
    {                                                                                              \
        T bit = (T)(1u << me), unit = (T)((T)1 << (B / 2));                                        \
        int bad = 0, i;                                                                            \
                                                                                                   \
        for (i = 0; more_rounds(i, n); i++) {                                                      \
            bad += BT_REG("bts", S, T, p, me) != 0;                                                \
            bad += BT_IMM("btr", S, p, me, B) != 1;     /* offset taken modulo B */                \
            bad += BT_REG("bts", S, T, p, me - B) != 0; /* p[-1] */                                \
            bad += BT_REG("btc", S, T, p, me - B) != 1;                                            \
            bad += BT_REG("btc", S, T, p, me + 2 * B) != 0; /* p[2] */                             \
            bad += BT_REG("btr", S, T, p, me + 2 * B) != 1;                                        \
            bad += BT_REG("bts", S, T, p, me + B) != 0; /* p[1] */                                 \
            bad += BT_REG("btr", S, T, p, me + B) != 1;                                            \
            bad += BT_IMM("btc", S, p, me, 0) != 0;                                                \
            __asm__ volatile("lock and" S " %1, %0" : "+m"(*p) : "r"((T)~bit) : "cc", "memory");   \
            __asm__ volatile("lock or" S " %1, %0" : "+m"(*p) : "r"(bit) : "cc", "memory");        \
            __asm__ volatile("lock xor" S " %1, %0" : "+m"(*p) : "r"(bit) : "cc", "memory");       \
            bad += BT_IMM("bts", S, p, me, 0) != 0;                                                \
            bad += BT_REG("btr", S, T, p, me) != 1;                                                \
            __asm__ volatile("lock add" S " %1, %0" : "+m"(p[-1]) : "r"(unit) : "cc", "memory");   \
            __asm__ volatile("lock add" S " %1, %0" : "+m"(p[0]) : "r"(unit) : "cc", "memory");    \
            __asm__ volatile("lock add" S " %1, %0" : "+m"(p[2]) : "r"(unit) : "cc", "memory");    \
        }                                                                                          \
        *r = i;                                                                                    \
        return bad;                                                                                \
    }
DEFINE_BITS(uint16_t, "w", 16)
DEFINE_BITS(uint32_t, "l", 32)
DEFINE_BITS(uint64_t, "q", 64)

/*
 * Bits against adds on one word: even processors only flip their own bit
 * with BTS/BTR/BTC and check CF, odd ones only add to the upper half, two a
 * round. Returns the wrong CFs.
 */
#define DEFINE_DUEL(T, S, B)                                                                       \
    static int duel_##T(volatile T *p, int me, int n, volatile int *r)                             \
    {                                                                                              \
        T unit = (T)((T)1 << (B / 2));                                                             \
        int bad = 0, i;                                                                            \
                                                                                                   \
        for (i = 0; more_rounds(i, n); i++) {                                                      \
            if (me % 2) {                                                                          \
                __asm__ volatile("lock add" S " %1, %0" : "+m"(*p) : "r"(unit) : "cc", "memory");  \
                __asm__ volatile("lock add" S " %1, %0" : "+m"(*p) : "r"(unit) : "cc", "memory");  \
                continue;                                                                          \
            }                                                                                      \
            bad += BT_REG("bts", S, T, p, me) != 0;                                                \
            bad += BT_IMM("btr", S, p, me, 0) != 1;                                                \
            bad += BT_IMM("btc", S, p, me, 0) != 0;                                                \
            bad += BT_REG("btc", S, T, p, me) != 1;                                                \
        }                                                                                          \
        *r = i;                                                                                    \
        return bad;                                                                                \
    }
DEFINE_DUEL(uint16_t, "w", 16)
DEFINE_DUEL(uint32_t, "l", 32)
DEFINE_DUEL(uint64_t, "q", 64)

#define NEG_START 0x35

static uint64_t token0(int me, int si)
{
    return ((uint64_t)(me + 1) * 0x0123456789abcdefull) &
           (si == 3 ? ~0ull : (1ull << (8 << si)) - 1);
}

#define R(g, si) (&rounds[pl][g][si][me])

static void run_cells(int me, int pl)
{
    int n = pl == PL_ALIGNED ? ITERS_ALIGNED : pl == PL_SPLIT ? ITERS_FAR : ITERS;

    barrier();
    adds_uint8_t(cell(pl, G_ADD, 0), n, R(G_ADD, 0));
    barrier();
    adds_uint16_t(cell(pl, G_ADD, 1), n, R(G_ADD, 1));
    barrier();
    adds_uint32_t(cell(pl, G_ADD, 2), n, R(G_ADD, 2));
    barrier();
    adds_uint64_t(cell(pl, G_ADD, 3), n, R(G_ADD, 3));
    barrier();
    bit_errors[me] += bits_uint16_t(cell(pl, G_BITS, 1), me, n, R(G_BITS, 1));
    barrier();
    bit_errors[me] += bits_uint32_t(cell(pl, G_BITS, 2), me, n, R(G_BITS, 2));
    barrier();
    bit_errors[me] += bits_uint64_t(cell(pl, G_BITS, 3), me, n, R(G_BITS, 3));
    barrier();
    bit_errors[me] += duel_uint16_t(cell(pl, G_DUEL, 1), me, n, R(G_DUEL, 1));
    barrier();
    bit_errors[me] += duel_uint32_t(cell(pl, G_DUEL, 2), me, n, R(G_DUEL, 2));
    barrier();
    bit_errors[me] += duel_uint64_t(cell(pl, G_DUEL, 3), me, n, R(G_DUEL, 3));
    barrier();
    flips_uint8_t(cell(pl, G_FLIP, 0), me, n);
    barrier();
    flips_uint16_t(cell(pl, G_FLIP, 1), me, n);
    barrier();
    flips_uint32_t(cell(pl, G_FLIP, 2), me, n);
    barrier();
    flips_uint64_t(cell(pl, G_FLIP, 3), me, n);
    barrier();
    negs_uint8_t(cell(pl, G_NEG, 0), n);
    barrier();
    negs_uint16_t(cell(pl, G_NEG, 1), n);
    barrier();
    negs_uint32_t(cell(pl, G_NEG, 2), n);
    barrier();
    negs_uint64_t(cell(pl, G_NEG, 3), n);
    barrier();
    tokens[pl][me][0] = xchgs_uint8_t(cell(pl, G_XCHG, 0), (uint8_t)token0(me, 0), n, R(G_XCHG, 0));
    barrier();
    tokens[pl][me][1] =
        xchgs_uint16_t(cell(pl, G_XCHG, 1), (uint16_t)token0(me, 1), n, R(G_XCHG, 1));
    barrier();
    tokens[pl][me][2] =
        xchgs_uint32_t(cell(pl, G_XCHG, 2), (uint32_t)token0(me, 2), n, R(G_XCHG, 2));
    barrier();
    tokens[pl][me][3] = xchgs_uint64_t(cell(pl, G_XCHG, 3), token0(me, 3), n, R(G_XCHG, 3));
    barrier();
}

#undef R

/*
 * Locked operations on MMIO, all processors at once: each on its own local
 * APIC's task-priority register (SDM Vol. 3A §11.8.3.1), which takes the
 * value written and reads it back. Returns the values read wrong.
 */
static int lapic_locked(int me)
{
    volatile uint32_t *tpr = (volatile uint32_t *)(LAPIC + LAPIC_TPR);
    uint32_t want = (uint32_t)(me + 1) << 4, v;
    int bad = 0;

    for (int i = 0; i < ITERS_FAR; i++) {
        v = want;
        __asm__ volatile("xchgl %0, %1" : "+r"(v), "+m"(*tpr) : : "memory");
        bad += i > 0 && v != want;
        __asm__ volatile("lock orl $0, %0" : "+m"(*tpr) : : "cc", "memory");
        v = 0;
        __asm__ volatile("lock xaddl %0, %1" : "+r"(v), "+m"(*tpr) : : "cc", "memory");
        bad += v != want;
    }
    *tpr = 0;
    return bad;
}

static void worker(int me)
{
    int i;

    barrier();
    for (i = 0; more_rounds(i, ITERS_ALIGNED); i++) {
        uint64_t one = 1;

        cx16_inc(cell16);
        __asm__ volatile("lock addq $1, %0" : "+m"(cell16[0]) : : "cc", "memory");
        __asm__ volatile("lock addq $1, %0" : "+m"(cell16[1]) : : "cc", "memory");
        cx8_inc(&cell16[1]);
        __asm__ volatile("lock xaddq %1, %0" : "+m"(cell16[0]), "+r"(one) : : "cc", "memory");
    }
    rounds16[me] = i;
    for (int pl = 0; pl < PL_COUNT; pl++) {
        uint64_t t0 = rdtsc();

        run_cells(me, pl);
        if (me == 0)
            printf("%s: %lu M TSC ticks\n", pl_name[pl], (unsigned long)((rdtsc() - t0) >> 20));
        barrier(); /* the BSP may read the cells now; none is written again */
    }
    tpr_errors[me] = lapic_locked(me);
    barrier();
}

/* ---- the checks, on the BSP after everyone is done ---- */

static uint64_t get(volatile void *p, int si)
{
    switch (si) {
    case 0:
        return *(volatile uint8_t *)p;
    case 1:
        return *(volatile uint16_t *)p;
    case 2:
        return *(volatile uint32_t *)p;
    default:
        return *(volatile uint64_t *)p;
    }
}

static int lost_total;

static void expect(const char *what, int pl, int si, uint64_t got, uint64_t want)
{
    uint64_t mask = si == 3 ? ~0ull : (1ull << (8 << si)) - 1;

    got &= mask, want &= mask;
    if (got != want) {
        printf("FAIL: %s, %d bytes %s: %lx, expected %lx (%ld lost)\n", what, 1 << si, pl_name[pl],
               got, want, (long)((want - got) & mask));
        lost_total++;
    }
    CHECK(got == want);
}

/* All processors' rounds on one cell. */
static uint64_t all_rounds(int pl, int g, int si)
{
    uint64_t n = 0;

    for (int c = 0; c < ncpu; c++)
        n += (uint64_t)rounds[pl][g][si][c];
    return n;
}

static void check_cells(int pl)
{
    for (int si = 0; si < 4; si++) {
        uint64_t sum = 0;

        expect("counter", pl, si, get(cell(pl, G_ADD, si), si),
               all_rounds(pl, G_ADD, si) * ADDS_PER_ROUND(si));
        expect("NOT/XOR/BTC flips", pl, si, get(cell(pl, G_FLIP, si), si), 0);
        expect("NEG pairs", pl, si, get(cell(pl, G_NEG, si), si), NEG_START);
        for (int c = 0; c < ncpu; c++)
            sum += tokens[pl][c][si] - token0(c, si);
        expect("XCHG tokens + adds", pl, si, get(cell(pl, G_XCHG, si), si) + sum,
               all_rounds(pl, G_XCHG, si));
        if (si > 0) {
            unsigned bytes = 1u << si, half = 4u << si;
            uint64_t adds = 0, v = get(cell(pl, G_DUEL, si), si);

            for (int c = 1; c < ncpu; c += 2)
                adds += 2 * (uint64_t)rounds[pl][G_DUEL][si][c];
            expect("bits against adds", pl, si, v, adds << half);
            volatile uint8_t *w = cell(pl, G_BITS, si);

            for (int k = -1; k <= 2; k++) {
                uint64_t v = get(w + k * (int)bytes, si), low = (1ull << half) - 1;

                expect("owned bits", pl, si, v & low, 0);
                expect("counter beside the bits", pl, si, v >> half,
                       (k == 1 ? 0 : all_rounds(pl, G_BITS, si)) & low);
            }
        }
    }
}

/*
 * A locked operation whose operand runs into a page that is not present
 * faults before it writes anything (SDM Vol. 3A §6.5: a fault is reported
 * before the instruction changes state), with CR2 at the first byte of that
 * page: edge, just after SPLIT_VA's last mapped page, which no cell uses.
 */
static void check_precise_faults(void)
{
    uint8_t *edge = (uint8_t *)SPLIT_VA + (SLOTS + 2) * 4096ull;
    volatile uint8_t *before = edge - 64;
    uint64_t at;
    int n = 0;

    idt_init();
    memset((void *)before, 0x5a, 64);
#define FAULTS(insn, ...)                                                                          \
    do {                                                                                           \
        __asm__ volatile(TRAP_TRY(insn)                                                            \
                         : [at] "=&r"(at)                                                          \
                         : [p] "r"(edge), ##__VA_ARGS__                                            \
                         : "memory");                                                              \
        CHECK(trap_last.vector == EXC_PF && trap_last.cr2 == (uint64_t)edge &&                     \
              trap_last.rip == at);                                                                \
        n++;                                                                                       \
    } while (0)
    FAULTS("lock addq $1, -4(%[p])");
    FAULTS("lock incw -1(%[p])");
    FAULTS("lock xaddl %[v], -2(%[p])", [v] "r"(1));
    FAULTS("xchgq %[v], -4(%[p])", [v] "r"(1ull));
    FAULTS("lock btsq %[v], -4(%[p])", [v] "r"(63ull));
    FAULTS("lock btrl %[v], -64(%[p])", [v] "r"(64 * 8 + 5)); /* the word at edge */
    FAULTS("lock btcw $3, -1(%[p])");
    FAULTS("lock cmpxchgq %[v], -4(%[p])", [v] "r"(1ull), "a"(0ull));
    FAULTS("lock cmpxchg8b -4(%[p])", "a"(0), "d"(0), "b"(1), "c"(1));
#undef FAULTS
    for (int i = 0; i < 64; i++)
        CHECK(before[i] == 0x5a);
    printf("%d locked operations into a missing page: #PF, nothing written\n", n);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    uint64_t n16 = 0;
    int bad = 0;

    (void)cmdline, (void)mem_size;
    find_cpus();
    printf("%d processors\n", ncpu);
    map_split_pages();
    check_precise_faults();
    for (int si = 0; si < 4; si++)
        for (int pl = 0; pl < PL_COUNT; pl++)
            switch (si) {
            case 0:
                *(volatile uint8_t *)cell(pl, G_NEG, si) = NEG_START;
                break;
            case 1:
                *(volatile uint16_t *)cell(pl, G_NEG, si) = NEG_START;
                break;
            case 2:
                *(volatile uint32_t *)cell(pl, G_NEG, si) = NEG_START;
                break;
            default:
                *(volatile uint64_t *)cell(pl, G_NEG, si) = NEG_START;
                break;
            }
    start_aps();
    worker(0);
    for (int c = 0; c < ncpu; c++)
        n16 += (uint64_t)rounds16[c];
    expect("CMPXCHG16B/LOCK ADD/XADD low half", PL_ALIGNED, 3, cell16[0], 3 * n16);
    expect("CMPXCHG16B/LOCK ADD/CMPXCHG8B high half", PL_ALIGNED, 3, cell16[1], 3 * n16);
    for (int pl = 0; pl < PL_COUNT; pl++)
        check_cells(pl);
    for (int c = 0; c < ncpu; c++)
        bad += bit_errors[c];
    if (bad)
        printf("FAIL: %d bit tests saw another processor's bit change\n", bad);
    CHECK(bad == 0);
    for (int c = 0; c < ncpu; c++) {
        if (tpr_errors[c])
            printf("FAIL: processor %d read its TPR wrong %d times\n", c, tpr_errors[c]);
        CHECK(tpr_errors[c] == 0);
    }
    printf("%d processors: %d cells wrong, %d bad bit tests\n", ncpu, lost_total, bad);
    guest_finish();
}
