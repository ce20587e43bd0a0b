/*
 * The instruction forms of the differential test (forms.c), as the case
 * generator (gen.c) reads them. A form is one encoding of one user-level
 * integer instruction in one CPU mode: opcode, operand size, how ModRM is
 * used, the immediate, and a kind that tells the generator which inputs
 * the instruction needs and what the SDM leaves undefined.
 */
#ifndef VX86_TESTS_DIFFTEST_FORMS_H
#define VX86_TESTS_DIFFTEST_FORMS_H

#include <stdbool.h>
#include <stdint.h>

enum kind {
    K_PLAIN,
    K_SHIFT,   /* group 2: count-dependent OF/AF/CF */
    K_SHXD,    /* SHLD/SHRD */
    K_DIV,     /* DIV/IDIV: mostly non-faulting inputs, some #DE */
    K_BT,      /* BT* with a register bit offset into memory */
    K_BSF,     /* BSF/BSR: zero source leaves the destination undefined */
    K_CMPXCHG, /* accumulator equal to the destination half of the time */
    K_CX8,     /* CMPXCHG8B/16B */
    K_STRING,  /* RSI/RDI/RCX into the data page, DF either way */
    K_POPF,    /* the popped image holds only status flags and DF */
    K_LEAVE,   /* LEAVE, ENTER: RBP into the data page */
    K_XLAT,    /* RBX into the data page */
    K_BRANCH,  /* a target in the landing area; see enum branch */
    K_BOUND,   /* BOUND: the index inside the bounds half of the time */
    K_AAM,     /* AAM/AAD: base 10 mostly, sometimes 0 (#DE for AAM) */
    K_VEX,     /* a VEX-encoded SIMD instruction (vex.c): vector inputs */
};

/* VEX forms: what VEX.vvvv, ModRM and the immediate name (vex.c). */
enum {
    V_NDS = 1 << 0,      /* VEX.vvvv names a source register; else it is 1111b */
    V_NDD = 1 << 1,      /* VEX.vvvv names the destination; ModRM.reg is the /digit */
    V_IS4 = 1 << 2,      /* imm8[7:4] names a register */
    V_IMM = 1 << 3,      /* an imm8 */
    V_REG_GPR = 1 << 4,  /* ModRM.reg is a GPR */
    V_RM_GPR = 1 << 5,   /* ModRM.rm, as a register, is a GPR */
    V_MEM = 1 << 6,      /* ModRM.rm is memory only */
    V_REG = 1 << 7,      /* ModRM.rm is a register only */
    V_ALIGN = 1 << 8,    /* a memory operand of the vector's size must be aligned */
    V_MASK = 1 << 9,     /* a masked move: VEX.vvvv is the mask */
    V_NOMODRM = 1 << 10, /* VZEROUPPER, VZEROALL */
    V_W0 = 1 << 11,      /* VEX.W0; neither W0 nor W1: WIG */
    V_W1 = 1 << 12,
    V_GATHER = 1 << 13, /* VSIB: ModRM.reg destination, vvvv mask, SIB.index vector */
    V_QIDX = 1 << 14,   /* gathers with qword indices */
    V_STEPS = 1 << 15,  /* DPPS, DPPD: two rounding steps (see vex.c) */
    V_L0 = 1 << 16,     /* VEX.L1 is VAES or VPCLMULQDQ, which vx86 does not offer */
};

/* How a K_BRANCH form names its target. */
enum branch { BR_REL, BR_RM, BR_RET, BR_LOOP };

enum { MODRM_NONE = -1, MODRM_R = 8 }; /* or a /digit 0..7 */
enum { RM_ANY, RM_REG, RM_MEM };
enum { IMM_0, IMM_B, IMM_W, IMM_Z, IMM_V, IMM_ENTER };
enum { CNT_NONE, CNT_ONE, CNT_CL, CNT_IMM };
enum { M64 = 1, M32 = 2, M16 = 4 }; /* the modes a form exists in */

struct form {
    char name[40];
    uint8_t op[3], nop;
    uint8_t pfx;   /* a mandatory or REP prefix */
    uint8_t osz;   /* 1, 2 (0x66), 4, 8 (REX.W unless def64) */
    bool def64;    /* PUSH, POP, branches: osz 8 is the mode's default size */
    int8_t modrm;  /* MODRM_NONE, MODRM_R or the /digit */
    uint8_t rm;    /* RM_ANY, RM_REG, RM_MEM */
    bool plusr;    /* register in the low 3 bits of the last opcode byte */
    uint8_t imm;   /* IMM_* */
    uint8_t kind;  /* enum kind */
    uint8_t cnt;   /* shift count: K_SHIFT, K_SHXD */
    uint8_t digit; /* K_SHIFT: which of group 2 */
    bool sign;     /* K_DIV: IDIV */
    uint8_t br;    /* K_BRANCH: enum branch */
    bool lockable;
    uint8_t modes;  /* M64 | M32 | M16; 0: every mode the operand size allows */
    uint8_t mode;   /* 64, 32 or 16: the mode of this entry */
    uint16_t undef; /* flags the SDM leaves undefined, always */
    /* K_VEX: the map (1: 0F, 2: 0F38, 3: 0F3A), the implied prefix (pp:
     * none, 66, F3, F2), VEX.L and the V_* flags. */
    uint8_t vmap, vpp, vl;
    uint32_t vflags;
};

/* vex.c: adds the VEX forms through add (one per VEX.L and mode), if the
 * host runs them. */
void vex_forms(void (*add)(struct form f, const char *name));

const struct form *dt_form(int index);

#endif
