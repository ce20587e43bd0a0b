/*
 * Host code for guest x87/MMX/SSE instructions (used by fpu_host.c): what
 * the host CPU has, the per-thread executable page, and the re-encoding of
 * a guest instruction for 64-bit mode into one of the page's slots.
 *
 * Re-encoding: segment and address-size prefixes go (the memory operand is
 * the page's buffer, reached RIP-relative, so they mean nothing), and so
 * do prefixes Zydis found ignored; a memory operand's ModRM/SIB/disp
 * become [RIP+disp32]; a register operand naming RSP is renamed to a free
 * register, because fpu_stub.S never loads the guest's RSP. The rest of
 * the bytes (opcode, immediate) stay as the guest wrote them: x87 and SSE
 * encodings mean the same in every mode.
 *
 * A full slot is ENDBR64, the instruction, jmp *back_full(%rip). An SSE
 * slot also moves MXCSR and the named XMM registers through the page
 * itself, so that the trampoline can skip FXRSTOR/FXSAVE of the whole
 * state, which cost about a microsecond per instruction. An AVX slot moves
 * whole YMM registers (VMOVDQU) and ends with VZEROUPPER, so that the
 * host's own SSE code after it pays no AVX-to-SSE transition.
 */
#include <cpuid.h>
#include <pthread.h>
#include <sys/mman.h>
#include <unistd.h>

#include "accel/emu/fpu.h"

#define NSLOTS    1024
#define SLOT_SIZE 128
#define MAX_INSN  15

void fpu_stub_exit(void);
void fpu_stub_exit_sse(void);

/* The code is on pages of its own: a store near code that runs makes the
 * CPU assume self-modifying code and flush its pipeline, and the data
 * part is written at every instruction. The data pages are mapped
 * read-write and the code pages read-execute right after them (slots
 * reach the data RIP-relative), from one memfd that code_rw maps again,
 * read-write, for building slots: no page is ever writable and executable
 * (as the translator's code cache, jit/cache.c). */
struct page {
    struct fpu_page pub;
    uint8_t (*code_rw)[SLOT_SIZE]; /* code, writable */
    struct {
        uint8_t len;
        uint8_t bytes[3 + MAX_INSN]; /* kind, register mask, encoding with a zero displacement */
    } key[NSLOTS];
    uint8_t code[NSLOTS][SLOT_SIZE] __attribute__((aligned(4096)));
};

#define CODE_AT    offsetof(struct page, code)
#define CODE_BYTES (sizeof(struct page) - CODE_AT)

/* What the host CPU has, read once: CPUID.1:ECX, CPUID.7:EBX, whether
 * its OS enabled the YMM state (XCR0[2:1], SDM Vol. 1 §14.3), and the
 * MXCSR_MASK that its FXSAVE reports. */
static struct {
    uint32_t cpuid1_ecx, cpuid7_ebx;
    bool ymm;
    uint32_t mxcsr_mask;
} host_cpu;
static pthread_once_t host_once = PTHREAD_ONCE_INIT;

static void host_init(void)
{
    uint8_t fx[512] __attribute__((aligned(16)));
    unsigned a, b, c, d;

    host_cpu.cpuid1_ecx = __get_cpuid(1, &a, &b, &c, &d) ? c : 0;
    host_cpu.cpuid7_ebx = __get_cpuid_count(7, 0, &a, &b, &c, &d) ? b : 0;
    if ((host_cpu.cpuid1_ecx & (bit_OSXSAVE | bit_AVX)) == (bit_OSXSAVE | bit_AVX)) {
        __asm__("xgetbv" : "=a"(a), "=d"(d) : "c"(0));
        host_cpu.ymm = (a & 6) == 6;
    }
    memset(fx, 0, sizeof(fx));
    __asm__ volatile("fxsave64 %0" : "=m"(fx));
    memcpy(&host_cpu.mxcsr_mask, fx + FX_MXCSR_MASK, 4);
    /* A zero mask means a CPU without DAZ (SDM Vol. 1 §11.6.6); AMD's
     * misaligned-SSE bit 17 stays hidden from the guest. */
    host_cpu.mxcsr_mask = host_cpu.mxcsr_mask ? host_cpu.mxcsr_mask & 0xffff : 0xffbf;
}

uint32_t fpu_mxcsr_mask(void)
{
    pthread_once(&host_once, host_init);
    return host_cpu.mxcsr_mask;
}

bool fpu_host_has(ZydisISASet set)
{
    uint32_t ecx;
    bool avx;

    pthread_once(&host_once, host_init);
    ecx = host_cpu.cpuid1_ecx;
    avx = host_cpu.ymm;
    switch (set) {
    case ZYDIS_ISA_SET_AVX:
        return avx;
    case ZYDIS_ISA_SET_AVX2:
    case ZYDIS_ISA_SET_AVX2GATHER:
        return avx && (host_cpu.cpuid7_ebx & bit_AVX2);
    case ZYDIS_ISA_SET_FMA:
        return avx && (ecx & bit_FMA);
    case ZYDIS_ISA_SET_F16C:
        return avx && (ecx & bit_F16C);
    case ZYDIS_ISA_SET_AVXAES:
        return avx && (ecx & bit_AES);
    case ZYDIS_ISA_SET_SSE3:
    case ZYDIS_ISA_SET_SSE3X87:
        return ecx & bit_SSE3;
    case ZYDIS_ISA_SET_SSSE3:
    case ZYDIS_ISA_SET_SSSE3MMX:
        return ecx & bit_SSSE3;
    case ZYDIS_ISA_SET_SSE4:
        return ecx & bit_SSE4_1;
    case ZYDIS_ISA_SET_SSE42:
        return ecx & bit_SSE4_2;
    case ZYDIS_ISA_SET_AES:
        return ecx & bit_AES;
    case ZYDIS_ISA_SET_PCLMULQDQ:
        return ecx & bit_PCLMUL;
    default:
        return true; /* x87, MMX, SSE, SSE2: every x86-64 CPU */
    }
}

struct fpu_page *fpu_page_create(void)
{
    struct page *p = MAP_FAILED;
    void *rw = MAP_FAILED;
    int fd = memfd_create("vx86-fpu", MFD_CLOEXEC);

    if (fd < 0 || ftruncate(fd, sizeof(struct page)) ||
        (p = mmap(NULL, sizeof(struct page), PROT_NONE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)) ==
            MAP_FAILED ||
        mmap(p, CODE_AT, PROT_READ | PROT_WRITE, MAP_SHARED | MAP_FIXED, fd, 0) == MAP_FAILED ||
        mmap(p->code, CODE_BYTES, PROT_READ | PROT_EXEC, MAP_SHARED | MAP_FIXED, fd,
             (off_t)CODE_AT) == MAP_FAILED ||
        (rw = mmap(NULL, CODE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, (off_t)CODE_AT)) ==
            MAP_FAILED) {
        if (p != MAP_FAILED)
            munmap(p, sizeof(struct page));
        if (fd >= 0)
            close(fd);
        return NULL;
    }
    close(fd);
    p->code_rw = rw;
    p->pub.back_full = (uint64_t)(uintptr_t)fpu_stub_exit;
    p->pub.back_sse = (uint64_t)(uintptr_t)fpu_stub_exit_sse;
    return &p->pub;
}

void fpu_page_destroy(struct fpu_page *pub)
{
    struct page *p = (struct page *)pub;

    if (!p)
        return;
    munmap(p->code_rw, CODE_BYTES);
    munmap(p, sizeof(struct page));
}

static bool is_rsp(ZydisRegister r)
{
    return r == ZYDIS_REGISTER_SPL || r == ZYDIS_REGISTER_SP || r == ZYDIS_REGISTER_ESP ||
           r == ZYDIS_REGISTER_RSP;
}

int fpu_rsp_stand_in(const struct emu_cpu *cpu)
{
    unsigned used = 1u << GPR_RSP;
    bool rsp = false;

    for (int i = 0; i < cpu->decoded->insn.operand_count_visible; i++)
        rsp |= cpu->decoded->ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER &&
               is_rsp(cpu->decoded->ops[i].reg.value);
    if (!rsp)
        return -1;
    for (int i = 0; i < cpu->decoded->insn.operand_count; i++) {
        const ZydisDecodedOperand *o = &cpu->decoded->ops[i];
        ZydisRegisterClass c = ZydisRegisterGetClass(o->reg.value);

        if (o->type == ZYDIS_OPERAND_TYPE_REGISTER && c >= ZYDIS_REGCLASS_GPR8 &&
            c <= ZYDIS_REGCLASS_GPR64)
            used |= 1u << ZydisRegisterGetId(
                        ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, o->reg.value));
    }
    for (int r = 0; r < 8; r++)
        if (!(used & (1u << r)))
            return r;
    return -1;
}

static bool is_segment_prefix(uint8_t p)
{
    return p == 0x26 || p == 0x2e || p == 0x36 || p == 0x3e || p == 0x64 || p == 0x65;
}

/* Instructions whose VEX.W1 makes a GPR or memory operand 64-bit in 64-bit
 * mode and is ignored elsewhere (SDM Vol. 2C VMOVD/VMOVQ, VPEXTRD/Q, VPINSRD/Q,
 * VCVTSI2SS/SD, VCVT(T)SS2SI, VCVT(T)SD2SI): Zydis names them by their
 * 32-bit form there. */
static bool w_selects_gpr64(ZydisMnemonic m)
{
    switch (m) {
    case ZYDIS_MNEMONIC_VMOVD:
    case ZYDIS_MNEMONIC_VPEXTRD:
    case ZYDIS_MNEMONIC_VPINSRD:
    case ZYDIS_MNEMONIC_VCVTSI2SS:
    case ZYDIS_MNEMONIC_VCVTSI2SD:
    case ZYDIS_MNEMONIC_VCVTSS2SI:
    case ZYDIS_MNEMONIC_VCVTTSS2SI:
    case ZYDIS_MNEMONIC_VCVTSD2SI:
    case ZYDIS_MNEMONIC_VCVTTSD2SI:
        return true;
    default:
        return false;
    }
}

/* Rewrites the VEX prefix at vex for 64-bit mode: with a memory operand
 * (now RIP-relative) VEX.X and VEX.B extend nothing; 32-bit code ignores
 * VEX.B and VEX.vvvv[3] (and VEX.R and VEX.X are 1 there, or the bytes
 * would be LES/LDS; SDM Vol. 2A §2.3.5-2.3.6), and VEX.W where it would
 * widen a GPR operand. R, X, B and vvvv are inverted: 1 means no
 * extension. */
static void vex_fixup(const struct emu_cpu *cpu, uint8_t *vex, bool mem)
{
    bool c4 = vex[0] == 0xc4;

    if (cpu->code_bits != 64) {
        vex[1] |= c4 ? 0xe0 : 0xc0; /* R X B / R vvvv[3] */
        if (c4)
            vex[2] |= 0x40; /* vvvv[3] */
        if (c4 && w_selects_gpr64(cpu->decoded->insn.mnemonic))
            vex[2] &= 0x7f;
    } else if (mem && c4) {
        vex[1] |= 0x60; /* X B */
    }
}

/* The host encoding of the instruction being run (bytes raw) into out (room for 32): with
 * a memory operand as [RIP+0] (*disp_at: where the disp32 is, else 0) and
 * an RSP operand renamed to subst. Returns the length, 0 if the result
 * would pass the 15 bytes the host allows. */
static unsigned encode(const struct emu_cpu *cpu, const uint8_t *raw, bool mem, int subst,
                       uint8_t *out, unsigned *disp_at)
{
    const ZydisDecodedInstruction *in = &cpu->decoded->insn;
    unsigned n = 0, op_start = in->raw.prefix_count, tail;
    uint8_t modrm;
    /* CRC32 r32, r/m16/32 is the one instruction here whose operand size
     * follows the code segment's default: in 16-bit code 66 means 32. */
    bool flip_66 =
        cpu->code_bits == 16 && in->mnemonic == ZYDIS_MNEMONIC_CRC32 && in->opcode == 0xf1;
    bool had_66 = false;

    *disp_at = 0;
    for (unsigned i = 0; i < in->raw.prefix_count; i++) {
        uint8_t p = raw[i];

        if (in->raw.prefixes[i].type == ZYDIS_PREFIX_TYPE_IGNORED || is_segment_prefix(p) ||
            p == 0x67 || (cpu->code_bits == 64 && (p & 0xf0) == 0x40))
            continue;
        if (flip_66 && p == 0x66) {
            had_66 = true;
            continue;
        }
        out[n++] = p;
    }
    if (flip_66 && !had_66)
        out[n++] = 0x66;
    if (in->attributes & ZYDIS_ATTRIB_HAS_REX)
        out[n++] = mem ? raw[in->raw.rex.offset] & ~0x3 : raw[in->raw.rex.offset]; /* X, B */
    if (!(in->attributes & ZYDIS_ATTRIB_HAS_MODRM)) {
        tail = op_start;
    } else {
        memcpy(out + n, raw + op_start, in->raw.modrm.offset - op_start);
        if (in->encoding == ZYDIS_INSTRUCTION_ENCODING_VEX)
            vex_fixup(cpu, out + n + (in->raw.vex.offset - op_start), mem);
        n += in->raw.modrm.offset - op_start;
        modrm = raw[in->raw.modrm.offset];
        tail = in->raw.modrm.offset + 1;
        for (int i = 0; i < in->operand_count_visible; i++) {
            const ZydisDecodedOperand *o = &cpu->decoded->ops[i];

            if (o->type != ZYDIS_OPERAND_TYPE_REGISTER || !is_rsp(o->reg.value))
                continue;
            if (subst < 0)
                return 0;
            if (o->encoding == ZYDIS_OPERAND_ENCODING_MODRM_REG)
                modrm = (uint8_t)((modrm & ~0x38) | subst << 3);
            else if (o->encoding == ZYDIS_OPERAND_ENCODING_MODRM_RM && !mem)
                modrm = (uint8_t)((modrm & ~0x07) | subst);
            else
                return 0;
        }
        if (mem) {
            out[n++] = (modrm & 0x38) | 0x05; /* mod 00, r/m 101: RIP+disp32 */
            *disp_at = n;
            memset(out + n, 0, 4);
            n += 4;
            tail += (in->attributes & ZYDIS_ATTRIB_HAS_SIB ? 1 : 0) + in->raw.disp.size / 8;
        } else {
            out[n++] = modrm;
        }
    }
    /* A 16-bit address grown to disp32 can pass the limit. */
    if (n + in->length - tail > MAX_INSN)
        return 0;
    memcpy(out + n, raw + tail, in->length - tail);
    n += in->length - tail;
    /* is4 (VBLENDVPS and the like): bit 7 names XMM8-15, ignored outside
     * 64-bit mode (SDM Vol. 2A §2.3.6). */
    for (int i = 0; i < in->operand_count_visible; i++)
        if (cpu->decoded->ops[i].encoding == ZYDIS_OPERAND_ENCODING_IS4 && cpu->code_bits != 64)
            out[n - 1] &= 0x7f;
    return n;
}

/* Whether enc (len bytes) is, in 64-bit mode, the instruction m with at
 * most a RIP-relative memory operand and no RSP: the host runs it with the
 * stack and memory of vx86, so a slip in encode() must not get that far. */
static bool host_safe(const uint8_t *enc, unsigned len, ZydisMnemonic m)
{
    ZydisDecoder d;
    ZydisDecodedInstruction in;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];

    if (!ZYAN_SUCCESS(ZydisDecoderInit(&d, ZYDIS_MACHINE_MODE_LONG_64, ZYDIS_STACK_WIDTH_64)) ||
        !ZYAN_SUCCESS(ZydisDecoderDecodeFull(&d, enc, len, &in, ops)) || in.length != len ||
        in.mnemonic != m)
        return false;
    for (int i = 0; i < in.operand_count; i++) {
        if (ops[i].type == ZYDIS_OPERAND_TYPE_REGISTER && is_rsp(ops[i].reg.value))
            return false;
        if (ops[i].type == ZYDIS_OPERAND_TYPE_MEMORY &&
            (ops[i].mem.base != ZYDIS_REGISTER_RIP || ops[i].mem.index != ZYDIS_REGISTER_NONE ||
             ops[i].mem.segment == ZYDIS_REGISTER_FS || ops[i].mem.segment == ZYDIS_REGISTER_GS))
            return false;
    }
    return true;
}

/* Emits an instruction with a RIP-relative operand at target: the bytes
 * before the disp32, the disp32, then rest bytes after it. */
static uint8_t *emit_rip(uint8_t *c, const char *bytes, unsigned n, const void *target,
                         const uint8_t *rest, unsigned rest_n)
{
    int32_t rel = (int32_t)((intptr_t)target - (intptr_t)(c + n + 4 + rest_n));

    memcpy(c, bytes, n);
    memcpy(c + n, &rel, 4);
    if (rest_n)
        memcpy(c + n + 4, rest, rest_n);
    return c + n + 4 + rest_n;
}

/* MOVDQA between XMMr and the page (store: to the page). */
static uint8_t *emit_movdqa(uint8_t *c, unsigned r, const void *mem, bool store)
{
    char op[5];
    unsigned n = 0;

    op[n++] = 0x66;
    if (r >= 8)
        op[n++] = 0x44; /* REX.R */
    op[n++] = 0x0f;
    op[n++] = store ? 0x7f : 0x6f;
    op[n++] = (char)(0x05 | (r & 7) << 3);
    return emit_rip(c, op, n, mem, NULL, 0);
}

/* VMOVDQU between YMMr and the page (store: to the page). */
static uint8_t *emit_vmovdqu(uint8_t *c, unsigned r, const void *mem, bool store)
{
    char op[4] = {(char)0xc5, (char)(r >= 8 ? 0x7e : 0xfe), store ? 0x7f : 0x6f,
                  (char)(0x05 | (r & 7) << 3)}; /* VEX.256.F3.0F: R, vvvv 1111, L 1, pp 10 */

    return emit_rip(c, op, 4, mem, NULL, 0);
}

/* Builds slot s for code enc (len bytes, disp32 at disp_at if not 0),
 * through code_rw: each target is moved by as much as the writable
 * alias is from the code, so that displacements come out for the code. */
static void build(struct page *p, unsigned s, const uint8_t *enc, unsigned len, unsigned disp_at,
                  enum fpu_slot_kind kind, unsigned xmm)
{
    uint8_t *c = p->code_rw[s];
    const uint8_t *page = (const uint8_t *)p + ((const uint8_t *)p->code_rw - p->code[0]);
    bool sse = kind != FPU_SLOT_FULL, avx = kind == FPU_SLOT_AVX;

#define AT(field) (page + offsetof(struct page, field))

    memcpy(c, "\xf3\x0f\x1e\xfa", 4); /* ENDBR64 */
    c += 4;
    if (sse) {
        c = emit_rip(c, "\x0f\xae\x15", 3, AT(pub.mxcsr_in), NULL, 0); /* LDMXCSR */
        for (unsigned r = 0; r < 16; r++)
            if (xmm & (1u << r))
                c = avx ? emit_vmovdqu(c, r, AT(pub.ymm[r]), false)
                        : emit_movdqa(c, r, AT(pub.xmm[r]), false);
    }
    if (disp_at)
        c = emit_rip(c, (const char *)enc, disp_at, AT(pub.buf), enc + disp_at + 4,
                     len - disp_at - 4);
    else
        c = (uint8_t *)memcpy(c, enc, len) + len;
    if (sse) {
        for (unsigned r = 0; r < 16; r++)
            if (xmm & (1u << r))
                c = avx ? emit_vmovdqu(c, r, AT(pub.ymm[r]), true)
                        : emit_movdqa(c, r, AT(pub.xmm[r]), true);
        c = emit_rip(c, "\x0f\xae\x1d", 3, AT(pub.mxcsr_out), NULL, 0); /* STMXCSR */
    }
    if (avx) {
        memcpy(c, "\xc5\xf8\x77", 3); /* VZEROUPPER */
        c += 3;
    }
    emit_rip(c, "\xff\x25", 2, sse ? AT(pub.back_sse) : AT(pub.back_full), NULL, 0);
#undef AT
}

void *fpu_slot(struct emu_cpu *cpu, struct fpu_page *pub, bool mem, int subst,
               enum fpu_slot_kind kind, unsigned xmm)
{
    struct page *p = (struct page *)pub;
    uint8_t raw[MAX_INSN], key[3 + 32];
    unsigned len, disp_at, s, size;
    uint32_t h = 2166136261u;
    uint64_t lin =
        cpu->code_bits == 64 ? cpu->insn_rip : (cpu->seg[SEG_CS].base + cpu->insn_rip) & 0xffffffff;

    struct emu_decoded *d = cpu->decoded;

    /* The encoding depends only on the decoded instruction: made once. */
    if (d->fpu_len) {
        len = d->fpu_len;
        disp_at = d->fpu_disp_at;
        memcpy(key + 3, d->fpu_enc, len);
    } else {
        if (emu_fetch(cpu, lin, raw, cpu->decoded->insn.length) < cpu->decoded->insn.length)
            return NULL;
        len = encode(cpu, raw, mem, subst, key + 3, &disp_at);
        if (!len)
            return NULL;
        memcpy(d->fpu_enc, key + 3, len);
        d->fpu_disp_at = (uint8_t)disp_at;
        d->fpu_len = (uint8_t)len;
    }
    /* ENDBR64, LDMXCSR, 2 MOVDQA (9 bytes) or VMOVDQU (8) per register,
     * STMXCSR, VZEROUPPER, JMP. */
    size = 4 + len + 6;
    if (kind == FPU_SLOT_SSE)
        size += 14 + 18 * (unsigned)__builtin_popcount(xmm & 0xffff);
    else if (kind == FPU_SLOT_AVX)
        size += 17 + 16 * (unsigned)__builtin_popcount(xmm & 0xffff);
    if (size > SLOT_SIZE)
        return NULL;
    key[0] = (uint8_t)kind;
    key[1] = (uint8_t)xmm;
    key[2] = (uint8_t)(xmm >> 8);
    len += 3;
    for (unsigned i = 0; i < len; i++)
        h = (h ^ key[i]) * 16777619u;
    s = h % NSLOTS;
    if (p->key[s].len != len || memcmp(p->key[s].bytes, key, len) != 0) {
        if (!host_safe(key + 3, len - 3, cpu->decoded->insn.mnemonic))
            return NULL;
        build(p, s, key + 3, len - 3, disp_at, kind, xmm);
        memcpy(p->key[s].bytes, key, len);
        p->key[s].len = (uint8_t)len;
    }
    return p->code[s];
}
