/*
 * The FPU group's internal interface: x87, MMX, SSE through SSE4.2, AES-NI,
 * PCLMULQDQ, AVX, AVX2, FMA, F16C and the FXSAVE/XSAVE family (fpu.c,
 * fpu_avx.c, fpu_env.c, fpu_host.c, fpu_slot.c, fpu_stub.S, xsave.c).
 *
 * The guest's x87/MMX/SSE state lives in cpu->fxsave as an FXSAVE64 image
 * (SDM Vol. 1 §10.5.1, Table 10-2): 64-bit FPU instruction and data
 * pointers, no FCS/FDS (CPUID.(EAX=7,ECX=0):EBX[13] says they are
 * deprecated and stored as 0), abridged tag word. Arithmetic runs on the
 * host FPU (fpu_host.c); this image is what goes in and comes out. The
 * upper halves of the YMM registers are beside it, in cpu->ymmh.
 */
#ifndef VX86_ACCEL_EMU_FPU_H
#define VX86_ACCEL_EMU_FPU_H

#include <string.h>

#include "accel/emu/interp/interp.h"

/* Offsets in the FXSAVE64 image. */
#define FX_FCW        0
#define FX_FSW        2
#define FX_FTW        4 /* abridged: bit i set = physical register i not empty */
#define FX_FOP        6
#define FX_FIP        8
#define FX_FDP        16
#define FX_MXCSR      24
#define FX_MXCSR_MASK 28
/* What the host's FXSAVE64 writes for certain: bytes 416-463 are reserved
 * (AMD CPUs leave them as they were) and 464-511 software's. */
#define FX_HOST_BYTES 416
#define FX_ST(i)      (32 + 16 * (i)) /* ST(i) / MMi: 80 bits, then 6 reserved bytes */
#define FX_XMM(i)     (160 + 16 * (i))

/* x87 status word (SDM Vol. 1 §8.1.3, Figure 8-4). */
#define FSW_PE    0x0020 /* precision */
#define FSW_ES    0x0080 /* error summary: an unmasked exception is pending */
#define FSW_TOP   0x3800
#define FSW_B     0x8000
#define FSW_EXC   0x003f /* the six exception flags, as FCW's six masks */
#define FSW_FLAGS 0x007f /* sticky: the six and the stack fault */

#define FCW_INIT          0x037f /* after FNINIT: all masked, 64-bit precision, nearest */
#define MXCSR_INIT        0x1f80 /* all masked, nearest */
#define MXCSR_EXC         0x003f
#define MXCSR_MASKS_SHIFT 7

/* XCR0 components this CPU supports (SDM Vol. 1 §13.1): x87 and SSE, AVX
 * and PKRU where the CPU model has them (fpu_xcr0_supported). */
#define XFEATURE_X87      1ull
#define XFEATURE_SSE      2ull
#define XFEATURE_AVX      4ull
#define XFEATURE_PKRU     (1ull << 9)
#define XSAVE_HEADER      512 /* XSTATE_BV, XCOMP_BV, reserved: 64 bytes */
#define XSAVE_SIZE        576 /* the legacy region and the header */
#define XSAVE_PKRU_OFFSET 2688 /* standard format (CPUID.(EAX=0DH,ECX=9):EBX, as Intel's) */
#define XSAVE_PKRU_SIZE   8
#define XSAVE_AVX_OFFSET  576 /* standard format (CPUID.(EAX=0DH,ECX=2):EBX) */
#define XSAVE_AVX_SIZE    256
uint64_t fpu_xcr0_supported(const struct emu_cpu *cpu);

/* Register files by Zydis register number (cheaper than ZydisRegisterGetClass). */
static inline bool fpu_is_mmx(ZydisRegister r)
{
    return r >= ZYDIS_REGISTER_MM0 && r <= ZYDIS_REGISTER_MM7;
}

static inline bool fpu_is_xmm(ZydisRegister r)
{
    return r >= ZYDIS_REGISTER_XMM0 && r <= ZYDIS_REGISTER_XMM15;
}

static inline bool fpu_is_ymm(ZydisRegister r)
{
    return r >= ZYDIS_REGISTER_YMM0 && r <= ZYDIS_REGISTER_YMM15;
}

/* The number of an XMM or YMM register, -1 for any other. */
static inline int fpu_vec_index(ZydisRegister r)
{
    return fpu_is_xmm(r)   ? (int)(r - ZYDIS_REGISTER_XMM0)
           : fpu_is_ymm(r) ? (int)(r - ZYDIS_REGISTER_YMM0)
                           : -1;
}

static inline uint16_t fx16(const struct emu_cpu *cpu, unsigned off)
{
    uint16_t v;

    memcpy(&v, cpu->fxsave + off, 2);
    return v;
}

static inline void set_fx16(struct emu_cpu *cpu, unsigned off, uint16_t v)
{
    memcpy(cpu->fxsave + off, &v, 2);
}

static inline uint32_t fx32(const struct emu_cpu *cpu, unsigned off)
{
    uint32_t v;

    memcpy(&v, cpu->fxsave + off, 4);
    return v;
}

static inline void set_fx32(struct emu_cpu *cpu, unsigned off, uint32_t v)
{
    memcpy(cpu->fxsave + off, &v, 4);
}

static inline uint64_t fx64(const struct emu_cpu *cpu, unsigned off)
{
    uint64_t v;

    memcpy(&v, cpu->fxsave + off, 8);
    return v;
}

static inline void set_fx64(struct emu_cpu *cpu, unsigned off, uint64_t v)
{
    memcpy(cpu->fxsave + off, &v, 8);
}

/* fpu.c */
/* FSW.ES and FSW.B from the exception flags against the FCW masks: the
 * summary the CPU keeps for a pending #MF (SDM Vol. 1 §8.1.3.3). */
void fpu_update_es(struct emu_cpu *cpu);
/* The x87 state FNINIT leaves (SDM Vol. 1 §8.1.5, Table 8-5 without MXCSR). */
void fpu_init_x87(struct emu_cpu *cpu);
/* #MF for an unmasked x87 exception still pending (FSW.ES with CR0.NE),
 * taken by the next waiting x87 or MMX instruction (SDM Vol. 1 §8.6). */
void fpu_pending_mf(struct emu_cpu *cpu);
/* x87: #NM with CR0.EM or CR0.TS, then #MF if waiting (SDM Vol. 3A Table 2-2). */
void fpu_check_x87(struct emu_cpu *cpu, bool waiting);
/* MMX and SSE: #UD with CR0.EM, SSE also with CR4.OSFXSR clear; #NM with
 * CR0.TS; MMX then #MF (SDM Vol. 3A §13.2, Table 13-1). */
void fpu_check_simd(struct emu_cpu *cpu, bool mmx, bool sse);
/* Guest memory of any length: seg:off through emu_read_lin/emu_write_lin in
 * pieces of 8 bytes. A write checks that both ends translate for writing
 * before it writes anything, so a fault leaves memory untouched. */
void fpu_mem_read(struct emu_cpu *cpu, int seg, uint64_t off, void *buf, unsigned len);
void fpu_mem_write(struct emu_cpu *cpu, int seg, uint64_t off, const void *buf, unsigned len);
/* The checks of fpu_mem_write without the write; returns the linear address. */
uint64_t fpu_mem_probe_write(struct emu_cpu *cpu, int seg, uint64_t off, unsigned len);
/* MASKMOVQ, MASKMOVDQU and VMASKMOVDQU store through DS:rDI, which the
 * host must not see: the bytes whose mask byte has bit 7 set, in C
 * (operands: data register, mask register, the memory operand). */
void fpu_maskmov(struct emu_cpu *cpu, bool mmx);

/* fpu_env.c: FNSTENV, FLDENV, FNSAVE, FRSTOR (SDM Vol. 1 §8.1.10). */
bool fpu_exec_env(struct emu_cpu *cpu);

/* xsave.c: FXSAVE, FXRSTOR, XSAVE, XSAVEOPT, XRSTOR, XGETBV, XSETBV. */
bool fpu_exec_xsave(struct emu_cpu *cpu);

/* fpu_avx.c: the VEX-encoded SIMD instructions (AVX, AVX2, FMA, F16C,
 * VEX AES): false for any other instruction; otherwise executes it or
 * raises its exception (#UD for one the CPU model lacks). */
bool fpu_exec_avx(struct emu_cpu *cpu);
/* The memory operand of an AVX instruction (fpu_exec_host's, size bytes at
 * seg:ea), read into buf or written from it: the elements the mask of
 * VMASKMOV/VPMASKMOV selects, only those faulting and masked-off ones read
 * as 0 (SDM Vol. 2C VMASKMOV), and the whole operand for every other. */
void fpu_avx_mem_read(struct emu_cpu *cpu, int seg, uint64_t ea, void *buf, unsigned size);
void fpu_avx_mem_write(struct emu_cpu *cpu, int seg, uint64_t ea, const void *buf, unsigned size);
/* The checks of fpu_avx_mem_write without the write. */
void fpu_avx_mem_probe_write(struct emu_cpu *cpu, int seg, uint64_t ea, unsigned size);
/* Whether a VEX instruction's memory operand must be aligned to its size. */
bool fpu_avx_aligned(ZydisMnemonic m);
/* The CPU model's feature for an ISA set of VEX SIMD instructions;
 * CPU_FEATURE_COUNT for one that is not VEX SIMD. */
enum cpu_feature fpu_avx_feature(ZydisISASet set);

/* fpu_host.c: native execution. */
enum fpu_kind {
    FPU_KIND_X87, /* x87 arithmetic: runs with the guest's FCW, reports through FSW */
    FPU_KIND_MMX, /* MMX: x87 state, no floating-point exceptions */
    FPU_KIND_SSE, /* runs with all SIMD exceptions masked; #XM computed after */
    FPU_KIND_GPR, /* no FPU state at all (CRC32, MOVNTI) */
    FPU_KIND_AVX, /* as SSE, on the whole YMM registers it names */
};
/* Executes the instruction being run on the host against the guest's state and commits
 * registers, flags, memory and cpu->fxsave, or raises the exception the
 * instruction takes (#GP for a misaligned operand, #XM/#UD, #PF). False
 * if no executable memory can be had or the instruction has no safe host
 * encoding (an implicit memory operand, more than 15 bytes). */
bool fpu_exec_host(struct emu_cpu *cpu, enum fpu_kind kind);

/* Legacy-encoded SSE instructions with a 16-byte memory operand that need
 * no alignment; every other one takes #GP(0) when it is misaligned (SDM
 * Vol. 1 §11.4.1, Vol. 2 each instruction's "Protected Mode Exceptions"). */
bool fpu_unaligned_ok(ZydisMnemonic m);

/* fpu_slot.c: host code for one guest instruction. */
/* True if the host CPU has the instruction set. */
bool fpu_host_has(ZydisISASet set);
/* The MXCSR bits the guest may set: the host's MXCSR_MASK within the
 * architectural 16 bits. */
uint32_t fpu_mxcsr_mask(void);
/* A vCPU's page of host code for its instructions, and the data its
 * slots reach RIP-relative. */
struct fpu_page {
    uint64_t back_full;           /* fpu_stub_exit */
    uint64_t back_sse;            /* fpu_stub_exit_sse */
    uint32_t mxcsr_in, mxcsr_out; /* an SSE slot's MXCSR before and after */
    uint8_t pad[40];
    uint8_t buf[64];     /* the memory operand */
    uint8_t xmm[16][16]; /* an SSE slot's XMM registers, in and out */
    uint8_t ymm[16][32]; /* an AVX slot's YMM registers, in and out */
};

/* What a slot moves between the guest's state and the host's registers. */
enum fpu_slot_kind {
    FPU_SLOT_FULL, /* nothing: fpu_stub_enter loads the whole FXSAVE image */
    FPU_SLOT_SSE,  /* MXCSR and the named XMM registers, through the page */
    FPU_SLOT_AVX,  /* MXCSR and the named YMM registers; VZEROUPPER after */
};
/* A vCPU's page (emu_cpu.fpu), made with the vCPU on the thread that
 * builds the machine (an executable mapping: seccomp allows vCPU threads
 * none); NULL if it cannot be. */
struct fpu_page *fpu_page_create(void);
void fpu_page_destroy(struct fpu_page *p);
/* The GPR (0-7) that stands in for RSP, if a register operand is RSP; else -1. */
int fpu_rsp_stand_in(const struct emu_cpu *cpu);
/* The host code for the instruction being run, found or built in p: with its memory
 * operand (if mem) on p->buf and RSP renamed to subst. FPU_SLOT_SSE and
 * _AVX: MXCSR and the XMM or YMM registers in the xmm mask (bit n: number
 * n) go through p, for fpu_stub_enter_sse; FPU_SLOT_FULL: the whole state
 * does, for fpu_stub_enter. A VEX instruction of 32-bit code is re-encoded
 * with the bits that code ignores (VEX.B, VEX.vvvv[3], is4 bit 7) as the
 * host must see them. NULL if the instruction cannot be re-encoded or does
 * not fit. */
void *fpu_slot(struct emu_cpu *cpu, struct fpu_page *p, bool mem, int subst,
               enum fpu_slot_kind kind, unsigned xmm);

#endif
