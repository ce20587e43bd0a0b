/*
 * AVX and AVX2 (SDM Vol. 1 ch. 13-14; Vol. 2A §2.3-2.8): what an OS and a
 * program see of the YMM state and the VEX-encoded instructions:
 *   - CPUID.1:ECX AVX and OSXSAVE, CPUID.7:EBX AVX2, CPUID.(0DH,0) XCR0
 *     bit 2 and the area sizes, CPUID.(0DH,2) 256 bytes at 576;
 *   - XSETBV refuses AVX without SSE (#GP); a VEX instruction raises #UD
 *     with CR4.OSXSAVE clear or XCR0[2:1] not 11b, #NM with CR0.TS;
 *   - results of 256-bit floating-point, integer, permute, broadcast,
 *     blend, FMA and gather instructions;
 *   - VEX.128 zeroes bits 255:128 of its destination, legacy SSE, FXSAVE
 *     and FXRSTOR leave them alone, VZEROUPPER clears them (§14.1.3);
 *   - XSAVE stores them at 576 with XSTATE_BV[2], XRSTOR loads them, or
 *     zeroes them when XSTATE_BV[2] is clear, or leaves them alone when
 *     EDX:EAX does not request component 2;
 *   - VMOVAPS takes #GP on a misaligned operand, VMOVUPS not; a 32-byte
 *     load that runs into an unmapped page takes #PF and leaves its
 *     destination alone; VMASKMOVPS loads and stores only the elements
 *     its mask selects, so a masked-off element on an unmapped page does
 *     not fault, and a selected one does (#PF at that element); a gather
 *     that faults at an element leaves the elements before it done.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define CR0_TS      (1ul << 3)
#define CR4_OSFXSR  (1ul << 9)
#define CR4_OSXSAVE (1ul << 18)
#define EXC_NM      7
#define VA_EDGE     0x8000000000ull /* PML4[1]: one mapped page; the next is not */
#define XSAVE_AVX   576

typedef struct {
    uint32_t d[8];
} __attribute__((aligned(32))) vec;

static uint8_t frame[4096] __attribute__((aligned(4096)));
static uint8_t area[4096] __attribute__((aligned(64)));
static uint8_t fxarea[512] __attribute__((aligned(16)));

static void xsetbv(uint64_t v)
{
    __asm__ volatile("xsetbv" : : "c"(0), "a"((uint32_t)v), "d"((uint32_t)(v >> 32)));
}

static uint64_t try_xsetbv(uint64_t v)
{
    uint64_t at;

    __asm__ volatile(TRAP_TRY("xsetbv")
                     : [at] "=&r"(at)
                     : "c"(0), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
                     : "memory");
    return trap_last.vector;
}

static uint64_t try_vaddps(void)
{
    uint64_t at;

    __asm__ volatile(TRAP_TRY("vaddps %%ymm1, %%ymm2, %%ymm3") : [at] "=&r"(at) : : "memory");
    return trap_last.vector;
}

static int vec_eq(const vec *a, const uint32_t *w)
{
    for (int i = 0; i < 8; i++)
        if (a->d[i] != w[i])
            return 0;
    return 1;
}

static void test_cpuid_and_enable(void)
{
    uint32_t r[4];

    cpuid(1, 0, r);
    CHECK(r[2] & (1u << 28)); /* AVX */
    CHECK(!(r[2] & (1u << 27)));
    cpuid(7, 0, r);
    CHECK(r[1] & (1u << 5)); /* AVX2 */
    cpuid(0xd, 0, r);
    CHECK((r[0] & 7) == 7);
    cpuid(0xd, 2, r);
    CHECK(r[0] == 256 && r[1] == XSAVE_AVX);

    write_cr4(read_cr4() | CR4_OSFXSR);
    CHECK(try_vaddps() == EXC_UD); /* CR4.OSXSAVE clear */
    write_cr4(read_cr4() | CR4_OSXSAVE);
    cpuid(1, 0, r);
    CHECK(r[2] & (1u << 27));      /* OSXSAVE */
    CHECK(try_vaddps() == EXC_UD); /* XCR0 = x87 only */
    xsetbv(3);
    CHECK(try_vaddps() == EXC_UD);  /* XCR0[2] clear */
    CHECK(try_xsetbv(5) == EXC_GP); /* AVX without SSE */
    CHECK(try_xsetbv(7) == TRAP_NONE);
    cpuid(0xd, 0, r);
    CHECK(r[1] == XSAVE_AVX + 256); /* the area for XCR0 = 7 */
    CHECK(try_vaddps() == TRAP_NONE);
    write_cr0(read_cr0() | CR0_TS);
    CHECK(try_vaddps() == EXC_NM);
    write_cr0(read_cr0() & ~CR0_TS);
}

static void test_results(void)
{
    static const vec a = {{0x3f800000, 0x40000000, 0x40400000, 0x40800000, 0xbf800000, 0x3f000000,
                           0x41200000, 0x00000000}}; /* 1 2 3 4 -1 .5 10 0 */
    static const vec b = {{0x40000000, 0x40000000, 0x40000000, 0x40000000, 0x40000000, 0x40000000,
                           0x40000000, 0x40000000}}; /* 2 ... */
    static const vec idx = {{7, 6, 5, 4, 3, 2, 1, 0}};
    static const uint32_t sum[8] = {0x40400000, 0x40800000, 0x40a00000, 0x40c00000,
                                    0x3f800000, 0x40200000, 0x41400000, 0x40000000};
    static const uint32_t fma[8] = {0x40a00000, 0x40e00000, 0x41100000, 0x41300000,
                                    0x3f800000, 0x40800000, 0x41b80000, 0x40400000};
    static const uint32_t rev[8] = {0x00000000, 0x41200000, 0x3f000000, 0xbf800000,
                                    0x40800000, 0x40400000, 0x40000000, 0x3f800000};
    static const uint32_t ints[8] = {8, 8, 8, 8, 8, 8, 8, 8};
    static const uint32_t shl[8] = {1u << 7, 1u << 6, 1u << 5, 1u << 4,
                                    1u << 3, 1u << 2, 1u << 1, 1u << 0};
    static const uint32_t gathered[8] = {0, 2, 4, 6, 8, 10, 12, 14};
    static uint32_t table[32];
    vec out, out2, mask;
    uint32_t r[4];

    __asm__ volatile("vmovaps %1, %%ymm0\n\t"
                     "vaddps %2, %%ymm0, %%ymm1\n\t"
                     "vmovups %%ymm1, %0"
                     : "=m"(out)
                     : "m"(a), "m"(b));
    CHECK(vec_eq(&out, sum));
    __asm__ volatile("vmovdqu %1, %%ymm4\n\t"
                     "vpermd %2, %%ymm4, %%ymm5\n\t" /* ymm5[i] = a[idx[i]] */
                     "vmovdqu %%ymm5, %0"
                     : "=m"(out)
                     : "m"(idx), "m"(a));
    CHECK(vec_eq(&out, rev));
    __asm__ volatile("movl $1, %%eax\n\t"
                     "vmovd %%eax, %%xmm6\n\t"
                     "vpbroadcastd %%xmm6, %%ymm6\n\t"
                     "vpsllvd %2, %%ymm6, %%ymm7\n\t" /* 1 << idx[i] */
                     "vmovdqu %%ymm7, %0\n\t"
                     "vpaddd %%ymm6, %%ymm6, %%ymm8\n\t"
                     "vpslld $2, %%ymm8, %%ymm8\n\t"
                     "vmovdqu %%ymm8, %1"
                     : "=m"(out), "=m"(out2)
                     : "m"(idx)
                     : "eax");
    CHECK(vec_eq(&out, shl));
    CHECK(vec_eq(&out2, ints));
    cpuid(1, 0, r);
    if (r[2] & (1u << 12)) { /* FMA: a * b + 3 */
        __asm__ volatile("vmovaps %1, %%ymm9\n\t"
                         "vbroadcastss %3, %%ymm10\n\t"
                         "vfmadd231ps %2, %%ymm9, %%ymm10\n\t"
                         "vmovups %%ymm10, %0"
                         : "=m"(out)
                         : "m"(a), "m"(b), "m"(sum[0]));
        CHECK(vec_eq(&out, fma));
    }
    /* Gather table[2 * i] under a full mask: the mask ends all zero. */
    for (int i = 0; i < 32; i++)
        table[i] = (uint32_t)i;
    __asm__ volatile("vpcmpeqd %%ymm11, %%ymm11, %%ymm11\n\t"
                     "vmovdqu %2, %%ymm12\n\t"
                     "vpaddd %%ymm12, %%ymm12, %%ymm12\n\t" /* 2 * (7 - i) */
                     "vpxor %%ymm13, %%ymm13, %%ymm13\n\t"
                     "vpgatherdd %%ymm11, (%3, %%ymm12, 4), %%ymm13\n\t"
                     "vmovdqu %%ymm13, %0\n\t"
                     "vmovdqu %%ymm11, %1"
                     : "=m"(out), "=m"(mask)
                     : "m"(idx), "r"(table)
                     : "memory");
    for (int i = 0; i < 4; i++) { /* reverse: the indices count down */
        uint32_t t = out.d[i];

        out.d[i] = out.d[7 - i];
        out.d[7 - i] = t;
    }
    CHECK(vec_eq(&out, gathered));
    CHECK(vec_eq(&mask, (const uint32_t[8]){0}));
}

static int memcmp_(const void *a, const void *b, unsigned long n)
{
    const uint8_t *x = a, *y = b;

    for (unsigned long i = 0; i < n; i++)
        if (x[i] != y[i])
            return 1;
    return 0;
}

/* YMM2's upper half after prog: all ones going in. */
#define UPPER_AFTER(prog, out)                                                                     \
    __asm__ volatile("vpcmpeqd %%ymm2, %%ymm2, %%ymm2\n\t" prog "\n\t"                             \
                     "vextracti128 $1, %%ymm2, %0"                                                 \
                     : "=m"(out)                                                                   \
                     : "m"(fxarea)                                                                 \
                     : "memory")

static void test_upper_halves(void)
{
    static const uint32_t ones[4] = {~0u, ~0u, ~0u, ~0u}, zeros[4] = {0};
    uint32_t up[4];

    UPPER_AFTER("movaps %%xmm0, %%xmm2", up); /* legacy SSE */
    CHECK(memcmp_(up, ones, 16) == 0);
    UPPER_AFTER("addps %%xmm0, %%xmm2", up);
    CHECK(memcmp_(up, ones, 16) == 0);
    UPPER_AFTER("fxsave64 %1\n\tfxrstor64 %1", up);
    CHECK(memcmp_(up, ones, 16) == 0);
    UPPER_AFTER("vmovaps %%xmm0, %%xmm2", up); /* VEX.128 */
    CHECK(memcmp_(up, zeros, 16) == 0);
    UPPER_AFTER("vaddps %%xmm0, %%xmm0, %%xmm2", up);
    CHECK(memcmp_(up, zeros, 16) == 0);
    UPPER_AFTER("vzeroupper", up);
    CHECK(memcmp_(up, zeros, 16) == 0);
}

static void test_xsave(void)
{
    static const vec pattern = {{1, 2, 3, 4, 0x11111111, 0x22222222, 0x33333333, 0x44444444}};
    uint64_t bv;
    vec out;

    memset(area, 0, sizeof(area));
    __asm__ volatile("vmovdqu %0, %%ymm5" : : "m"(pattern));
    __asm__ volatile("xsave64 %0" : "+m"(area) : "a"(7), "d"(0) : "memory");
    memcpy(&bv, area + 512, 8);
    CHECK(bv & 4);
    CHECK(memcmp_(area + XSAVE_AVX + 5 * 16, &pattern.d[4], 16) == 0);
    CHECK(memcmp_(area + 160 + 5 * 16, &pattern.d[0], 16) == 0);

    __asm__ volatile("vzeroupper\n\t"
                     "xrstor64 %1\n\t"
                     "vmovdqu %%ymm5, %0"
                     : "=m"(out)
                     : "m"(area), "a"(7), "d"(0)
                     : "memory");
    CHECK(vec_eq(&out, pattern.d));
    /* Component 2 not requested: the upper halves stay as they are. */
    __asm__ volatile("vzeroupper\n\t"
                     "xrstor64 %1\n\t"
                     "vmovdqu %%ymm5, %0"
                     : "=m"(out)
                     : "m"(area), "a"(3), "d"(0)
                     : "memory");
    CHECK(vec_eq(&out, (const uint32_t[8]){1, 2, 3, 4, 0, 0, 0, 0}));
    /* XSTATE_BV[2] clear: the initial state, zeros. */
    __asm__ volatile("vmovdqu %0, %%ymm5" : : "m"(pattern));
    bv &= ~4ull;
    memcpy(area + 512, &bv, 8);
    __asm__ volatile("xrstor64 %1\n\t"
                     "vmovdqu %%ymm5, %0"
                     : "=m"(out)
                     : "m"(area), "a"(7), "d"(0)
                     : "memory");
    CHECK(vec_eq(&out, (const uint32_t[8]){1, 2, 3, 4, 0, 0, 0, 0}));
}

static void test_faults(void)
{
    static const vec src = {{1, 2, 3, 4, 5, 6, 7, 8}};
    static const vec low4 = {{~0u, ~0u, ~0u, ~0u, 0, 0, 0, 0}};
    static const vec fifth = {{0, 0, 0, 0, ~0u, 0, 0, 0}};
    uint64_t *pml4 = pgtable_new(), at;
    static const vec gather_idx = {{0, 2, 4, 5, 6, 7, 8, 9}}; /* dwords from edge */
    uint8_t *edge = (uint8_t *)(VA_EDGE + 4096 - 16);         /* 16 mapped bytes, then none */
    vec out, gmask;

    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    pgtable_map(pml4, VA_EDGE, (uint64_t)frame, PAGE_4K, PTE_P | PTE_RW);
    write_cr3((uint64_t)pml4);
    memset(frame, 0x5a, sizeof(frame));

    __asm__ volatile("vmovdqu %0, %%ymm1" : : "m"(src));
    __asm__ volatile(TRAP_TRY("vmovaps 16(%[p]), %%ymm1")
                     : [at] "=&r"(at)
                     : [p] "r"(area)
                     : "memory");
    CHECK(trap_last.vector == EXC_GP);
    __asm__ volatile(TRAP_TRY("vmovups 16(%[p]), %%ymm2")
                     : [at] "=&r"(at)
                     : [p] "r"(area)
                     : "memory");
    CHECK(trap_last.vector == TRAP_NONE);
    /* 32 bytes across into the unmapped page: #PF there, YMM1 unchanged. */
    __asm__ volatile(TRAP_TRY("vmovdqu (%[p]), %%ymm1\n\t") "vmovdqu %%ymm1, %[o]"
                     : [at] "=&r"(at), [o] "=m"(out)
                     : [p] "r"(edge)
                     : "memory");
    CHECK(trap_last.vector == EXC_PF && trap_last.cr2 == VA_EDGE + 4096);
    CHECK(vec_eq(&out, src.d));

    /* VMASKMOVPS: elements 4-7 lie on the unmapped page. */
    __asm__ volatile("vmovdqu %[m], %%ymm3\n\t" TRAP_TRY(
                         "vmaskmovps (%[p]), %%ymm3, %%ymm4") "vmovdqu %%ymm4, %[o]"
                     : [at] "=&r"(at), [o] "=m"(out)
                     : [p] "r"(edge), [m] "m"(low4)
                     : "memory");
    CHECK(trap_last.vector == TRAP_NONE);
    CHECK(vec_eq(&out, (const uint32_t[8]){0x5a5a5a5a, 0x5a5a5a5a, 0x5a5a5a5a, 0x5a5a5a5a}));
    __asm__ volatile("vmovdqu %[m], %%ymm3\n\t" TRAP_TRY("vmaskmovps %%ymm1, %%ymm3, (%[p])")
                     : [at] "=&r"(at)
                     : [p] "r"(edge), [m] "m"(low4)
                     : "memory");
    CHECK(trap_last.vector == TRAP_NONE);
    CHECK(memcmp_(edge, src.d, 16) == 0);
    __asm__ volatile("vmovdqu %[m], %%ymm3\n\t" TRAP_TRY("vmaskmovps (%[p]), %%ymm3, %%ymm4")
                     : [at] "=&r"(at)
                     : [p] "r"(edge), [m] "m"(fifth)
                     : "memory");
    CHECK(trap_last.vector == EXC_PF && trap_last.cr2 == VA_EDGE + 4096);

    /* A gather whose element 2 lies on the unmapped page: #PF there, with
     * elements 0 and 1 loaded and their mask elements cleared, element 2's
     * still set (SDM Vol. 2C VPGATHERDD: faults are delivered in element
     * order; later elements may or may not be done). */
    __asm__ volatile("vpcmpeqd %%ymm5, %%ymm5, %%ymm5\n\t"
                     "vmovdqu %0, %%ymm6\n\t"
                     "vpxor %%ymm7, %%ymm7, %%ymm7"
                     :
                     : "m"(gather_idx));
    __asm__ volatile(TRAP_TRY("vpgatherdd %%ymm5, (%[p], %%ymm6, 4), %%ymm7")
                     : [at] "=&r"(at)
                     : [p] "r"(edge)
                     : "memory");
    __asm__ volatile("vmovdqu %%ymm7, %0\n\tvmovdqu %%ymm5, %1" : "=m"(out), "=m"(gmask));
    CHECK(trap_last.vector == EXC_PF && trap_last.cr2 == VA_EDGE + 4096);
    CHECK(out.d[0] == 1 && out.d[1] == 3 && out.d[2] == 0); /* the masked store's */
    CHECK(gmask.d[0] == 0 && gmask.d[1] == 0 && gmask.d[2] == ~0u);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    uint32_t r[4];

    (void)cmdline;
    (void)mem_size;
    idt_init();
    cpuid(1, 0, r);
    if (!(r[2] & (1u << 28))) {
        printf("SKIP AVX: not in CPUID.01H:ECX\n");
        guest_finish();
    }
    test_cpuid_and_enable();
    test_results();
    test_upper_halves();
    test_xsave();
    test_faults();
    guest_finish();
}
