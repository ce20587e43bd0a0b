/*
 * Repeated string instructions that fault part way (SDM Vol. 2B, REP, and
 * Vol. 1 §7.3.9.3): a #PF on one element leaves RCX, RSI and RDI at that
 * element, with the elements before it done and it not begun; the handler
 * maps the page and returns to the same instruction, which resumes and
 * finishes. Checked for REP MOVSB into a page not present, REP STOSQ
 * likewise and with a quadword that straddles the two pages, REP MOVSB
 * backwards (DF = 1) across a page boundary, and REP MOVSB reading from a
 * page not present: the registers the handler sees, CR2, the error code,
 * the registers at the end and the data.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

/* Pairs of pages, the first present, the second mapped on the first #PF;
 * FWD_* the other way round. */
#define MOVSB_VA  0x40000000ull
#define STOSQ_VA  0x40010000ull
#define SPLIT_VA  0x40020000ull
#define BACK_VA   0x40030000ull
#define SOURCE_VA 0x40040000ull
#define NPAIRS    5

#define PATTERN 0x0123456789abcdefull

struct fault_seen {
    uint64_t rip, rcx, rsi, rdi, error_code, cr2;
    uint8_t before[8]; /* the present page's last 8 bytes at the fault */
};

static uint8_t frames[NPAIRS][2][4096] __attribute__((aligned(4096)));
static uint8_t src[512], dst[512];
static uint64_t *pml4;
static struct fault_seen seen;
static unsigned nfaults;

static const uint64_t pair_va[NPAIRS] = {MOVSB_VA, STOSQ_VA, SPLIT_VA, BACK_VA, SOURCE_VA};

/* The page of the pair that starts absent: the second, but for BACK_VA. */
static int absent_half(unsigned pair)
{
    return pair_va[pair] == BACK_VA ? 0 : 1;
}

static void setup_paging(void)
{
    pml4 = pgtable_new();
    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    for (unsigned p = 0; p < NPAIRS; p++) {
        for (int h = 0; h < 2; h++) {
            uint64_t va = pair_va[p] + (uint64_t)h * PAGE_4K;

            pgtable_map(pml4, va, (uint64_t)frames[p][h], PAGE_4K, PTE_P | PTE_RW);
            if (h == absent_half(p))
                *pgtable_entry(pml4, va, 1) = 0;
        }
    }
    write_cr3((uint64_t)pml4);
    for (unsigned i = 0; i < sizeof(src); i++)
        src[i] = (uint8_t)(i * 7 + 1);
}

/* Maps the page of CR2 if it is one of ours and lets the instruction go on. */
static void pf_handler(struct trap_frame *f)
{
    uint64_t cr2 = read_cr2(), page = cr2 & ~(PAGE_4K - 1);

    for (unsigned p = 0; p < NPAIRS; p++) {
        int h = absent_half(p);

        if (page != pair_va[p] + (uint64_t)h * PAGE_4K)
            continue;
        seen = (struct fault_seen){.rip = f->rip,
                                   .rcx = f->rcx,
                                   .rsi = f->rsi,
                                   .rdi = f->rdi,
                                   .error_code = f->error_code,
                                   .cr2 = cr2};
        if (h == 1)
            memcpy(seen.before, (uint8_t *)frames[p][0] + 4096 - 8, 8);
        nfaults++;
        pgtable_map(pml4, page, (uint64_t)frames[p][h], PAGE_4K, PTE_P | PTE_RW);
        invlpg((void *)page);
        return;
    }
    trap_unexpected(f);
}

static void print_seen(const char *what)
{
    printf("%s: %u fault(s), rip %lx, rcx %lx, rsi %lx, rdi %lx, error code 0x%lx, cr2 %lx\n", what,
           nfaults, seen.rip, seen.rcx, seen.rsi, seen.rdi, seen.error_code, seen.cr2);
}

static void start(void)
{
    nfaults = 0;
    memset(&seen, 0, sizeof(seen));
}

/* 300 bytes to 100 before the absent page: it faults on the 101st. */
static void test_movsb(void)
{
    uint64_t to = MOVSB_VA + PAGE_4K - 100, d = to, s = (uint64_t)src, n = 300, at;
    int bad = 0;

    start();
    __asm__ volatile("lea 1f(%%rip), %[at]\n"
                     "1:\trep movsb"
                     : [at] "=&r"(at), "+D"(d), "+S"(s), "+c"(n)
                     :
                     : "memory");
    print_seen("REP MOVSB into a page not present");
    CHECK(nfaults == 1);
    CHECK(seen.rip == at);
    CHECK(seen.error_code == PF_W);
    CHECK(seen.cr2 == MOVSB_VA + PAGE_4K);
    CHECK(seen.rcx == 200);
    CHECK(seen.rsi == (uint64_t)src + 100);
    CHECK(seen.rdi == MOVSB_VA + PAGE_4K);
    printf("  at the end: rcx %lx, rsi %lx, rdi %lx\n", n, s, d);
    CHECK(n == 0 && s == (uint64_t)src + 300 && d == to + 300);
    for (unsigned i = 0; i < 300; i++)
        bad += frames[0][i < 100 ? 0 : 1][(4096 - 100 + i) % 4096] != src[i];
    CHECK(bad == 0);
    CHECK(frames[0][0][4096 - 101] == 0 && frames[0][1][200] == 0);
}

/* 10 quadwords to 24 bytes before the absent page: it faults on the 4th. */
static void test_stosq(void)
{
    uint64_t to = STOSQ_VA + PAGE_4K - 24, d = to, n = 10, at;
    const volatile uint64_t *q0 = (uint64_t *)frames[1][0], *q1 = (uint64_t *)frames[1][1];
    int bad = 0;

    start();
    __asm__ volatile("lea 1f(%%rip), %[at]\n"
                     "1:\trep stosq"
                     : [at] "=&r"(at), "+D"(d), "+c"(n)
                     : "a"(PATTERN)
                     : "memory");
    print_seen("REP STOSQ into a page not present");
    CHECK(nfaults == 1);
    CHECK(seen.rip == at);
    CHECK(seen.error_code == PF_W);
    CHECK(seen.cr2 == STOSQ_VA + PAGE_4K);
    CHECK(seen.rcx == 7);
    CHECK(seen.rdi == STOSQ_VA + PAGE_4K);
    printf("  at the end: rcx %lx, rdi %lx\n", n, d);
    CHECK(n == 0 && d == to + 80);
    for (unsigned i = 0; i < 3; i++)
        bad += q0[509 + i] != PATTERN;
    for (unsigned i = 0; i < 7; i++)
        bad += q1[i] != PATTERN;
    CHECK(bad == 0);
    CHECK(q0[508] == 0 && q1[7] == 0);
}

/* The first quadword has 4 bytes in each page: it faults as a whole, with
 * CR2 at its first byte in the absent page and none of it written. */
static void test_stosq_split(void)
{
    uint64_t to = SPLIT_VA + PAGE_4K - 4, d = to, n = 2, at, v;
    const uint8_t *low = frames[2][0] + 4092, *high = frames[2][1];

    start();
    __asm__ volatile("lea 1f(%%rip), %[at]\n"
                     "1:\trep stosq"
                     : [at] "=&r"(at), "+D"(d), "+c"(n)
                     : "a"(PATTERN)
                     : "memory");
    print_seen("REP STOSQ, a quadword straddling into a page not present");
    printf("  the 4 bytes in the present page at the fault: %02x %02x %02x %02x\n", seen.before[4],
           seen.before[5], seen.before[6], seen.before[7]);
    CHECK(nfaults == 1);
    CHECK(seen.rip == at);
    CHECK(seen.error_code == PF_W);
    CHECK(seen.cr2 == SPLIT_VA + PAGE_4K);
    CHECK(seen.rcx == 2);
    CHECK(seen.rdi == to);
    CHECK(!(seen.before[4] | seen.before[5] | seen.before[6] | seen.before[7]));
    CHECK(n == 0 && d == to + 16);
    v = (uint64_t)low[0] | (uint64_t)low[1] << 8 | (uint64_t)low[2] << 16 | (uint64_t)low[3] << 24 |
        (uint64_t)high[0] << 32 | (uint64_t)high[1] << 40 | (uint64_t)high[2] << 48 |
        (uint64_t)high[3] << 56;
    CHECK(v == PATTERN);
    CHECK(*(const uint64_t *)(high + 4) == PATTERN);
    CHECK(*(const uint64_t *)(high + 12) == 0);
}

/* DF = 1: 200 bytes ending 100 bytes into the present second page, copied
 * from the last byte down; it faults on the 101st, the absent first page's
 * last byte. */
static void test_backward(void)
{
    uint64_t last = BACK_VA + PAGE_4K + 99, d = last, s = (uint64_t)&src[299], n = 200, at;
    int bad = 0;

    start();
    __asm__ volatile("lea 1f(%%rip), %[at]\n\t"
                     "std\n"
                     "1:\trep movsb\n\t"
                     "cld"
                     : [at] "=&r"(at), "+D"(d), "+S"(s), "+c"(n)
                     :
                     : "memory");
    print_seen("REP MOVSB backwards into a page not present");
    CHECK(nfaults == 1);
    CHECK(seen.rip == at);
    CHECK(seen.error_code == PF_W);
    CHECK(seen.cr2 == BACK_VA + PAGE_4K - 1);
    CHECK(seen.rcx == 100);
    CHECK(seen.rsi == (uint64_t)&src[199]);
    CHECK(seen.rdi == BACK_VA + PAGE_4K - 1);
    printf("  at the end: rcx %lx, rsi %lx, rdi %lx\n", n, s, d);
    CHECK(n == 0 && s == (uint64_t)&src[99] && d == last - 200);
    for (unsigned i = 0; i < 200; i++)
        bad += frames[3][i < 100 ? 0 : 1][(3996 + i) % 4096] != src[100 + i];
    CHECK(bad == 0);
    CHECK(frames[3][0][3995] == 0 && frames[3][1][100] == 0);
}

/* 150 bytes from 50 before the absent page: the read of the 51st faults. */
static void test_source(void)
{
    uint64_t from = SOURCE_VA + PAGE_4K - 50, s = from, d = (uint64_t)dst, n = 150, at;
    int bad = 0;

    for (unsigned i = 0; i < 50; i++)
        frames[4][0][4046 + i] = (uint8_t)(0x80 + i);
    for (unsigned i = 0; i < 100; i++)
        frames[4][1][i] = (uint8_t)(0x20 + i);
    start();
    __asm__ volatile("lea 1f(%%rip), %[at]\n"
                     "1:\trep movsb"
                     : [at] "=&r"(at), "+D"(d), "+S"(s), "+c"(n)
                     :
                     : "memory");
    print_seen("REP MOVSB from a page not present");
    CHECK(nfaults == 1);
    CHECK(seen.rip == at);
    CHECK(seen.error_code == 0);
    CHECK(seen.cr2 == SOURCE_VA + PAGE_4K);
    CHECK(seen.rcx == 100);
    CHECK(seen.rsi == SOURCE_VA + PAGE_4K);
    CHECK(seen.rdi == (uint64_t)dst + 50);
    printf("  at the end: rcx %lx, rsi %lx, rdi %lx\n", n, s, d);
    CHECK(n == 0 && s == from + 150 && d == (uint64_t)dst + 150);
    for (unsigned i = 0; i < 150; i++)
        bad += dst[i] != (i < 50 ? 0x80 + i : 0x20 + i - 50);
    CHECK(bad == 0);
    CHECK(dst[150] == 0);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    idt_init();
    trap_set_handler(EXC_PF, pf_handler);
    setup_paging();
    test_movsb();
    test_stosq();
    test_stosq_split();
    test_backward();
    test_source();
    guest_finish();
}
