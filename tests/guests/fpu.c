/*
 * x87, MMX, SSE to SSE4.2, AES-NI, PCLMULQDQ, FXSAVE and XSAVE: results and
 * the faults the architecture defines for them (SDM Vol. 1 ch. 8-13, Vol.
 * 3A §2.5 and §13): #NM with CR0.TS, #MF for an unmasked x87 exception at
 * the next waiting instruction, #XM (or #UD without CR4.OSXMMEXCPT) for an
 * unmasked SIMD exception, #GP for a misaligned MOVAPS, #UD for SSE
 * without CR4.OSFXSR.
 *
 * The FPU code runs at CPL 3 (see fpu_user.S) and stores what it computes
 * in out[]; the kernel compares with want[]. The expected values are bit
 * patterns a real x86-64 CPU produced for the same instructions, all from
 * exactly specified operations (IEEE 754 arithmetic, conversions, integer
 * and string SIMD, AES, carry-less multiply): nothing vendor-specific such
 * as FSIN, RCPPS or the FPU pointers.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define USER_DS   0x23
#define USER_CS   0x2b
#define TSS_SEL   0x30

#define CR0_MP         (1ul << 1)
#define CR0_EM         (1ul << 2)
#define CR0_TS         (1ul << 3)
#define CR0_NE         (1ul << 5)
#define CR4_OSFXSR     (1ul << 9)
#define CR4_OSXMMEXCPT (1ul << 10)
#define CR4_OSXSAVE    (1ul << 18)
#define EXC_NM         7
#define EXC_MF         16
#define EXC_XM         19

/* The status flags, for comparing RFLAGS after COMISD, FCOMI, PTEST. */
#define FLAGS_STATUS 0x8d5ul

void fpu_user_run(void (*prog)(void), void *stack_top);
__attribute__((noreturn)) void fpu_user_leave(void);
extern const char fpu_user_exit[];

/* ---- user programs: CPL 3, results in out[] ---- */

enum {
    X_PI, /* 80-bit results take two slots */
    X_SQRT2 = X_PI + 2,
    X_THIRD = X_SQRT2 + 2,
    X_XTRACT_SIG = X_THIRD + 2,
    X_XTRACT_EXP,
    X_PREM,
    X_PREM_FSW,
    X_FISTP,
    X_FISTTP,
    X_FILD,
    X_BCD = X_FILD + 2,
    X_FBLD = X_BCD + 2,
    X_FCOM_FSW,
    X_FCOMI_FLAGS,
    X_FUCOMI_NAN_FLAGS,
    X_FXAM_FSW,
    X_OVERFLOW_FSW,
    X_ENV_FCW,
    X_ENV_FSW,
    X_ENV_FTW,
    X_FSAVE_FTW,
    X_AFTER_FSAVE,
    X_FRSTOR_ONE,
    X_FRSTOR_PI = X_FRSTOR_ONE + 2,
    X_ADDPS = X_FRSTOR_PI + 2, /* 128-bit results take two slots */
    X_MULPD = X_ADDPS + 2,
    X_DIVSS = X_MULPD + 2,
    X_SQRTSD,
    X_CVTTSD2SI,
    X_CVTSI2SD,
    X_MINPS,
    X_CMPLTPS = X_MINPS + 2,
    X_UCOMISD_FLAGS = X_CMPLTPS + 2,
    X_SHUFPS,
    X_CVTPS2PD = X_SHUFPS + 2,
    X_PADDUSB = X_CVTPS2PD + 2,
    X_PMULLW = X_PADDUSB + 2,
    X_PMULUDQ = X_PMULLW + 2,
    X_PSRLQ = X_PMULUDQ + 2,
    X_PSHUFD = X_PSRLQ + 2,
    X_PMOVMSKB = X_PSHUFD + 2,
    X_PACKUSWB,
    X_PSADBW = X_PACKUSWB + 2,
    X_PEXTRW = X_PSADBW + 2,
    X_CVTTSD2SI_RSP,
    X_MASKMOVDQU,
    X_HADDPS = X_MASKMOVDQU + 2,
    X_PSHUFB = X_HADDPS + 2,
    X_PALIGNR = X_PSHUFB + 2,
    X_PMADDUBSW = X_PALIGNR + 2,
    X_PMULLD = X_PMADDUBSW + 2,
    X_PTEST_FLAGS = X_PMULLD + 2,
    X_BLENDVPS,
    X_ROUNDSD = X_BLENDVPS + 2,
    X_DPPS,
    X_PMOVZXBW,
    X_PEXTRD = X_PMOVZXBW + 2,
    X_PCMPESTRI,
    X_PCMPESTRI_FLAGS,
    X_PCMPISTRM,
    X_CRC32 = X_PCMPISTRM + 2,
    X_PCMPGTQ,
    X_AESENC = X_PCMPGTQ + 2,
    X_AESENCLAST = X_AESENC + 2,
    X_AESDEC = X_AESENCLAST + 2,
    X_AESIMC = X_AESDEC + 2,
    X_AESKEYGEN = X_AESIMC + 2,
    X_PCLMUL = X_AESKEYGEN + 2,
    X_PCLMUL_HI = X_PCLMUL + 2,
    X_PADDW_MM = X_PCLMUL_HI + 2,
    X_PMADDWD_MM,
    X_PSHUFW_MM,
    X_MASKMOVQ,
    X_MMX_EMPTY,
    X_EMMS_FTW,
    X_FXSAVE_FCW,
    X_FXSAVE_MXCSR,
    X_FXSAVE_XMM1,
    X_FXSAVE_ST0 = X_FXSAVE_XMM1 + 2,
    X_FXRSTOR_XMM1 = X_FXSAVE_ST0 + 2,
    X_FXRSTOR_ST0 = X_FXRSTOR_XMM1 + 2,
    X_COUNT = X_FXRSTOR_ST0 + 2,
};

static uint64_t out[X_COUNT] __attribute__((aligned(16)));

/* Operands: doubles, floats and integers by their bit patterns. */
static const uint64_t d_one = 0x3ff0000000000000, d_two = 0x4000000000000000;
static const uint64_t d_three = 0x4008000000000000, d_10_5 = 0x4025000000000000;
static const uint64_t d_2_5 = 0x4004000000000000, d_m2_7 = 0xc00599999999999a;
static const uint64_t d_nan = 0x7ff8000000000000, d_mzero = 0x8000000000000000;
static const uint64_t i64_big = 0x0123456789abcdef;
static const uint32_t i_three = 3, i_ten = 10, i_12345 = 12345;
static const uint32_t f_a[4]
    __attribute__((aligned(16))) = {0x3f800000, 0x40000000, 0x40400000, 0x40800000}; /* 1 2 3 4 */
static const uint32_t f_b[4] __attribute__((aligned(16))) = {0x3f000000, 0xbfc00000, 0x41000000,
                                                             0x3e800000}; /* .5 -1.5 8 .25 */
static const uint64_t d_ab[2]
    __attribute__((aligned(16))) = {0x3ff0000000000000, 0x4008000000000000}; /* 1 3 */
static const uint8_t b_x[16] __attribute__((aligned(16))) = {
    0x00, 0x7f, 0x80, 0xff, 0x01, 0x02, 0x03, 0x04, 0xf0, 0x10, 0x20, 0x30, 0x40, 0x50, 0x60, 0x70};
static const uint8_t b_y[16] __attribute__((aligned(16))) = {
    0x01, 0x01, 0x90, 0x02, 0xff, 0xfe, 0x03, 0x80, 0x0f, 0x10, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88};
static const char s_hay[16] __attribute__((aligned(16))) = "hello, vx86 FPU";
static const char s_needle[16] __attribute__((aligned(16))) = "vx86";

#define OUT(i) "r"(&out[i])
/* RFLAGS' status flags to the out[] slot at asm operand n; clobbers RAX. */
#define STORE_FLAGS(n) "pushfq\n\tpopq %%rax\n\tand $0x8d5, %%eax\n\tmov %%rax, (%" n ")"

static void prog_x87(void)
{
    uint64_t env[4], save[14];

    __asm__ volatile("fninit\n\tfldpi\n\tfstpt (%0)" : : OUT(X_PI) : "memory");
    __asm__ volatile("fld1\n\tfadd %%st(0), %%st\n\tfsqrt\n\tfstpt (%0)"
                     :
                     : OUT(X_SQRT2)
                     : "memory");
    __asm__ volatile("fld1\n\tfidivl %1\n\tfstpt (%0)" : : OUT(X_THIRD), "m"(i_three) : "memory");
    __asm__ volatile("fildl %2\n\tfxtract\n\tfstpl (%0)\n\tfstpl (%1)"
                     :
                     : OUT(X_XTRACT_SIG), OUT(X_XTRACT_EXP), "m"(i_ten)
                     : "memory");
    __asm__ volatile("fldl %2\n\tfldl %3\n\tfprem\n\tfnstsw (%1)\n\tfstpl (%0)\n\tfstp %%st(0)"
                     :
                     : OUT(X_PREM), OUT(X_PREM_FSW), "m"(d_three), "m"(d_10_5)
                     : "memory");
    __asm__ volatile("fldl %1\n\tfistpl (%0)" : : OUT(X_FISTP), "m"(d_2_5) : "memory");
    __asm__ volatile("fldl %1\n\tfisttpl (%0)" : : OUT(X_FISTTP), "m"(d_m2_7) : "memory");
    __asm__ volatile("fildll %1\n\tfstpt (%0)" : : OUT(X_FILD), "m"(i64_big) : "memory");
    __asm__ volatile("fildl %1\n\tfbstp (%0)" : : OUT(X_BCD), "m"(i_12345) : "memory");
    __asm__ volatile("fbld (%1)\n\tfistpl (%0)" : : OUT(X_FBLD), OUT(X_BCD) : "memory");
    __asm__ volatile("fldl %1\n\tfldl %2\n\tfcompp\n\tfnstsw (%0)"
                     :
                     : OUT(X_FCOM_FSW), "m"(d_two), "m"(d_one)
                     : "memory");
    __asm__ volatile(
        "fldl %1\n\tfldl %1\n\tfcomip %%st(1), %%st\n\tfstp %%st(0)\n\t" STORE_FLAGS("0")
        :
        : OUT(X_FCOMI_FLAGS), "m"(d_one)
        : "rax", "memory", "cc");
    __asm__ volatile(
        "fldl %2\n\tfldl %1\n\tfucomip %%st(1), %%st\n\tfstp %%st(0)\n\t" STORE_FLAGS("0")
        :
        : OUT(X_FUCOMI_NAN_FLAGS), "m"(d_one), "m"(d_nan)
        : "rax", "memory", "cc");
    __asm__ volatile("fldl %1\n\tfxam\n\tfnstsw (%0)\n\tfstp %%st(0)"
                     :
                     : OUT(X_FXAM_FSW), "m"(d_mzero)
                     : "memory");
    /* Nine pushes: a masked stack overflow (IE, SF, C1 set). */
    __asm__ volatile("fninit\n\t"
                     "fld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\tfld1\n\t"
                     "fnstsw (%0)\n\tfninit"
                     :
                     : OUT(X_OVERFLOW_FSW)
                     : "memory");
    __asm__ volatile("fld1\n\tfldz\n\tfnstenv %0\n\tfninit" : "=m"(env) : : "memory");
    out[X_ENV_FCW] = env[0] & 0xffff;
    out[X_ENV_FSW] = (env[0] >> 32) & 0xffff;
    out[X_ENV_FTW] = env[1] & 0xffff;
    __asm__ volatile("fldpi\n\tfld1\n\tfnsave %0\n\tfnstsw (%1)"
                     : "=m"(save)
                     : OUT(X_AFTER_FSAVE)
                     : "memory");
    out[X_FSAVE_FTW] = save[1] & 0xffff;
    __asm__ volatile("frstor %2\n\tfstpt (%0)\n\tfstpt (%1)"
                     :
                     : OUT(X_FRSTOR_ONE), OUT(X_FRSTOR_PI), "m"(save)
                     : "memory");
}

static void prog_sse(void)
{
    __asm__ volatile("movaps %1, %%xmm0\n\taddps %2, %%xmm0\n\tmovups %%xmm0, (%0)"
                     :
                     : OUT(X_ADDPS), "m"(f_a), "m"(f_b)
                     : "memory");
    __asm__ volatile("movapd %1, %%xmm2\n\tmulpd %1, %%xmm2\n\tmovupd %%xmm2, (%0)"
                     :
                     : OUT(X_MULPD), "m"(d_ab)
                     : "memory");
    __asm__ volatile("movss %1, %%xmm3\n\tdivss %2, %%xmm3\n\tmovss %%xmm3, (%0)"
                     :
                     : OUT(X_DIVSS), "m"(f_a[1]), "m"(f_a[2])
                     : "memory");
    __asm__ volatile("sqrtsd %1, %%xmm4\n\tmovsd %%xmm4, (%0)"
                     :
                     : OUT(X_SQRTSD), "m"(d_three)
                     : "memory");
    __asm__ volatile("cvttsd2si %1, %%rax\n\tmov %%rax, (%0)"
                     :
                     : OUT(X_CVTTSD2SI), "m"(d_m2_7)
                     : "rax", "memory");
    __asm__ volatile("mov $-7, %%rax\n\tcvtsi2sd %%rax, %%xmm5\n\tmovsd %%xmm5, (%0)"
                     :
                     : OUT(X_CVTSI2SD)
                     : "rax", "memory");
    __asm__ volatile("movaps %1, %%xmm6\n\tminps %2, %%xmm6\n\tmovups %%xmm6, (%0)"
                     :
                     : OUT(X_MINPS), "m"(f_a), "m"(f_b)
                     : "memory");
    __asm__ volatile("movaps %1, %%xmm7\n\tcmpltps %2, %%xmm7\n\tmovups %%xmm7, (%0)"
                     :
                     : OUT(X_CMPLTPS), "m"(f_b), "m"(f_a)
                     : "memory");
    __asm__ volatile("movsd %1, %%xmm8\n\tucomisd %2, %%xmm8\n\t" STORE_FLAGS("0")
                     :
                     : OUT(X_UCOMISD_FLAGS), "m"(d_one), "m"(d_three)
                     : "rax", "memory", "cc");
    __asm__ volatile("movaps %1, %%xmm9\n\tshufps $0x1b, %%xmm9, %%xmm9\n\tmovups %%xmm9, (%0)"
                     :
                     : OUT(X_SHUFPS), "m"(f_a)
                     : "memory");
    __asm__ volatile("cvtps2pd %1, %%xmm10\n\tmovupd %%xmm10, (%0)"
                     :
                     : OUT(X_CVTPS2PD), "m"(f_b[0])
                     : "memory");
    /* SSE2 integer. */
    __asm__ volatile("movdqa %1, %%xmm11\n\tpaddusb %2, %%xmm11\n\tmovdqu %%xmm11, (%0)"
                     :
                     : OUT(X_PADDUSB), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm12\n\tpmullw %2, %%xmm12\n\tmovdqu %%xmm12, (%0)"
                     :
                     : OUT(X_PMULLW), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm13\n\tpmuludq %2, %%xmm13\n\tmovdqu %%xmm13, (%0)"
                     :
                     : OUT(X_PMULUDQ), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm14\n\tpsrlq $4, %%xmm14\n\tmovdqu %%xmm14, (%0)"
                     :
                     : OUT(X_PSRLQ), "m"(b_y)
                     : "memory");
    __asm__ volatile("pshufd $0x1b, %1, %%xmm15\n\tmovdqu %%xmm15, (%0)"
                     :
                     : OUT(X_PSHUFD), "m"(b_x)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm0\n\tpcmpeqb %2, %%xmm0\n\tpmovmskb %%xmm0, %%eax\n\t"
                     "mov %%rax, (%0)"
                     :
                     : OUT(X_PMOVMSKB), "m"(b_x), "m"(b_x)
                     : "rax", "memory");
    __asm__ volatile("movdqa %1, %%xmm1\n\tpackuswb %2, %%xmm1\n\tmovdqu %%xmm1, (%0)"
                     :
                     : OUT(X_PACKUSWB), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm2\n\tpsadbw %2, %%xmm2\n\tmovdqu %%xmm2, (%0)"
                     :
                     : OUT(X_PSADBW), "m"(b_x), "m"(b_y)
                     : "memory");
    /* An RSP operand: vx86 renames it on the host. */
    __asm__ volatile("mov %%rsp, %%rbx\n\tmovdqa %1, %%xmm3\n\tpextrw $5, %%xmm3, %%esp\n\t"
                     "mov %%rsp, (%0)\n\tmov %%rbx, %%rsp"
                     :
                     : OUT(X_PEXTRW), "m"(b_y)
                     : "rbx", "memory");
    /* RSP in the ModRM reg field of a form with a memory operand. */
    __asm__ volatile("mov %%rsp, %%rbx\n\tcvttsd2si %1, %%rsp\n\tmov %%rsp, (%0)\n\t"
                     "mov %%rbx, %%rsp"
                     :
                     : OUT(X_CVTTSD2SI_RSP), "m"(d_m2_7)
                     : "rbx", "memory");
    /* Stores through DS:RDI the bytes whose mask byte has bit 7 set. */
    out[X_MASKMOVDQU] = out[X_MASKMOVDQU + 1] = 0x1111111111111111;
    __asm__ volatile("movdqa %1, %%xmm4\n\tmovdqa %2, %%xmm5\n\tmaskmovdqu %%xmm5, %%xmm4"
                     :
                     : "D"(&out[X_MASKMOVDQU]), "m"(b_x), "m"(b_y)
                     : "memory");
}

static void prog_sse4(void)
{
    __asm__ volatile("movaps %1, %%xmm0\n\thaddps %2, %%xmm0\n\tmovups %%xmm0, (%0)"
                     :
                     : OUT(X_HADDPS), "m"(f_a), "m"(f_b)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm1\n\tpshufb %2, %%xmm1\n\tmovdqu %%xmm1, (%0)"
                     :
                     : OUT(X_PSHUFB), "m"(b_y), "m"(b_x)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm2\n\tpalignr $5, %2, %%xmm2\n\tmovdqu %%xmm2, (%0)"
                     :
                     : OUT(X_PALIGNR), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm3\n\tpmaddubsw %2, %%xmm3\n\tmovdqu %%xmm3, (%0)"
                     :
                     : OUT(X_PMADDUBSW), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm4\n\tpmulld %2, %%xmm4\n\tmovdqu %%xmm4, (%0)"
                     :
                     : OUT(X_PMULLD), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm5\n\tptest %2, %%xmm5\n\t" STORE_FLAGS("0")
                     :
                     : OUT(X_PTEST_FLAGS), "m"(b_x), "m"(b_y)
                     : "rax", "memory", "cc");
    __asm__ volatile("movdqa %3, %%xmm0\n\tmovaps %1, %%xmm6\n\tblendvps %2, %%xmm6\n\t"
                     "movups %%xmm6, (%0)"
                     :
                     : OUT(X_BLENDVPS), "m"(f_a), "m"(f_b), "m"(b_y)
                     : "memory");
    __asm__ volatile("roundsd $1, %1, %%xmm7\n\tmovsd %%xmm7, (%0)"
                     :
                     : OUT(X_ROUNDSD), "m"(d_m2_7)
                     : "memory");
    __asm__ volatile("movaps %1, %%xmm8\n\tdpps $0xf1, %2, %%xmm8\n\tmovss %%xmm8, (%0)"
                     :
                     : OUT(X_DPPS), "m"(f_a), "m"(f_b)
                     : "memory");
    __asm__ volatile("pmovzxbw %1, %%xmm9\n\tmovdqu %%xmm9, (%0)"
                     :
                     : OUT(X_PMOVZXBW), "m"(*(const uint64_t *)b_x)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm10\n\tpextrd $3, %%xmm10, (%0)"
                     :
                     : OUT(X_PEXTRD), "m"(b_y)
                     : "memory");
    /* Where "vx86" (4 bytes) starts in the haystack (15 bytes): 7. */
    __asm__ volatile("movdqa %2, %%xmm11\n\tmov $4, %%eax\n\tmov $15, %%edx\n\t"
                     "pcmpestri $0x0c, %3, %%xmm11\n\tmov %%rcx, (%0)\n\t" STORE_FLAGS("1")
                     :
                     : OUT(X_PCMPESTRI), OUT(X_PCMPESTRI_FLAGS), "m"(s_needle), "m"(s_hay)
                     : "rax", "rcx", "rdx", "memory", "cc");
    __asm__ volatile("movdqa %1, %%xmm12\n\tpcmpistrm $0x44, %2, %%xmm12\n\t"
                     "movdqu %%xmm0, (%0)"
                     :
                     : OUT(X_PCMPISTRM), "m"(s_needle), "m"(s_hay)
                     : "memory", "cc");
    __asm__ volatile("mov $0xffffffff, %%eax\n\tcrc32b %1, %%eax\n\tcrc32l %2, %%eax\n\t"
                     "crc32q %3, %%rax\n\tmov %%rax, (%0)"
                     :
                     : OUT(X_CRC32), "m"(b_y[3]), "m"(i_12345), "m"(i64_big)
                     : "rax", "memory");
    __asm__ volatile("movdqa %1, %%xmm13\n\tpcmpgtq %2, %%xmm13\n\tmovdqu %%xmm13, (%0)"
                     :
                     : OUT(X_PCMPGTQ), "m"(b_x), "m"(b_y)
                     : "memory");
}

static void prog_aes(void)
{
    __asm__ volatile("movdqa %1, %%xmm0\n\taesenc %2, %%xmm0\n\tmovdqu %%xmm0, (%0)"
                     :
                     : OUT(X_AESENC), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm1\n\taesenclast %2, %%xmm1\n\tmovdqu %%xmm1, (%0)"
                     :
                     : OUT(X_AESENCLAST), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm2\n\taesdec %2, %%xmm2\n\tmovdqu %%xmm2, (%0)"
                     :
                     : OUT(X_AESDEC), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("aesimc %1, %%xmm3\n\tmovdqu %%xmm3, (%0)"
                     :
                     : OUT(X_AESIMC), "m"(b_x)
                     : "memory");
    __asm__ volatile("aeskeygenassist $0x1b, %1, %%xmm4\n\tmovdqu %%xmm4, (%0)"
                     :
                     : OUT(X_AESKEYGEN), "m"(b_y)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm5\n\tpclmulqdq $0x00, %2, %%xmm5\n\tmovdqu %%xmm5, (%0)"
                     :
                     : OUT(X_PCLMUL), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("movdqa %1, %%xmm6\n\tpclmulqdq $0x11, %2, %%xmm6\n\tmovdqu %%xmm6, (%0)"
                     :
                     : OUT(X_PCLMUL_HI), "m"(b_x), "m"(b_y)
                     : "memory");
}

static void prog_mmx(void)
{
    uint64_t env[4];

    __asm__ volatile("fninit\n\tmovq %1, %%mm0\n\tpaddw %2, %%mm0\n\tmovq %%mm0, (%0)"
                     :
                     : OUT(X_PADDW_MM), "m"(b_x), "m"(b_y)
                     : "memory");
    __asm__ volatile("movq %1, %%mm1\n\tpmaddwd %2, %%mm1\n\tmovq %%mm1, (%0)"
                     :
                     : OUT(X_PMADDWD_MM), "m"(b_x[8]), "m"(b_y[8])
                     : "memory");
    __asm__ volatile("pshufw $0x1b, %1, %%mm2\n\tmovq %%mm2, (%0)"
                     :
                     : OUT(X_PSHUFW_MM), "m"(b_y)
                     : "memory");
    out[X_MASKMOVQ] = 0x2222222222222222;
    __asm__ volatile("movq %1, %%mm3\n\tmovq %2, %%mm4\n\tmaskmovq %%mm4, %%mm3"
                     :
                     : "D"(&out[X_MASKMOVQ]), "m"(b_x), "m"(b_y)
                     : "memory");
    /* MMX makes every x87 register valid, EMMS every one empty (SDM Vol. 1 §9.5). */
    __asm__ volatile("fnstenv %0" : "=m"(env) : : "memory");
    for (int r = 0; r < 8; r++)
        out[X_MMX_EMPTY] += ((env[1] >> (2 * r)) & 3) == 3; /* empty registers */
    __asm__ volatile("emms\n\tfnstenv %0\n\tfninit" : "=m"(env) : : "memory");
    out[X_EMMS_FTW] = env[1] & 0xffff;
}

static void prog_fxsave(void)
{
    static uint8_t area[512] __attribute__((aligned(16)));
    uint32_t mxcsr = 0x9fc0; /* round up, FTZ, DAZ */

    __asm__ volatile("fninit\n\tfldpi\n\tldmxcsr %1\n\tmovdqa %2, %%xmm1\n\tfxsave64 %0"
                     : "=m"(area)
                     : "m"(mxcsr), "m"(b_x)
                     : "memory");
    memcpy(&out[X_FXSAVE_FCW], area, 2);
    memcpy(&out[X_FXSAVE_MXCSR], area + 24, 4);
    memcpy(&out[X_FXSAVE_XMM1], area + 160 + 16, 16);
    memcpy(&out[X_FXSAVE_ST0], area + 32, 10);
    /* Change everything, then FXRSTOR brings it back. */
    __asm__ volatile("fninit\n\tfld1\n\tpxor %%xmm1, %%xmm1\n\tfxrstor64 %2\n\t"
                     "movdqu %%xmm1, (%0)\n\tfstpt (%1)\n\tldmxcsr %3"
                     :
                     : OUT(X_FXRSTOR_XMM1), OUT(X_FXRSTOR_ST0), "m"(area), "m"((uint32_t){0x1f80})
                     : "memory");
}

/* ---- end of user programs ---- */

/* The expected results, from a real CPU. */
static const struct {
    const char *what;
    int slot, n; /* n: slots compared */
    uint64_t v[2];
} want[] = {
    {"pi", X_PI, 2, {0xc90fdaa22168c235, 0x4000}},
    {"sqrt2", X_SQRT2, 2, {0xb504f333f9de6484, 0x3fff}},
    {"third", X_THIRD, 2, {0xaaaaaaaaaaaaaaab, 0x3ffd}},
    {"xtract sig", X_XTRACT_SIG, 1, {0x3ff4000000000000}},
    {"xtract exp", X_XTRACT_EXP, 1, {0x4008000000000000}},
    {"prem", X_PREM, 1, {0x3ff8000000000000}},
    {"prem fsw", X_PREM_FSW, 1, {0x7220}},
    {"fistp", X_FISTP, 1, {0x2}},
    {"fisttp", X_FISTTP, 1, {0xfffffffe}},
    {"fild", X_FILD, 2, {0x91a2b3c4d5e6f780, 0x4037}},
    {"bcd", X_BCD, 2, {0x12345, 0x0}},
    {"fbld", X_FBLD, 1, {0x3039}},
    {"fcom fsw", X_FCOM_FSW, 1, {0x120}},
    {"fcomi flags", X_FCOMI_FLAGS, 1, {0x40}},
    {"fucomi nan flags", X_FUCOMI_NAN_FLAGS, 1, {0x45}},
    {"fxam fsw", X_FXAM_FSW, 1, {0x7a20}},
    {"overflow fsw", X_OVERFLOW_FSW, 1, {0x3a41}},
    {"env fcw", X_ENV_FCW, 1, {0x37f}},
    {"env fsw", X_ENV_FSW, 1, {0x3000}},
    {"env ftw", X_ENV_FTW, 1, {0x1fff}},
    {"fsave ftw", X_FSAVE_FTW, 1, {0xfff}},
    {"after fsave", X_AFTER_FSAVE, 1, {0x0}},
    {"frstor one", X_FRSTOR_ONE, 2, {0x8000000000000000, 0x3fff}},
    {"frstor pi", X_FRSTOR_PI, 2, {0xc90fdaa22168c235, 0x4000}},
    {"addps", X_ADDPS, 2, {0x3f0000003fc00000, 0x4088000041300000}},
    {"mulpd", X_MULPD, 2, {0x3ff0000000000000, 0x4022000000000000}},
    {"divss", X_DIVSS, 1, {0x3f2aaaab}},
    {"sqrtsd", X_SQRTSD, 1, {0x3ffbb67ae8584caa}},
    {"cvttsd2si", X_CVTTSD2SI, 1, {0xfffffffffffffffe}},
    {"cvtsi2sd", X_CVTSI2SD, 1, {0xc01c000000000000}},
    {"minps", X_MINPS, 2, {0xbfc000003f000000, 0x3e80000040400000}},
    {"cmpltps", X_CMPLTPS, 2, {0xffffffffffffffff, 0xffffffff00000000}},
    {"ucomisd flags", X_UCOMISD_FLAGS, 1, {0x1}},
    {"shufps", X_SHUFPS, 2, {0x4040000040800000, 0x3f80000040000000}},
    {"cvtps2pd", X_CVTPS2PD, 2, {0x3fe0000000000000, 0xbff8000000000000}},
    {"paddusb", X_PADDUSB, 2, {0x8406ffffffff8001, 0xf8d7b695745320ff}},
    {"pmullw", X_PMULLW, 2, {0x8c09fcffb8007f00, 0x3ca025401660fe10}},
    {"pmuludq", X_PMULUDQ, 2, {0x28eba45efff7f00, 0xcd21de7f2bffe10}},
    {"psrlq", X_PSRLQ, 2, {0x8003feff0290010, 0x887766554433100}},
    {"pshufd", X_PSHUFD, 2, {0x302010f070605040, 0xff807f0004030201}},
    {"pmovmskb", X_PMOVMSKB, 1, {0xffff}},
    {"packuswb", X_PACKUSWB, 2, {0xffffffffffff00ff, 0xffffff0000ffff}},
    {"psadbw", X_PSADBW, 2, {0x402, 0x162}},
    {"pextrw", X_PEXTRW, 1, {0x4433}},
    {"cvttsd2si rsp", X_CVTTSD2SI_RSP, 1, {0xfffffffffffffffe}},
    {"maskmovdqu", X_MASKMOVDQU, 2, {0x411020111801111, 0x7011111111111111}},
    {"haddps", X_HADDPS, 2, {0x40e0000040400000, 0x41040000bf800000}},
    {"pshufb", X_PSHUFB, 2, {0xff02900100008801, 0x101010101010100}},
    {"palignr", X_PALIGNR, 2, {0x554433100f8003fe, 0x1ff807f00887766}},
    {"pmaddubsw", X_PMADDUBSW, 2, {0xfe09fffbc9fe007f, 0xf820352013200f10}},
    {"pmulld", X_PMULLD, 2, {0x80fefcffefff7f00, 0xfdb42540f2bffe10}},
    {"ptest flags", X_PTEST_FLAGS, 1, {0x0}},
    {"blendvps", X_BLENDVPS, 2, {0xbfc000003f800000, 0x3e80000040400000}},
    {"roundsd", X_ROUNDSD, 1, {0xc008000000000000}},
    {"dpps", X_DPPS, 1, {0x41b40000}},
    {"pmovzxbw", X_PMOVZXBW, 2, {0xff0080007f0000, 0x4000300020001}},
    {"pextrd", X_PEXTRD, 1, {0x88776655}},
    {"pcmpestri", X_PCMPESTRI, 1, {0x7}},
    {"pcmpestri flags", X_PCMPESTRI_FLAGS, 1, {0xc1}},
    {"pcmpistrm", X_PCMPISTRM, 2, {0xff00000000000000, 0xff}},
    {"crc32", X_CRC32, 1, {0xb940ecb7}},
    {"pcmpgtq", X_PCMPGTQ, 2, {0xffffffffffffffff, 0xffffffffffffffff}},
    {"aesenc", X_AESENC, 2, {0x32347084c5021fb8, 0x32565955aa6084c6}},
    {"aesenclast", X_AESENCLAST, 2, {0x96d3348353277662, 0x8c0cb45cb6fe4383}},
    {"aesdec", X_AESDEC, 2, {0x7681840b21a8ca8b, 0xea2b6709c314715}},
    {"aesimc", X_AESIMC, 2, {0x32213c2b2c48acc8, 0x90c0b0e01a5cc177}},
    {"aeskeygen", X_AESKEYGEN, 2, {0x16cd7ba0cd7bbb16, 0xfcc4f528c4f533fc}},
    {"pclmul", X_PCLMUL, 2, {0xa51eee380fff7f00, 0x2018eff07342dce}},
    {"pclmul hi", X_PCLMUL_HI, 2, {0xc41fa2eff0fff550, 0x3ba77ab759811101}},
    {"paddw mm", X_PADDW_MM, 1, {0x8406010002108001}},
    {"pmaddwd mm", X_PMADDWD_MM, 1, {0xeb9b61e00de21470}},
    {"pshufw mm", X_PSHUFW_MM, 1, {0x1010290feff8003}},
    {"maskmovq", X_MASKMOVQ, 1, {0x422020122802222}},
    {"mmx empty", X_MMX_EMPTY, 1, {0x0}},
    {"emms ftw", X_EMMS_FTW, 1, {0xffff}},
    {"fxsave fcw", X_FXSAVE_FCW, 1, {0x37f}},
    {"fxsave mxcsr", X_FXSAVE_MXCSR, 1, {0x9fc0}},
    {"fxsave xmm1", X_FXSAVE_XMM1, 2, {0x4030201ff807f00, 0x70605040302010f0}},
    {"fxsave st0", X_FXSAVE_ST0, 2, {0xc90fdaa22168c235, 0x4000}},
    {"fxrstor xmm1", X_FXRSTOR_XMM1, 2, {0x4030201ff807f00, 0x70605040302010f0}},
    {"fxrstor st0", X_FXRSTOR_ST0, 2, {0xc90fdaa22168c235, 0x4000}},
};

/* ---- the kernel side ---- */

/* A 64-bit TSS (SDM Vol. 3A §8.7, Figure 8-11). */
static struct __attribute__((packed)) {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3, iomap_base;
} tss;

static uint64_t gdt[8] __attribute__((aligned(16))) = {
    [KERNEL_CS / 8] = 0x00af9b000000ffffull, /* 64-bit code, DPL 0 */
    [KERNEL_DS / 8] = 0x00cf93000000ffffull, /* data, DPL 0 */
    [USER_DS / 8] = 0x00cff3000000ffffull,   /* data, DPL 3 */
    [USER_CS / 8] = 0x00affb000000ffffull,   /* 64-bit code, DPL 3 */
};

static uint8_t kernel_stack[8192] __attribute__((aligned(16)));
static uint8_t user_stack[8192] __attribute__((aligned(16)));

static void load_gdt_tss(void)
{
    uint64_t base = (uint64_t)&tss;
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr = {sizeof(gdt) - 1, (uint64_t)gdt};

    tss.rsp[0] = (uint64_t)kernel_stack + sizeof(kernel_stack);
    tss.iomap_base = sizeof(tss);
    gdt[TSS_SEL / 8] =
        (sizeof(tss) - 1) | (base & 0xffffff) << 16 | 0x89ull << 40 | (base >> 24 & 0xff) << 56;
    gdt[TSS_SEL / 8 + 1] = base >> 32;
    __asm__ volatile("lgdt %[gdtr]\n\t"
                     "pushq %[cs]\n\t"
                     "lea 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\tmov %w[ds], %%ds\n\t"
                     "mov %w[ds], %%es\n\t"
                     "mov %w[ds], %%ss\n\t"
                     "ltr %w[tr]"
                     :
                     : [gdtr] "m"(gdtr), [cs] "i"(KERNEL_CS), [ds] "r"(KERNEL_DS), [tr] "r"(TSS_SEL)
                     : "rax", "memory");
}

/* The user program's final UD2 ends it; any other trap at CPL 3 that no
 * TRAP_TRY expects fails the test. */
static void ud_handler(struct trap_frame *f)
{
    if ((f->cs & 3) == 3 && f->rip == (uint64_t)fpu_user_exit)
        fpu_user_leave();
    trap_unexpected(f);
}

static void run(void (*prog)(void))
{
    fpu_user_run(prog, user_stack + sizeof(user_stack));
}

static void check_results(void)
{
    for (unsigned i = 0; i < sizeof(want) / sizeof(want[0]); i++) {
        const uint64_t *got = &out[want[i].slot];
        int ok = got[0] == want[i].v[0] && (want[i].n < 2 || got[1] == want[i].v[1]);

        if (!ok)
            printf("%s: got %016lx %016lx, expected %016lx %016lx\n", want[i].what,
                   want[i].n > 1 ? got[1] : 0, got[0], want[i].v[1], want[i].v[0]);
        check(ok, want[i].what, __FILE__, __LINE__);
    }
}

/* ---- faults, each from a one-instruction user program ---- */

static uint64_t trap_at, fault_aux;
static uint8_t buf32[32] __attribute__((aligned(16)));

static void prog_sse_op(void)
{
    __asm__ volatile(TRAP_TRY("addps %%xmm1, %%xmm0") : [at] "=&r"(trap_at) : : "memory");
}

static void prog_x87_op(void)
{
    __asm__ volatile(TRAP_TRY("fld1") : [at] "=&r"(trap_at) : : "memory");
}

static void prog_fwait(void)
{
    __asm__ volatile(TRAP_TRY("fwait") : [at] "=&r"(trap_at) : : "memory");
}

static void prog_movaps_misaligned(void)
{
    __asm__ volatile(TRAP_TRY("movaps 8(%[p]), %%xmm0")
                     : [at] "=&r"(trap_at)
                     : [p] "r"(buf32)
                     : "memory");
}

static void prog_movups_misaligned(void)
{
    __asm__ volatile(TRAP_TRY("movups 8(%[p]), %%xmm0")
                     : [at] "=&r"(trap_at)
                     : [p] "r"(buf32)
                     : "memory");
}

static void prog_ldmxcsr_reserved(void)
{
    static const uint32_t bad = 0x1f80 | 1u << 16;

    __asm__ volatile(TRAP_TRY("ldmxcsr %[m]") : [at] "=&r"(trap_at) : [m] "m"(bad) : "memory");
}

/* 1/0 with divide-by-zero unmasked in MXCSR: #XM, XMM0 unchanged, MXCSR.ZE set. */
static void prog_divps_zero(void)
{
    static const uint32_t unmask_ze = 0x1f80 & ~(1u << 9), init = 0x1f80;
    uint32_t mxcsr;

    __asm__ volatile("movaps %[a], %%xmm0\n\txorps %%xmm1, %%xmm1\n\tldmxcsr %[u]\n\t" TRAP_TRY(
                         "divps %%xmm1, %%xmm0") "stmxcsr %[m]\n\tldmxcsr %[i]\n\t"
                                                 "movups %%xmm0, (%[o])"
                     : [at] "=&r"(trap_at), [m] "=m"(mxcsr)
                     : [a] "m"(f_a), [u] "m"(unmask_ze), [i] "m"(init), [o] "r"(buf32)
                     : "memory");
    fault_aux = mxcsr;
}

/* 1/0 with ZE unmasked in FCW: nothing at the FDIV, #MF at the next waiting
 * instruction; the destination keeps 1.0 (SDM Vol. 1 §8.5.3, §8.6). */
static void prog_fdiv_zero(void)
{
    static const uint16_t unmask_ze = 0x037b;
    static const uint64_t zero = 0;
    uint16_t fsw;

    __asm__ volatile("fninit\n\tfldcw %[u]\n\tfld1\n\tfdivl %[z]\n\tfnstsw %[s]\n\t" TRAP_TRY(
                         "fwait") "fnclex\n\tfstpl (%[o])\n\tfninit"
                     : [at] "=&r"(trap_at), [s] "=m"(fsw)
                     : [u] "m"(unmask_ze), [z] "m"(zero), [o] "r"(buf32)
                     : "memory");
    fault_aux = fsw;
}

static void expect_trap(const char *what, void (*prog)(void), uint64_t vector, uint64_t error)
{
    run(prog);
    printf("%s: vector %lu, error code 0x%lx (expected %lu, 0x%lx)\n", what, trap_last.vector,
           trap_last.error_code, vector, error);
    CHECK(trap_last.vector == vector);
    if (vector != TRAP_NONE) {
        CHECK(trap_last.error_code == error);
        CHECK(trap_last.rip == trap_at);
        CHECK((trap_last.cs & 3) == 3);
    }
}

static void test_faults(void)
{
    unsigned long cr0 = read_cr0(), cr4 = read_cr4();
    uint64_t v;

    write_cr0(cr0 | CR0_TS);
    expect_trap("SSE with CR0.TS", prog_sse_op, EXC_NM, 0);
    expect_trap("x87 with CR0.TS", prog_x87_op, EXC_NM, 0);
    expect_trap("FWAIT with CR0.MP and TS", prog_fwait, EXC_NM, 0);
    write_cr0(cr0);
    expect_trap("SSE after CLTS", prog_sse_op, TRAP_NONE, 0);

    expect_trap("misaligned MOVAPS", prog_movaps_misaligned, EXC_GP, 0);
    expect_trap("misaligned MOVUPS", prog_movups_misaligned, TRAP_NONE, 0);
    expect_trap("LDMXCSR with a reserved bit", prog_ldmxcsr_reserved, EXC_GP, 0);

    expect_trap("DIVPS by 0, ZE unmasked", prog_divps_zero, EXC_XM, 0);
    printf("  MXCSR after: 0x%lx\n", fault_aux);
    CHECK(fault_aux == ((0x1f80 & ~(1u << 9)) | 1u << 2));
    memcpy(&v, buf32, 8);
    CHECK(v == 0x400000003f800000ull); /* XMM0 still 1 2 ... */
    write_cr4(cr4 & ~CR4_OSXMMEXCPT);
    expect_trap("DIVPS by 0 without CR4.OSXMMEXCPT", prog_divps_zero, EXC_UD, 0);
    write_cr4(cr4);

    expect_trap("FWAIT after 1/0, ZE unmasked", prog_fdiv_zero, EXC_MF, 0);
    printf("  FSW before: 0x%lx\n", fault_aux);
    CHECK((fault_aux & 0x80ff) == 0x8084); /* B, ES, ZE */
    memcpy(&v, buf32, 8);
    CHECK(v == 0x3ff0000000000000ull);

    write_cr4(cr4 & ~CR4_OSFXSR);
    expect_trap("SSE without CR4.OSFXSR", prog_sse_op, EXC_UD, 0);
    expect_trap("x87 without CR4.OSFXSR", prog_x87_op, TRAP_NONE, 0);
    write_cr4(cr4);
}

/* ---- XSAVE: state components x87 and SSE ---- */

static uint8_t xarea[1024] __attribute__((aligned(64)));

static int same(const uint8_t *a, const uint8_t *b, unsigned n)
{
    while (n && *a == *b)
        n--, a++, b++;
    return n == 0;
}

static void prog_xsave(void)
{
    __asm__ volatile("fninit\n\tmovdqa %[x], %%xmm1\n\tmov $3, %%eax\n\txor %%edx, %%edx\n\t"
                     "xsave64 %[a]\n\t"
                     "pxor %%xmm1, %%xmm1\n\txrstor64 %[a]\n\tmovdqu %%xmm1, (%[o])"
                     : [a] "+m"(xarea)
                     : [x] "m"(b_y), [o] "r"(buf32)
                     : "rax", "rdx", "memory");
}

/* XSTATE_BV[1] clear: XRSTOR puts SSE in its initial state (XMM = 0). */
static void prog_xrstor_init(void)
{
    __asm__ volatile("movdqa %[x], %%xmm1\n\tmov $3, %%eax\n\txor %%edx, %%edx\n\t"
                     "xrstor64 %[a]\n\tmovdqu %%xmm1, (%[o])"
                     :
                     : [a] "m"(xarea), [x] "m"(b_y), [o] "r"(buf32)
                     : "rax", "rdx", "memory");
}

static void prog_xrstor_bad_header(void)
{
    __asm__ volatile("mov $3, %%eax\n\txor %%edx, %%edx\n\t" TRAP_TRY("xrstor64 %[a]")
                     : [at] "=&r"(trap_at)
                     : [a] "m"(xarea)
                     : "rax", "rdx", "memory");
}

static uint64_t xcr0;

static void prog_xgetbv(void)
{
    uint32_t lo, hi;

    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    xcr0 = (uint64_t)hi << 32 | lo;
}

static void test_xsave(void)
{
    uint32_t r[4];
    uint64_t lo, hi, bv;

    cpuid(1, 0, r);
    if (!(r[2] & (1u << 26))) {
        printf("XSAVE: not advertised, skipped\n");
        return;
    }
    write_cr4(read_cr4() | CR4_OSXSAVE);
    cpuid(1, 0, r);
    CHECK(r[2] & (1u << 27)); /* OSXSAVE */
    cpuid(0xd, 0, r);
    CHECK((r[0] & 3) == 3);
    run(prog_xgetbv);
    printf("XCR0 at reset: 0x%lx\n", xcr0);
    CHECK(xcr0 == 1);
    __asm__ volatile("xsetbv" : : "a"(3), "d"(0), "c"(0));
    run(prog_xgetbv);
    CHECK(xcr0 == 3);

    run(prog_xsave);
    memcpy(&bv, xarea + 512, 8);
    printf("XSAVE: XSTATE_BV 0x%lx\n", bv);
    CHECK(bv & 2); /* SSE state not initial: XMM1 is not 0 */
    CHECK(same(xarea + 160 + 16, b_y, 16));
    CHECK(same(buf32, b_y, 16));
    CHECK(xarea[0] == 0x7f && xarea[1] == 0x03);

    bv &= ~2ull;
    memcpy(xarea + 512, &bv, 8);
    run(prog_xrstor_init);
    memcpy(&lo, buf32, 8);
    memcpy(&hi, buf32 + 8, 8);
    CHECK(lo == 0 && hi == 0);

    xarea[512 + 16] = 1; /* header bytes 16-23 must be 0 */
    expect_trap("XRSTOR with reserved header bytes set", prog_xrstor_bad_header, EXC_GP, 0);
    xarea[512 + 16] = 0;
}

static void setup(void)
{
    uint64_t *pml4 = pgtable_new();
    uint32_t r[4];

    idt_init();
    trap_set_handler(EXC_UD, ud_handler);
    load_gdt_tss();
    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW | PTE_US);
    write_cr3((uint64_t)pml4);
    /* SDM Vol. 3A §13.1: x87 and SSE on, exceptions reported natively. */
    write_cr0((read_cr0() & ~(CR0_EM | CR0_TS)) | CR0_MP | CR0_NE);
    write_cr4(read_cr4() | CR4_OSFXSR | CR4_OSXMMEXCPT);
    cpuid(1, 0, r);
    printf("CPUID.1: ecx 0x%08x edx 0x%08x\n", r[2], r[3]);
    /* FPU, MMX, FXSR, SSE, SSE2; SSE3, PCLMULQDQ, SSSE3, SSE4.1, SSE4.2, AES. */
    CHECK((r[3] & 0x07800001) == 0x07800001);
    CHECK((r[2] & 0x02180203) == 0x02180203);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    setup();
    run(prog_x87);
    run(prog_sse);
    run(prog_sse4);
    run(prog_aes);
    run(prog_mmx);
    run(prog_fxsave);
    check_results();
    test_faults();
    test_xsave();
    guest_finish();
}
