/*
 * REP MOVSB, MOVSQ, STOSB and STOSQ that complete (rep_fault covers the ones that
 * fault part way), checked against a byte-by-byte copy: lengths 0 to one
 * page, runs that end on a page's last byte or cross into the next page,
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

static int movsb(unsigned dst, unsigned src, uint64_t n)
{
    uint8_t *d = buf + dst;
    const uint8_t *s = buf + src;
    uint64_t c = n;

    for (uint64_t i = 0; i < n; i++)
        want[dst + i] = want[src + i]; /* forward, one byte at a time */
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(c) : : "memory");
    return c != 0 || d != buf + dst + n || s != buf + src + n || differs();
}

static int movsq(unsigned dst, unsigned src, uint64_t n)
{
    uint8_t *d = buf + dst;
    const uint8_t *s = buf + src;
    uint64_t c = n;

    for (uint64_t i = 0; i < n; i++) { /* forward, one quadword at a time */
        uint8_t q[8];

        memcpy(q, want + src + 8 * i, 8);
        memcpy(want + dst + 8 * i, q, 8);
    }
    __asm__ volatile("rep movsq" : "+D"(d), "+S"(s), "+c"(c) : : "memory");
    return c != 0 || d != buf + dst + 8 * n || s != buf + src + 8 * n || differs();
}

static int stosq(unsigned dst, uint64_t n, uint64_t v)
{
    uint8_t *d = buf + dst;
    uint64_t c = n;

    for (uint64_t i = 0; i < n; i++)
        memcpy(want + dst + 8 * i, &v, 8);
    __asm__ volatile("rep stosq" : "+D"(d), "+c"(c) : "a"(v) : "memory");
    return c != 0 || d != buf + dst + 8 * n || differs();
}

static int stosb(unsigned dst, uint64_t n, uint8_t v)
{
    uint8_t *d = buf + dst;
    uint64_t c = n;

    memset(want + dst, v, n);
    __asm__ volatile("rep stosb" : "+D"(d), "+c"(c) : "a"(v) : "memory");
    return c != 0 || d != buf + dst + n || differs();
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    /* dst, src, length */
    static const unsigned moves[][3] = {
        {100, 2000, 0},    {100, 2000, 1},     {100, 2000, 7},    {4096, 8000, 4096},
        {5000, 4200, 500}, {4000, 8100, 96},   {8100, 4000, 96},  {4000, 8100, 97},
        {8100, 4000, 97},  {5001, 5000, 300},  {5000, 5003, 300}, {4100, 4096, 4096},
        {100, 4200, 4097}, {4090, 5000, 4000}, {4352, 4096, 3840},
    };
    /* dst, length */
    static const unsigned stores[][2] = {
        {10, 0}, {10, 1}, {4096, 4096}, {4000, 96}, {4000, 97}, {300, 5000}, {8191, 1},
    };
    /* dst, src, quadwords */
    static const unsigned qmoves[][3] = {
        {4096, 8192, 512}, {4000, 8000, 12}, {4000, 8000, 13}, {5000, 5004, 40},
        {5004, 5000, 40},  {100, 4200, 513}, {4352, 8192, 480},
    };
    /* dst, quadwords */
    static const unsigned qstores[][2] = {{4096, 512}, {4000, 12}, {4000, 13}, {8, 600}};
    int bad_moves = 0, bad_stores = 0;

    (void)cmdline;
    (void)mem_size;
    fill();
    for (unsigned r = 0; r < RUNS; r++) {
        for (unsigned i = 0; i < sizeof(moves) / sizeof(moves[0]); i++)
            if (movsb(moves[i][0], moves[i][1], moves[i][2])) {
                printf("rep movsb to %u from %u, %u bytes, run %u: wrong\n", moves[i][0],
                       moves[i][1], moves[i][2], r);
                bad_moves++;
                fill();
            }
        for (unsigned i = 0; i < sizeof(qmoves) / sizeof(qmoves[0]); i++)
            if (movsq(qmoves[i][0], qmoves[i][1], qmoves[i][2])) {
                printf("rep movsq to %u from %u, %u quadwords, run %u: wrong\n", qmoves[i][0],
                       qmoves[i][1], qmoves[i][2], r);
                bad_moves++;
                fill();
            }
        for (unsigned i = 0; i < sizeof(qstores) / sizeof(qstores[0]); i++)
            if (stosq(qstores[i][0], qstores[i][1], 0x0123456789abcdefull * (r + i + 1))) {
                printf("rep stosq to %u, %u quadwords, run %u: wrong\n", qstores[i][0],
                       qstores[i][1], r);
                bad_stores++;
                fill();
            }
        for (unsigned i = 0; i < sizeof(stores) / sizeof(stores[0]); i++)
            if (stosb(stores[i][0], stores[i][1], (uint8_t)(r * 3 + i))) {
                printf("rep stosb to %u, %u bytes, run %u: wrong\n", stores[i][0], stores[i][1],
                       r);
                bad_stores++;
                fill();
            }
    }
    printf("rep movsb/movsq: %d wrong, rep stosb/stosq: %d wrong\n", bad_moves, bad_stores);
    CHECK(bad_moves == 0);
    CHECK(bad_stores == 0);
    guest_finish();
}
