/*
 * A CPU-bound program, run the same (one static binary) natively and inside
 * each guest: integer parts (SHA-256 over a buffer, an LZ77 compressor and
 * its decompressor, a bytecode interpreter) and floating-point parts (an
 * n-body simulation, a matrix product). No system calls but the clock and
 * the output between the parts.
 *
 *     cpubench [SCALE]
 *
 * prints "cpu begin", then, per part, "cpu PART NS CHECK" (NS: CLOCK_MONOTONIC time of the
 * part; CHECK: a result digest, the same on every machine), then
 * "cpu total NS". bench/run times the whole from the host as well.
 */
#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* A reproducible byte stream: text-like, so that LZ77 finds matches. */
static void fill(uint8_t *buf, size_t n)
{
    static const char *const words[] = {"virtual ", "machine ", "monitor ", "x86 ",
                                        "page ",    "table ",   "exit ",    "trap ",
                                        "guest ",   "host ",    "the ",     "of "};
    uint32_t s = 12345;
    size_t i = 0;

    while (i < n) {
        const char *w;

        s = s * 1103515245u + 12345u;
        w = words[(s >> 16) % 12];
        while (*w && i < n)
            buf[i++] = (uint8_t)*w++;
        if ((s >> 8 & 15) == 0 && i < n)
            buf[i++] = (uint8_t)('0' + (s >> 12) % 10);
    }
}

/* ---- SHA-256 (FIPS 180-4) ---- */
static const uint32_t K[64] = {
    0x428a2f98, 0x71374491, 0xb5c0fbcf, 0xe9b5dba5, 0x3956c25b, 0x59f111f1, 0x923f82a4,
    0xab1c5ed5, 0xd807aa98, 0x12835b01, 0x243185be, 0x550c7dc3, 0x72be5d74, 0x80deb1fe,
    0x9bdc06a7, 0xc19bf174, 0xe49b69c1, 0xefbe4786, 0x0fc19dc6, 0x240ca1cc, 0x2de92c6f,
    0x4a7484aa, 0x5cb0a9dc, 0x76f988da, 0x983e5152, 0xa831c66d, 0xb00327c8, 0xbf597fc7,
    0xc6e00bf3, 0xd5a79147, 0x06ca6351, 0x14292967, 0x27b70a85, 0x2e1b2138, 0x4d2c6dfc,
    0x53380d13, 0x650a7354, 0x766a0abb, 0x81c2c92e, 0x92722c85, 0xa2bfe8a1, 0xa81a664b,
    0xc24b8b70, 0xc76c51a3, 0xd192e819, 0xd6990624, 0xf40e3585, 0x106aa070, 0x19a4c116,
    0x1e376c08, 0x2748774c, 0x34b0bcb5, 0x391c0cb3, 0x4ed8aa4a, 0x5b9cca4f, 0x682e6ff3,
    0x748f82ee, 0x78a5636f, 0x84c87814, 0x8cc70208, 0x90befffa, 0xa4506ceb, 0xbef9a3f7,
    0xc67178f2};

#define ROR(x, n) ((x) >> (n) | (x) << (32 - (n)))

static void sha256_block(uint32_t h[8], const uint8_t *p)
{
    uint32_t w[64], a, b, c, d, e, f, g, k;

    for (int i = 0; i < 16; i++)
        w[i] = (uint32_t)p[4 * i] << 24 | (uint32_t)p[4 * i + 1] << 16 |
               (uint32_t)p[4 * i + 2] << 8 | p[4 * i + 3];
    for (int i = 16; i < 64; i++) {
        uint32_t s0 = ROR(w[i - 15], 7) ^ ROR(w[i - 15], 18) ^ w[i - 15] >> 3;
        uint32_t s1 = ROR(w[i - 2], 17) ^ ROR(w[i - 2], 19) ^ w[i - 2] >> 10;

        w[i] = w[i - 16] + s0 + w[i - 7] + s1;
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (int i = 0; i < 64; i++) {
        uint32_t t1 = k + (ROR(e, 6) ^ ROR(e, 11) ^ ROR(e, 25)) + ((e & f) ^ (~e & g)) + K[i] + w[i];
        uint32_t t2 = (ROR(a, 2) ^ ROR(a, 13) ^ ROR(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));

        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

/* SHA-256 of n bytes (a multiple of 64; no padding needed for a digest to compare). */
static uint64_t sha256(const uint8_t *buf, size_t n)
{
    uint32_t h[8] = {0x6a09e667, 0xbb67ae85, 0x3c6ef372, 0xa54ff53a,
                     0x510e527f, 0x9b05688c, 0x1f83d9ab, 0x5be0cd19};

    for (size_t i = 0; i + 64 <= n; i += 64)
        sha256_block(h, buf + i);
    return (uint64_t)h[0] << 32 | h[1];
}

/* ---- LZ77: (literal run | match) tokens, hash-chain-free greedy matcher ---- */
#define LZ_HBITS 14

static size_t lz_compress(const uint8_t *in, size_t n, uint8_t *out)
{
    static uint32_t table[1 << LZ_HBITS];
    size_t i = 0, o = 0, lit = 0;

    memset(table, 0, sizeof(table));
    while (i + 4 <= n) {
        uint32_t v;
        uint32_t hsh, cand;

        memcpy(&v, in + i, 4);
        hsh = (v * 2654435761u) >> (32 - LZ_HBITS);
        cand = table[hsh];
        table[hsh] = (uint32_t)i;
        if (cand < i && i - cand < 65536 && !memcmp(in + cand, in + i, 4)) {
            size_t len = 4;

            while (i + len < n && len < 255 + 4 && in[cand + len] == in[i + len])
                len++;
            if (lit) {
                out[o++] = (uint8_t)(lit - 1); /* 0..127: literal run of lit bytes */
                memcpy(out + o, in + i - lit, lit);
                o += lit;
                lit = 0;
            }
            out[o++] = 0x80;
            out[o++] = (uint8_t)(len - 4);
            out[o++] = (uint8_t)((i - cand) >> 8);
            out[o++] = (uint8_t)(i - cand);
            i += len;
            continue;
        }
        i++;
        if (++lit == 128) {
            out[o++] = 127;
            memcpy(out + o, in + i - lit, lit);
            o += lit;
            lit = 0;
        }
    }
    lit += n - i;
    while (lit) {
        size_t run = lit > 128 ? 128 : lit;

        out[o++] = (uint8_t)(run - 1);
        memcpy(out + o, in + n - lit, run);
        o += run;
        lit -= run;
    }
    return o;
}

static size_t lz_decompress(const uint8_t *in, size_t n, uint8_t *out)
{
    size_t i = 0, o = 0;

    while (i < n) {
        uint8_t t = in[i++];

        if (t < 0x80) {
            memcpy(out + o, in + i, (size_t)t + 1);
            i += (size_t)t + 1;
            o += (size_t)t + 1;
        } else {
            size_t len = (size_t)in[i] + 4, dist = (size_t)in[i + 1] << 8 | in[i + 2];

            i += 3;
            for (size_t k = 0; k < len; k++, o++)
                out[o] = out[o - dist];
        }
    }
    return o;
}

/* ---- a stack-machine bytecode interpreter running an iterative Fibonacci mod 2^32 ---- */
enum { OP_PUSH, OP_LOAD, OP_STORE, OP_ADD, OP_SUB, OP_JNZ, OP_HALT };

static uint32_t interp(uint32_t n)
{
    /* a = 0; b = 1; while (n) { t = a + b; a = b; b = t; n = n - 1; } */
    static const int32_t prog[] = {
        OP_PUSH, 0,  OP_STORE, 0,  OP_PUSH, 1,  OP_STORE, 1, /* 0: a = 0, b = 1 */
        OP_LOAD, 0,  OP_LOAD,  1,  OP_ADD,  OP_LOAD, 1,  OP_STORE, 0, /* 8: t = a + b; a = b */
        OP_STORE, 1, OP_LOAD,  2,  OP_PUSH, 1,  OP_SUB, OP_STORE, 2, /* 17: b = t; n-- */
        OP_LOAD, 2,  OP_JNZ,   8,  OP_LOAD, 0,  OP_HALT};
    uint32_t stack[16], var[3] = {0, 0, n};
    int sp = 0, pc = 0;

    for (;;) {
        switch (prog[pc++]) {
        case OP_PUSH:
            stack[sp++] = (uint32_t)prog[pc++];
            break;
        case OP_LOAD:
            stack[sp++] = var[prog[pc++]];
            break;
        case OP_STORE:
            var[prog[pc++]] = stack[--sp];
            break;
        case OP_ADD:
            sp--;
            stack[sp - 1] += stack[sp];
            break;
        case OP_SUB:
            sp--;
            stack[sp - 1] -= stack[sp];
            break;
        case OP_JNZ:
            if (stack[--sp])
                pc = prog[pc];
            else
                pc++;
            break;
        default:
            return stack[sp - 1];
        }
    }
}

/* ---- n-body (five bodies, the Computer Language Benchmarks Game's setup) ---- */
struct body {
    double x, y, z, vx, vy, vz, m;
};

static double nbody(int steps)
{
    const double pi = 3.141592653589793, solar = 4 * pi * pi, days = 365.24;
    struct body b[5] = {
        {0, 0, 0, 0, 0, 0, solar},
        {4.84143144246472090e+00, -1.16032004402742839e+00, -1.03622044471123109e-01,
         1.66007664274403694e-03 * days, 7.69901118419740425e-03 * days,
         -6.90460016972063023e-05 * days, 9.54791938424326609e-04 * solar},
        {8.34336671824457987e+00, 4.12479856412430479e+00, -4.03523417114321381e-01,
         -2.76742510726862411e-03 * days, 4.99852801234917238e-03 * days,
         2.30417297573763929e-05 * days, 2.85885980666130812e-04 * solar},
        {1.28943695621391310e+01, -1.51111514016986312e+01, -2.23307578892655734e-01,
         2.96460137564761618e-03 * days, 2.37847173959480950e-03 * days,
         -2.96589568540237556e-05 * days, 4.36624404335156298e-05 * solar},
        {1.53796971148509165e+01, -2.59193146099879641e+01, 1.79258772950371181e-01,
         2.68067772490389322e-03 * days, 1.62824170038242295e-03 * days,
         -9.51592254519715870e-05 * days, 5.15138902046611451e-05 * solar}};
    double e = 0;

    for (int s = 0; s < steps; s++) {
        for (int i = 0; i < 5; i++)
            for (int j = i + 1; j < 5; j++) {
                double dx = b[i].x - b[j].x, dy = b[i].y - b[j].y, dz = b[i].z - b[j].z;
                double d2 = dx * dx + dy * dy + dz * dz, mag = 0.01 / (d2 * sqrt(d2));

                b[i].vx -= dx * b[j].m * mag, b[i].vy -= dy * b[j].m * mag;
                b[i].vz -= dz * b[j].m * mag;
                b[j].vx += dx * b[i].m * mag, b[j].vy += dy * b[i].m * mag;
                b[j].vz += dz * b[i].m * mag;
            }
        for (int i = 0; i < 5; i++)
            b[i].x += 0.01 * b[i].vx, b[i].y += 0.01 * b[i].vy, b[i].z += 0.01 * b[i].vz;
    }
    for (int i = 0; i < 5; i++)
        e += 0.5 * b[i].m * (b[i].vx * b[i].vx + b[i].vy * b[i].vy + b[i].vz * b[i].vz);
    return e;
}

#define MAT_N 96

static double matmul(int reps)
{
    static double a[MAT_N][MAT_N], b[MAT_N][MAT_N], c[MAT_N][MAT_N];
    double sum = 0;

    for (int i = 0; i < MAT_N; i++)
        for (int j = 0; j < MAT_N; j++)
            a[i][j] = (i * 7 + j) % 13 * 0.25, b[i][j] = (i + j * 3) % 11 * 0.5;
    for (int r = 0; r < reps; r++) {
        for (int i = 0; i < MAT_N; i++)
            for (int j = 0; j < MAT_N; j++) {
                double s = 0;

                for (int k = 0; k < MAT_N; k++)
                    s += a[i][k] * b[k][j];
                c[i][j] = s;
            }
        a[r % MAT_N][r % MAT_N] += c[MAT_N - 1][MAT_N - 1] * 1e-9;
    }
    for (int i = 0; i < MAT_N; i++)
        sum += c[i][i];
    return sum;
}

static void report(const char *part, uint64_t t0, uint64_t check)
{
    printf("cpu %s %llu %016llx\n", part, (unsigned long long)(now_ns() - t0),
           (unsigned long long)check);
    fflush(stdout);
}

int main(int argc, char **argv)
{
    int scale = argc > 1 ? atoi(argv[1]) : 1;
    size_t n = 256 * 1024;
    uint8_t *buf = malloc(n), *cmp = malloc(2 * n), *dec = malloc(n);
    uint64_t t0, start, check;
    double f;

    if (scale < 1 || !buf || !cmp || !dec)
        return 2;
    fill(buf, n);
    printf("cpu begin\n");
    fflush(stdout);
    start = now_ns();

    t0 = now_ns();
    check = 0;
    for (int r = 0; r < 16 * scale; r++) {
        buf[r] ^= 1; /* a different digest each round */
        check = (check << 7 | check >> 57) ^ sha256(buf, n);
    }
    report("sha256", t0, check);

    t0 = now_ns();
    check = 0;
    for (int r = 0; r < 8 * scale; r++) {
        size_t c = lz_compress(buf, n, cmp);
        size_t d = lz_decompress(cmp, c, dec);

        if (d != n || memcmp(dec, buf, n))
            return 3;
        check += c;
    }
    report("lz77", t0, check);

    t0 = now_ns();
    report("interp", t0, interp(300000u * (uint32_t)scale));

    t0 = now_ns();
    f = nbody(100000 * scale);
    memcpy(&check, &f, sizeof(check));
    report("nbody", t0, check >> 16); /* the low bits may differ with FMA or x87 */

    t0 = now_ns();
    f = matmul(40 * scale);
    memcpy(&check, &f, sizeof(check));
    report("matmul", t0, check >> 16);

    printf("cpu total %llu\n", (unsigned long long)(now_ns() - start));
    return 0;
}
