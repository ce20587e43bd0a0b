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
};

const struct form *dt_form(int index);

#endif
