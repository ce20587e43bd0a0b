/*
 * REP MOVSB, MOVSQ, STOSB and STOSQ that complete (rep_fault covers the
 * ones that fault part way), checked against a copy made one element at a
 * time: lengths 0 to one page, runs that end on a page's last byte or cross into the next page,
 * more than a page, overlapping forward copies (the destination inside the
 * source: each byte copied is read again, so the first ones repeat) and
 * backward ones, and RCX, RSI and RDI afterwards. Each case runs 20 times,
 * so that the binary translator's own code for them runs too (vx86
 * translates a block after 16 runs; the suite also runs this guest with
 * every block translated at once).
 */
#include "lib/guest.h"

#define RUNS 20

static uint8_t buf[3 * 4096] __attribute__((aligned(4096)));
static uint8_t want[3 * 4096] __attribute__((aligned(4096)));

static int differs(void)
{
    for (unsigned i = 0; i < sizeof(buf); i++)
        if (buf[i] != want[i])
            return 1;
    return 0;
}

static void fill(void)
{
    for (unsigned i = 0; i < sizeof(buf); i++)
        buf[i] = want[i] = (uint8_t)(i * 7 + 1);
}

/* REP MOVSB (size 1) or MOVSQ (size 8) of n elements from buf + src to
 * buf + dst; nonzero if the bytes or RCX, RSI, RDI afterwards are wrong. */
static int movs(unsigned size, unsigned dst, unsigned src, uint64_t n)
{
    uint8_t *d = buf + dst;
    const uint8_t *s = buf + src;
    uint64_t c = n;

    for (uint64_t i = 0; i < n; i++) { /* forward, one element at a time */
        uint8_t e[8];

        memcpy(e, want + src + size * i, size);
        memcpy(want + dst + size * i, e, size);
    }
    if (size == 8)
        __asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(c) : : "memory");
    else
        __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(c) : : "memory");
    return c != 0 || d != buf + dst + size * n || s != buf + src + size * n || differs();
}

/* REP STOSB (size 1, the low byte of v) or STOSQ (size 8) of n elements at
 * buf + dst; nonzero if the bytes or RCX, RDI afterwards are wrong. */
static int stos(unsigned size, unsigned dst, uint64_t n, uint64_t v)
{
    uint8_t *d = buf + dst;
    uint64_t c = n;

    for (uint64_t i = 0; i < n; i++)
        memcpy(want + dst + size * i, &v, size);
    if (size == 8)
        __asm__ volatile("rep stosq" : "+D"(d), "+c"(c) : "a"(v) : "memory");
    else
        __asm__ volatile("rep stosb" : "+D"(d), "+c"(c) : "a"(v) : "memory");
    return c != 0 || d != buf + dst + size * n || differs();
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    /* element size, dst, src, elements */
    static const unsigned moves[][4] = {
        {1, 100, 2000, 0},    {1, 100, 2000, 1},    {1, 100, 2000, 7},    {1, 4096, 8000, 4096},
        {1, 5000, 4200, 500}, {1, 4000, 8100, 96},  {1, 8100, 4000, 96},  {1, 4000, 8100, 97},
        {1, 8100, 4000, 97},  {1, 5001, 5000, 300}, {1, 5000, 5003, 300}, {1, 4100, 4096, 4096},
        {1, 100, 4200, 4097}, {1, 4090, 5000, 4000}, {1, 4352, 4096, 3840}, {8, 4096, 8192, 512},
        {8, 4000, 8000, 12},  {8, 4000, 8000, 13},  {8, 5000, 5004, 40},  {8, 5004, 5000, 40},
        {8, 100, 4200, 513},  {8, 4352, 8192, 480},
    };
    /* element size, dst, elements */
    static const unsigned stores[][3] = {
        {1, 10, 0},    {1, 10, 1},    {1, 4096, 4096}, {1, 4000, 96}, {1, 4000, 97},
        {1, 300, 5000}, {1, 8191, 1}, {8, 4096, 512},  {8, 4000, 12}, {8, 4000, 13},
        {8, 8, 600},
    };
    int bad_moves = 0, bad_stores = 0;

    (void)cmdline;
    (void)mem_size;
    fill();
    for (unsigned r = 0; r < RUNS; r++) {
        for (unsigned i = 0; i < sizeof(moves) / sizeof(moves[0]); i++)
            if (movs(moves[i][0], moves[i][1], moves[i][2], moves[i][3])) {
                printf("rep movs of %u-byte elements to %u from %u, %u of them, run %u: wrong\n",
                       moves[i][0], moves[i][1], moves[i][2], moves[i][3], r);
                bad_moves++;
                fill();
            }
        for (unsigned i = 0; i < sizeof(stores) / sizeof(stores[0]); i++)
            if (stos(stores[i][0], stores[i][1], stores[i][2],
                     0x0123456789abcdefull * (r + i + 1))) {
                printf("rep stos of %u-byte elements to %u, %u of them, run %u: wrong\n",
                       stores[i][0], stores[i][1], stores[i][2], r);
                bad_stores++;
                fill();
            }
    }
    printf("rep movsb/movsq: %d wrong, rep stosb/stosq: %d wrong\n", bad_moves, bad_stores);
    CHECK(bad_moves == 0);
    CHECK(bad_stores == 0);
    guest_finish();
}
