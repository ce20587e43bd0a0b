/*
 * Differential test of the emu engine against the host CPU: one random
 * instruction runs natively (native.c, in a forked child) and in the
 * interpreter (emu.c), from the same registers, flags and data page; the
 * results must agree except where the SDM leaves them undefined (forms.c).
 *
 * Both sides use the same linear addresses: the data page is mapped at
 * DT_DATA in the child and lies at DT_DATA in guest RAM (identity-mapped),
 * and the instruction's first byte is at DT_INSN on both sides, so
 * RIP-relative operands agree too.
 */
#ifndef VX86_TESTS_DIFFTEST_H
#define VX86_TESTS_DIFFTEST_H

/* Spelled without suffixes: native.c pastes them into its assembly. */
#define DT_DATA      0x200000 /* the page memory operands and the stack point into */
#define DT_DATA_SIZE 4096
#define DT_CODE      0x300000 /* the page holding the instruction */
#define DT_INSN      0x300800
#define DT_INSN_MAX  15
/* LDT segments, the same on both sides, where the host lets user code load
 * them: GS is a data segment with base DT_DATA in every mode; 16-bit code
 * runs in a 16-bit code segment with base DT_CODE, with DS, ES and SS a
 * 16-bit data segment with base DT_DATA (so offsets are small and the
 * stack is SP). Where it does not (the native child finds out), only the
 * host's flat user segments are used: GS is a null selector with base
 * DT_DATA (arch_prctl) in 64-bit code and the flat DT_USER_DS in 32-bit
 * code, and 16-bit code cannot run. */
#define DT_GS_SEL     0x07 /* LDT entry 0, RPL 3 */
#define DT_DATA16_SEL 0x0f /* LDT entry 1 */
#define DT_CODE16_SEL 0x17 /* LDT entry 2 */
#define DT_SEG_LIMIT  0xffff
/* Selectors of the host's (Linux's) flat user segments, for compatibility
 * mode; the emu side uses descriptors of the same shape. */
#define DT_USER32_CS 0x23
#define DT_USER_DS   0x2b
#define DT_USER64_CS 0x33

/* Branch targets lie in [DT_LANDING_LO, DT_LANDING_HI), clear of
 * [DT_INSN - DT_LANDING_SIZE, DT_INSN + length + 5). */
#define DT_LANDING_LO   (DT_CODE + 0x200)
#define DT_LANDING_HI   (DT_CODE + 0xb00)
#define DT_LANDING_SIZE 16

/* Status flags (SDM Vol. 1 §3.4.3) and DF, the flags the test compares. */
#define F_CF      0x0001u
#define F_PF      0x0004u
#define F_AF      0x0010u
#define F_ZF      0x0040u
#define F_SF      0x0080u
#define F_TF      0x0100u
#define F_IF      0x0200u
#define F_DF      0x0400u
#define F_OF      0x0800u
#define F_STATUS  (F_CF | F_PF | F_AF | F_ZF | F_SF | F_OF)
#define F_COMPARE (F_STATUS | F_DF)

#ifndef __ASSEMBLER__ /* the rest is C; tramp.S uses the constants above */

#include <stdbool.h>
#include <stdint.h>

/* GPRs in encoding order: rax rcx rdx rbx rsp rbp rsi rdi r8..r15. */
enum { R_AX, R_CX, R_DX, R_BX, R_SP, R_BP, R_SI, R_DI };

/* The vector state of a case with vec set (VEX forms): loaded and stored
 * by the native trampoline, compared after the GPRs. */
struct dt_regs {
    uint64_t gpr[16];
    uint64_t rflags;
    uint64_t mxcsr;      /* offset 136 (tramp.S) */
    uint8_t ymm[16][32]; /* offset 144 */
};

/* How a side ended: normally, or with an exception (a signal natively). */
struct dt_result {
    struct dt_regs regs;
    uint8_t data[DT_DATA_SIZE];
    int vector;    /* -1: completed; -2: the emu side failed (why); else the vector */
    bool taken;    /* a branch went to the case's target */
    int signo;     /* native side: the signal, 0 if none */
    char why[160]; /* emu side: an internal error or an unexpected exit */
};

struct dt_case {
    uint8_t code[DT_INSN_MAX];
    uint8_t len;
    uint8_t mode; /* 64: 64-bit mode; 32 or 16: compatibility mode, 32/16-bit code */
    bool vec;     /* the vector state (YMM, MXCSR) is input and compared */
    int form;     /* index into dt_forms */
    struct dt_regs in;
    uint8_t data[DT_DATA_SIZE];
    uint64_t target; /* a branch's target (linear), 0 for other forms */
    uint16_t gs_sel;  /* GS: DT_GS_SEL, DT_USER_DS, or 0 (null, base by arch_prctl) */
    uint32_t gs_base; /* ... and its base */

    /* What to ignore in the comparison, from the SDM's "undefined". */
    uint32_t flags_undef;
    uint64_t regs_undef[16]; /* per GPR, the bits with undefined contents */
    uint16_t mem_undef_off, mem_undef_len;
};

/* forms.c */
int dt_forms_init(void);
/* Whether this host runs the VEX forms: AVX2 with the YMM state enabled. */
bool dt_host_avx2(void);
int dt_form_count(void);
const char *dt_form_name(int form);
int dt_form_mode(int form); /* 64, 32 or 16 */
/* Builds case number n of a run with this seed, of the given form, for a
 * host where the LDT segments are usable (ldt) or not: the same arguments
 * give the same case. */
void dt_case_make(struct dt_case *c, uint64_t seed, uint64_t n, int form, bool ldt);
/* Sets the GS of a case of c->mode, as dt_case_make does. */
void dt_case_gs(struct dt_case *c, bool ldt);

/* native.c: a forked child runs cases and survives their signals.
 * native_start: 0, -ENOTSUP if this host cannot run the native side (no
 * RWX mappings; the child said why), or another -errno. *ldt says whether
 * the child could load the LDT segments (never if use_ldt is false). */
int native_start(bool use_ldt, bool *ldt);
int native_run(const struct dt_case *cases, struct dt_result *results, int count);
void native_stop(void);

/* emu.c: one VM with the emu engine, reused for every case; jit: every
 * case runs as code of the binary translator, translated at its first run
 * (-ENOTSUP if this host gives the translator no code cache), else the
 * interpreter runs it. */
int emu_side_init(bool jit);
void emu_side_run(const struct dt_case *c, struct dt_result *r);
void emu_side_exit(void);

#endif /* __ASSEMBLER__ */
#endif
