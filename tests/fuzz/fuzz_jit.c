/*
 * libFuzzer target for the emu engine's binary translator (src/accel/emu/jit,
 * its contract in jit.h): every input runs twice from the same state, once
 * interpreted and once translated (each block at its first run), and both
 * runs must end the same; the interpreter is the reference.
 *
 * Input: as emu_vm.h says, but the mode is 64-bit long mode, or
 * compatibility mode (32-bit code) where bits 0-1 of byte 0 are 3: the
 * translator's templates are for 64-bit code, 32-bit code mostly calls the
 * handlers. With the IDT (byte 0 bit 2), vector v goes to a stub at
 * STUBS + 16 v (64-bit code) that counts it in the 32-bit word at
 * COUNTS + 4 v and jumps to the input's code again, so the exceptions
 * delivered are compared with the rest of RAM. Byte 0 bit 3 enables SSE
 * (CR4.OSFXSR and OSXMMEXCPT; AVX too where the CPU model has it: CR4.
 * OSXSAVE, XCR0 = 7) with XMM and YMM registers seeded from bytes 2-9
 * (numbers, zeros, infinities, NaNs, denormals) and bits 4-7 pick the
 * MXCSR (rounding, FTZ/DAZ, unmasked exceptions, sticky flags).
 *
 * Both runs get PASSES passes of the run loop (cpu->pass_limit) and the
 * same virtual time: emu_tsc and emu_now_ns are wrapped (ld --wrap, set by
 * meson.build and scripts/fuzz-run) to read the passes run, as the
 * interrupt controllers' clock does (emu_vm.c). They are compared by:
 * the GPRs, RIP, RFLAGS, the segment and descriptor-table registers,
 * CR0/2/3/4/8 and EFER, the x87/SSE/AVX state (the FXSAVE image, YMM), whether the vCPU halted or
 * triple-faulted, the passes it took, whether it stopped the VM, and every RAM page either run
 * stored to. A difference aborts with a line saying what differs. An input
 * whose interpreted run does not repeat itself (it read the RTC, the one
 * host clock left) is not compared, nor one that stored to the page tables
 * (see LLVMFuzzerTestOneInput). FUZZ_JIT_VERBOSE=1 in the environment
 * prints how each input's two runs ended (for checking seeds), and
 * FUZZ_JIT_PASSES=N runs N passes instead of PASSES (to find the pass
 * where two runs part).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "accel/emu/fpu.h"
#include "accel/emu/jit/jit.h"
#include "boot/layout.h"
#include "emu_vm.h"

#define PASSES 64 /* up to 1024 instructions: loops run a few times */
#define STUBS  0x9000
#define COUNTS 0xa000

uint64_t __wrap_emu_tsc(const struct emu_cpu *cpu);
uint64_t __wrap_emu_now_ns(void);

uint64_t __wrap_emu_tsc(const struct emu_cpu *cpu)
{
    return fz_virtual_ns() + cpu->msr.tsc_offset; /* EMU_TSC_HZ is 1 GHz */
}

uint64_t __wrap_emu_now_ns(void)
{
    return fz_virtual_ns();
}

/* How a run ended. */
struct outcome {
    struct cpu_state s;
    uint8_t fx[FX_HOST_BYTES];
    uint8_t ymmh[16][16];
    bool halted, triple_fault, stopping;
    uint64_t passes;
    bool paging_stored;              /* the input stored to the page tables */
    bool written[FZ_RAM_PAGES];      /* stored to, or a boot table's page */
    uint8_t ram[FZ_RAM_PAGES][4096]; /* the pages written */
};

static struct outcome interp, translated, again;
static uint64_t passes = PASSES;

/* Interrupt gates to the stubs (SDM Vol. 3A §6.14.1) and the stubs:
 * incl COUNTS+4v (absolute); jmp FZ_ENTRY. */
static void write_stubs(void)
{
    uint8_t *idt = mem_ptr(&fz_vm.mem, FZ_IDT_BASE, 256 * 16);
    uint8_t *stubs = mem_ptr(&fz_vm.mem, STUBS, 256 * 16);

    for (int v = 0; v < 256; v++) {
        uint64_t h = STUBS + 16 * (uint64_t)v;
        uint64_t lo = (h & 0xffff) | (uint64_t)SEL_CODE64 << 16 | 0x8eULL << 40 |
                      ((h >> 16) & 0xffff) << 48,
                 hi = 0;
        uint32_t count = COUNTS + 4 * (uint32_t)v;
        int32_t rel = (int32_t)(FZ_ENTRY - (h + 12));
        uint8_t *p = stubs + 16 * v;

        memcpy(idt + v * 16, &lo, 8);
        memcpy(idt + v * 16 + 8, &hi, 8);
        memcpy(p, "\xff\x04\x25", 3);
        memcpy(p + 3, &count, 4);
        p[7] = 0xe9;
        memcpy(p + 8, &rel, 4);
    }
    vm_mem_written(&fz_vm, FZ_IDT_BASE, 256 * 16);
    vm_mem_written(&fz_vm, STUBS, 256 * 16);
}

/* A value for one 64-bit XMM lane, from the seed. */
static uint64_t lane(uint64_t *seed)
{
    static const uint64_t special[] = {
        0,
        0x8000000000000000ull, /* +-0.0 */
        0x7ff0000000000000ull,
        0xfff0000000000000ull, /* +-inf */
        0x7ff8000000000000ull,
        0x7ff4000000000001ull, /* quiet and signalling NaN */
        0x0000000000000001ull,
        0x800fffffffffffffull, /* denormals */
        0x7f8000007fc00000ull,
        0x0000000180000001ull, /* float inf, NaN, denormals */
        0x3ff0000000000000ull,
        0x3f8000003f800000ull, /* 1.0, two 1.0f */
    };
    double d;
    float f[2];
    uint64_t v;

    *seed = *seed * 6364136223846793005ull + 1442695040888963407ull;
    v = *seed >> 16;
    switch (*seed >> 61) {
    case 0:
    case 1:
        return special[v % (sizeof(special) / sizeof(special[0]))];
    case 2:
        d = (double)(int32_t)(v & 0xffff) / (double)((v >> 16 & 0xff) + 1);
        memcpy(&v, &d, 8);
        return v;
    case 3:
        f[0] = (float)(int16_t)v / 7.0f;
        f[1] = (float)(int16_t)(v >> 16) * 3.0f;
        memcpy(&v, f, 8);
        return v;
    default:
        return v ^ *seed << 48;
    }
}

/* Byte 0 bit 3: SSE on, XMM registers and MXCSR from the input. */
static void sse_state(const uint8_t *data)
{
    static const uint32_t mxcsr[16] = {
        MXCSR_INIT,
        MXCSR_INIT | 0x6000,
        MXCSR_INIT | 0x2000,
        MXCSR_INIT | 0x4000,
        MXCSR_INIT | 0x8040,
        MXCSR_INIT | 0x0021,
        MXCSR_INIT & ~0x1000u,
        MXCSR_INIT & ~0x0200u,
        MXCSR_INIT & ~0x0080u,
        MXCSR_INIT & ~0x0100u,
        MXCSR_INIT & ~0x0c00u,
        0x0000,
        MXCSR_INIT | 0x0001,
        MXCSR_INIT | 0x8000,
        MXCSR_INIT | 0x0040,
        0x6000,
    };
    uint64_t seed;

    if (!(data[0] & 8))
        return;
    fz_cpu->cr4 |= CR4_OSFXSR | CR4_OSXMMEXCPT;
    if (fpu_xcr0_supported(fz_cpu) & XFEATURE_AVX) {
        fz_cpu->cr4 |= CR4_OSXSAVE;
        fz_cpu->xcr0 = XFEATURE_X87 | XFEATURE_SSE | XFEATURE_AVX;
    }
    memcpy(&seed, data + 2, 8);
    seed ^= 0x5353455353455353ull;
    for (int i = 0; i < 32; i++) {
        uint64_t v = lane(&seed);

        memcpy(fz_cpu->fxsave + FX_XMM(0) + 8 * i, &v, 8);
        v = lane(&seed);
        memcpy(&fz_cpu->ymmh[0][0] + 8 * i, &v, 8);
    }
    memcpy(fz_cpu->fxsave + FX_MXCSR, &mxcsr[data[0] >> 4], 4);
}

static int run(struct outcome *o, const uint8_t *data, size_t size, bool jit)
{
    struct emu_jit *saved;
    uint64_t flushes;

    if (fz_start(data, size, (data[0] & 3) == 3 ? 3 : 2, passes))
        return -1;
    if (data[0] & 4)
        write_stubs();
    sse_state(data);
    saved = fz_cpu->jit;
    if (!jit)
        fz_cpu->jit = NULL;
    flushes = fz_cpu->stats.block_flushes;
    fz_run();
    fz_cpu->jit = saved;
    /* The block arena emptied while the translator was detached (its
     * flush empties the code cache and the jump cache only through
     * cpu->jit): their translations point into the old blocks. (Not after
     * the translated run: its flushes emptied both, and blocks made since
     * hold translations.) */
    if (!jit && fz_cpu->stats.block_flushes != flushes)
        emu_jit_flush(fz_cpu);
    fz_vm.accel->get_state(fz_vm.vcpus[0].accel, &o->s);
    memcpy(o->fx, fz_cpu->fxsave, sizeof(o->fx));
    memcpy(o->ymmh, fz_cpu->ymmh, sizeof(o->ymmh));
    o->halted = fz_cpu->halted;
    o->triple_fault = fz_cpu->triple_fault;
    o->stopping = atomic_load(&fz_vm.stopping);
    o->passes = fz_cpu->passes;
    o->paging_stored = false;
    for (uint64_t p = BOOT_PML4 >> 12; p < FZ_TABLE_PAGES; p++)
        o->paging_stored |= fz_page_written(p);
    for (uint64_t p = 0; p < FZ_RAM_PAGES; p++) {
        o->written[p] = p < FZ_TABLE_PAGES || fz_page_written(p);
        if (o->written[p])
            memcpy(o->ram[p], fz_vm.mem.base + (p << 12), 4096);
    }
    return 0;
}

static const uint8_t *page_of(const struct outcome *o, uint64_t p)
{
    return o->written[p] ? o->ram[p] : fz_pristine(p);
}

static bool seg_differs(const struct cpu_segment *a, const struct cpu_segment *b)
{
    return a->base != b->base || a->limit != b->limit || a->selector != b->selector ||
           a->type != b->type || a->s != b->s || a->dpl != b->dpl || a->present != b->present ||
           a->avl != b->avl || a->l != b->l || a->db != b->db || a->g != b->g ||
           a->unusable != b->unusable;
}

/* What differs between a and b, in why; false if nothing does. */
static bool differ(const struct outcome *a, const struct outcome *b, char *why, size_t len)
{
    static const char *const gpr_names[16] = {"rax", "rbx", "rcx", "rdx", "rsi", "rdi",
                                              "rsp", "rbp", "r8",  "r9",  "r10", "r11",
                                              "r12", "r13", "r14", "r15"};
    static const char *const seg_names[8] = {"cs", "ds", "es", "fs", "gs", "ss", "tr", "ldt"};
    const uint64_t *ga = &a->s.rax, *gb = &b->s.rax;
    const struct cpu_segment *sa = &a->s.cs, *sb = &b->s.cs;
    const uint64_t *ca = &a->s.cr0, *cb = &b->s.cr0;
    static const char *const cr_names[6] = {"cr0", "cr2", "cr3", "cr4", "cr8", "efer"};

    for (int i = 0; i < 18; i++)
        if (ga[i] != gb[i]) {
            snprintf(why, len, "%s: %016" PRIx64 " interpreted, %016" PRIx64 " translated",
                     i < 16    ? gpr_names[i]
                     : i == 16 ? "rip"
                               : "rflags",
                     ga[i], gb[i]);
            return true;
        }
    for (int i = 0; i < 8; i++)
        if (seg_differs(&sa[i], &sb[i])) {
            snprintf(why, len,
                     "%s: selector %04x base %" PRIx64 " interpreted, %04x base %" PRIx64
                     " translated (or its other fields)",
                     seg_names[i], sa[i].selector, sa[i].base, sb[i].selector, sb[i].base);
            return true;
        }
    if (a->s.gdt.base != b->s.gdt.base || a->s.gdt.limit != b->s.gdt.limit ||
        a->s.idt.base != b->s.idt.base || a->s.idt.limit != b->s.idt.limit) {
        snprintf(why, len, "the GDTR or IDTR");
        return true;
    }
    for (int i = 0; i < 6; i++)
        if (ca[i] != cb[i]) {
            snprintf(why, len, "%s: %" PRIx64 " interpreted, %" PRIx64 " translated", cr_names[i],
                     ca[i], cb[i]);
            return true;
        }
    for (unsigned i = 0; i < sizeof(a->fx); i++)
        if (a->fx[i] != b->fx[i]) {
            snprintf(why, len, "FXSAVE image at %u: %02x interpreted, %02x translated", i, a->fx[i],
                     b->fx[i]);
            return true;
        }
    if (memcmp(a->ymmh, b->ymmh, sizeof(a->ymmh))) {
        snprintf(why, len, "the upper halves of the YMM registers");
        return true;
    }
    if (a->halted != b->halted || a->triple_fault != b->triple_fault ||
        a->stopping != b->stopping) {
        snprintf(why, len,
                 "halted %d, triple fault %d, VM stopped %d interpreted; %d, %d, %d "
                 "translated",
                 a->halted, a->triple_fault, a->stopping, b->halted, b->triple_fault, b->stopping);
        return true;
    }
    if (a->passes != b->passes) {
        snprintf(why, len, "passes: %" PRIu64 " interpreted, %" PRIu64 " translated", a->passes,
                 b->passes);
        return true;
    }
    for (uint64_t p = 0; p < FZ_RAM_PAGES; p++) {
        const uint8_t *pa, *pb;

        if (!a->written[p] && !b->written[p])
            continue;
        pa = page_of(a, p);
        pb = page_of(b, p);
        if (!memcmp(pa, pb, 4096))
            continue;
        for (unsigned i = 0; i < 4096; i++)
            if (pa[i] != pb[i]) {
                snprintf(why, len, "RAM at 0x%" PRIx64 ": %02x interpreted, %02x translated",
                         (p << 12) + i, pa[i], pb[i]);
                return true;
            }
    }
    return false;
}

/* FUZZ_JIT_VERBOSE */
static void report(const char *how, const struct outcome *o)
{
    fprintf(stderr,
            "fuzz_jit: %s: rip %" PRIx64 " rflags %" PRIx64 " after %" PRIu64 " passes, "
            "halted %d, triple fault %d, VM stopped %d, cr2 %" PRIx64 ", vectors counted:",
            how, o->s.rip, o->s.rflags, o->passes, o->halted, o->triple_fault, o->stopping,
            o->s.cr2);
    for (int v = 0; v < 32; v++) {
        uint32_t n;

        memcpy(&n, page_of(o, COUNTS >> 12) + 4 * v, 4);
        if (n)
            fprintf(stderr, " %d: %" PRIu32, v, n);
    }
    fprintf(stderr, "\n");
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    char why[200], again_why[200];

    if (size < FZ_HEADER)
        return 0;
    if (!fz_cpu) {
        if (getenv("FUZZ_JIT_PASSES"))
            passes = strtoull(getenv("FUZZ_JIT_PASSES"), NULL, 0);
        fz_init(false, true);
        if (!fz_cpu->jit) { /* meson's "skipped" for the corpus replay */
            fprintf(stderr, "fuzz_jit: SKIP: this host gives the translator no code cache\n");
            exit(77);
        }
    }
    if (run(&interp, data, size, false) || run(&translated, data, size, true))
        return 0;
    if (getenv("FUZZ_JIT_VERBOSE")) {
        report("interpreted", &interp);
        report("translated", &translated);
    }
    if (!differ(&interp, &translated, why, sizeof(why)))
        return 0;
    /* After a store to a paging structure without INVLPG, either the old
     * or the new translation may be used (SDM Vol. 3A §4.10.4.3), and the
     * two differ there: the interpreter reads a read-modify-write operand
     * through the TLB's read entry, the translator through its write
     * entry. */
    if (interp.paging_stored || translated.paging_stored) {
        if (getenv("FUZZ_JIT_VERBOSE"))
            fprintf(stderr, "fuzz_jit: not compared (page tables stored to): %s\n", why);
        return 0;
    }
    if (run(&again, data, size, false) || differ(&interp, &again, again_why, sizeof(again_why)))
        return 0; /* it depends on the host */
    fprintf(stderr, "fuzz_jit: interpreter and translator differ: %s\n", why);
    abort();
}
