/*
 * The table of instruction forms: the integer instructions a user program
 * runs, in every encoding and operand size, in 64-bit mode and (where the
 * encoding exists there) in 32-bit and 16-bit code in compatibility mode,
 * plus the forms that 64-bit mode dropped (BCD adjustment, PUSHA/POPA,
 * BOUND, INTO, ARPL, one-byte INC/DEC).
 */
#include <stdio.h>

#include "difftest.h"
#include "forms.h"

#define MAX_FORMS 4096
static struct form forms[MAX_FORMS];
static int nforms;
static bool overflow;

static char size_letter(int osz)
{
    return "?bw?l???q"[osz];
}

/* Adds the form once per mode it exists in: 64-bit operands only in
 * 64-bit mode. The operand sizes of def64 forms (PUSH, POP, branches) are
 * the mode's default (osz 8) and the other one (osz 2, with 0x66). */
static void add(struct form f, const char *name)
{
    static const char *const suffix[] = {"", "/32", "/16"};
    uint8_t modes = f.modes ? f.modes : (f.osz == 8 && !f.def64) ? M64 : M64 | M32 | M16;

    for (int m = 0; m < 3; m++) {
        struct form g = f;

        if (!(modes & (1 << m)))
            continue;
        if (nforms == MAX_FORMS) {
            overflow = true;
            return;
        }
        g.mode = (uint8_t)(64 >> m);
        if (g.mode == 32 && g.def64 && g.osz == 8)
            g.osz = 4;
        if (g.mode == 16 && g.def64)
            g.osz = g.osz == 8 ? 2 : 4;
        if (g.vmap) /* VEX forms name their vector length themselves */
            snprintf(g.name, sizeof(g.name), "%s%s", name, suffix[m]);
        else
            snprintf(g.name, sizeof(g.name), "%s/%c%s", name, size_letter(g.osz), suffix[m]);
        forms[nforms++] = g;
    }
}

/* One opcode byte in the sizes 2, 4, 8 (osz_from..8). */
static void add_wlq(struct form f, const char *name)
{
    for (int osz = 2; osz <= 8; osz *= 2) {
        f.osz = (uint8_t)osz;
        add(f, name);
    }
}

#define OP1(a)       .op = {a}, .nop = 1
#define OP2(a, b)    .op = {a, b}, .nop = 2
#define OP3(a, b, c) .op = {a, b, c}, .nop = 3

static void add_alu(void)
{
    static const char *const names[8] = {"add", "or", "adc", "sbb", "and", "sub", "xor", "cmp"};
    char n[40];

    for (int i = 0; i < 8; i++) {
        uint16_t undef = (i == 1 || i == 4 || i == 6) ? F_AF : 0; /* logic ops: AF undefined */
        bool lk = i != 7;
        uint8_t b = (uint8_t)(i * 8);

        snprintf(n, sizeof(n), "%s rm,r", names[i]);
        add((struct form){OP1(b), .osz = 1, .modrm = MODRM_R, .lockable = lk, .undef = undef}, n);
        add_wlq((struct form){OP1(b + 1), .modrm = MODRM_R, .lockable = lk, .undef = undef}, n);
        snprintf(n, sizeof(n), "%s r,rm", names[i]);
        add((struct form){OP1(b + 2), .osz = 1, .modrm = MODRM_R, .undef = undef}, n);
        add_wlq((struct form){OP1(b + 3), .modrm = MODRM_R, .undef = undef}, n);
        snprintf(n, sizeof(n), "%s acc,imm", names[i]);
        add((struct form){OP1(b + 4), .osz = 1, .modrm = MODRM_NONE, .imm = IMM_B, .undef = undef},
            n);
        add_wlq((struct form){OP1(b + 5), .modrm = MODRM_NONE, .imm = IMM_Z, .undef = undef}, n);
        snprintf(n, sizeof(n), "%s rm,imm", names[i]);
        add((struct form){OP1(0x80), .osz = 1, .modrm = (int8_t)i, .imm = IMM_B, .lockable = lk,
                          .undef = undef},
            n);
        add_wlq((struct form){OP1(0x81), .modrm = (int8_t)i, .imm = IMM_Z, .lockable = lk,
                              .undef = undef},
                n);
        snprintf(n, sizeof(n), "%s rm,simm8", names[i]);
        add_wlq((struct form){OP1(0x83), .modrm = (int8_t)i, .imm = IMM_B, .lockable = lk,
                              .undef = undef},
                n);
    }
    add((struct form){OP1(0x84), .osz = 1, .modrm = MODRM_R, .undef = F_AF}, "test rm,r");
    add_wlq((struct form){OP1(0x85), .modrm = MODRM_R, .undef = F_AF}, "test rm,r");
    add((struct form){OP1(0xa8), .osz = 1, .modrm = MODRM_NONE, .imm = IMM_B, .undef = F_AF},
        "test acc,imm");
    add_wlq((struct form){OP1(0xa9), .modrm = MODRM_NONE, .imm = IMM_Z, .undef = F_AF},
            "test acc,imm");
    add((struct form){OP1(0xf6), .osz = 1, .modrm = 0, .imm = IMM_B, .undef = F_AF}, "test rm,imm");
    add_wlq((struct form){OP1(0xf7), .modrm = 0, .imm = IMM_Z, .undef = F_AF}, "test rm,imm");
}

static void add_unary(void)
{
    static const struct {
        uint8_t byte_op, op, digit;
        const char *name;
    } u[] = {
        {0xfe, 0xff, 0, "inc"},
        {0xfe, 0xff, 1, "dec"},
        {0xf6, 0xf7, 2, "not"},
        {0xf6, 0xf7, 3, "neg"},
    };

    for (unsigned i = 0; i < sizeof(u) / sizeof(u[0]); i++) {
        add((struct form){OP1(u[i].byte_op), .osz = 1, .modrm = (int8_t)u[i].digit,
                          .lockable = true},
            u[i].name);
        add_wlq((struct form){OP1(u[i].op), .modrm = (int8_t)u[i].digit, .lockable = true},
                u[i].name);
    }
}

static void add_shifts(void)
{
    /* /6 is SAL's undocumented alias of SHL: hardware runs it the same. */
    static const char *const names[8] = {"rol", "ror", "rcl",     "rcr",
                                         "shl", "shr", "sal(/6)", "sar"};
    static const struct {
        uint8_t byte_op, op, imm, cnt;
        const char *how;
    } enc[] = {
        {0xc0, 0xc1, IMM_B, CNT_IMM, "imm"},
        {0xd0, 0xd1, IMM_0, CNT_ONE, "1"},
        {0xd2, 0xd3, IMM_0, CNT_CL, "cl"},
    };
    char n[40];

    for (int d = 0; d < 8; d++) {
        for (unsigned e = 0; e < sizeof(enc) / sizeof(enc[0]); e++) {
            struct form f = {.modrm = (int8_t)d,
                             .imm = enc[e].imm,
                             .kind = K_SHIFT,
                             .cnt = enc[e].cnt,
                             .digit = (uint8_t)d};

            snprintf(n, sizeof(n), "%s rm,%s", names[d], enc[e].how);
            f.op[0] = enc[e].byte_op;
            f.nop = 1;
            f.osz = 1;
            add(f, n);
            f.op[0] = enc[e].op;
            add_wlq(f, n);
        }
    }
    add_wlq((struct form){OP2(0x0f, 0xa4), .modrm = MODRM_R, .imm = IMM_B, .kind = K_SHXD,
                          .cnt = CNT_IMM},
            "shld rm,r,imm");
    add_wlq((struct form){OP2(0x0f, 0xa5), .modrm = MODRM_R, .kind = K_SHXD, .cnt = CNT_CL},
            "shld rm,r,cl");
    add_wlq((struct form){OP2(0x0f, 0xac), .modrm = MODRM_R, .imm = IMM_B, .kind = K_SHXD,
                          .cnt = CNT_IMM},
            "shrd rm,r,imm");
    add_wlq((struct form){OP2(0x0f, 0xad), .modrm = MODRM_R, .kind = K_SHXD, .cnt = CNT_CL},
            "shrd rm,r,cl");
}

static void add_muldiv(void)
{
    const uint16_t mul_undef = F_SF | F_ZF | F_AF | F_PF;
    static const char *const names[4] = {"mul", "imul", "div", "idiv"};

    for (int d = 4; d < 8; d++) {
        struct form f = {OP1(0xf6),
                         .osz = 1,
                         .modrm = (int8_t)d,
                         .kind = d >= 6 ? K_DIV : K_PLAIN,
                         .sign = d == 5 || d == 7,
                         .undef = d >= 6 ? F_STATUS : mul_undef};

        add(f, names[d - 4]);
        f.op[0] = 0xf7;
        add_wlq(f, names[d - 4]);
    }
    add_wlq((struct form){OP2(0x0f, 0xaf), .modrm = MODRM_R, .undef = mul_undef}, "imul r,rm");
    add_wlq((struct form){OP1(0x69), .modrm = MODRM_R, .imm = IMM_Z, .undef = mul_undef},
            "imul r,rm,imm");
    add_wlq((struct form){OP1(0x6b), .modrm = MODRM_R, .imm = IMM_B, .undef = mul_undef},
            "imul r,rm,simm8");
}

static void add_bits(void)
{
    static const char *const names[4] = {"bt", "bts", "btr", "btc"};
    const uint16_t bt_undef = F_OF | F_SF | F_AF | F_PF;
    char n[40];

    for (int i = 0; i < 4; i++) {
        snprintf(n, sizeof(n), "%s rm,r", names[i]);
        add_wlq((struct form){OP2(0x0f, (uint8_t)(0xa3 + 8 * i)), .modrm = MODRM_R, .kind = K_BT,
                              .lockable = i != 0, .undef = bt_undef},
                n);
        snprintf(n, sizeof(n), "%s rm,imm", names[i]);
        add_wlq((struct form){OP2(0x0f, 0xba), .modrm = (int8_t)(4 + i), .imm = IMM_B,
                              .lockable = i != 0, .undef = bt_undef},
                n);
    }
    add_wlq((struct form){OP2(0x0f, 0xbc), .modrm = MODRM_R, .kind = K_BSF,
                          .undef = F_CF | F_OF | F_SF | F_AF | F_PF},
            "bsf");
    add_wlq((struct form){OP2(0x0f, 0xbd), .modrm = MODRM_R, .kind = K_BSF,
                          .undef = F_CF | F_OF | F_SF | F_AF | F_PF},
            "bsr");
    add_wlq((struct form){OP2(0x0f, 0xbc), .pfx = 0xf3, .modrm = MODRM_R,
                          .undef = F_OF | F_SF | F_AF | F_PF},
            "tzcnt");
    add_wlq((struct form){OP2(0x0f, 0xbd), .pfx = 0xf3, .modrm = MODRM_R,
                          .undef = F_OF | F_SF | F_AF | F_PF},
            "lzcnt");
    add_wlq((struct form){OP2(0x0f, 0xb8), .pfx = 0xf3, .modrm = MODRM_R}, "popcnt");
    /* BSWAP of a 16-bit register is undefined (SDM BSWAP). */
    add((struct form){OP2(0x0f, 0xc8), .osz = 4, .modrm = MODRM_NONE, .plusr = true}, "bswap");
    add((struct form){OP2(0x0f, 0xc8), .osz = 8, .modrm = MODRM_NONE, .plusr = true}, "bswap");
}

static void add_moves(void)
{
    char n[40];

    add((struct form){OP1(0x88), .osz = 1, .modrm = MODRM_R}, "mov rm,r");
    add_wlq((struct form){OP1(0x89), .modrm = MODRM_R}, "mov rm,r");
    add((struct form){OP1(0x8a), .osz = 1, .modrm = MODRM_R}, "mov r,rm");
    add_wlq((struct form){OP1(0x8b), .modrm = MODRM_R}, "mov r,rm");
    add((struct form){OP1(0xc6), .osz = 1, .modrm = 0, .imm = IMM_B}, "mov rm,imm");
    add_wlq((struct form){OP1(0xc7), .modrm = 0, .imm = IMM_Z}, "mov rm,imm");
    add((struct form){OP1(0xb0), .osz = 1, .modrm = MODRM_NONE, .plusr = true, .imm = IMM_B},
        "mov r,imm");
    add_wlq((struct form){OP1(0xb8), .modrm = MODRM_NONE, .plusr = true, .imm = IMM_V},
            "mov r,imm");
    add_wlq((struct form){OP2(0x0f, 0xb6), .modrm = MODRM_R}, "movzx r,rm8");
    add_wlq((struct form){OP2(0x0f, 0xb7), .modrm = MODRM_R}, "movzx r,rm16");
    add_wlq((struct form){OP2(0x0f, 0xbe), .modrm = MODRM_R}, "movsx r,rm8");
    add_wlq((struct form){OP2(0x0f, 0xbf), .modrm = MODRM_R}, "movsx r,rm16");
    add((struct form){OP1(0x63), .osz = 4, .modrm = MODRM_R, .modes = M64}, "movsxd r,rm32");
    add((struct form){OP1(0x63), .osz = 8, .modrm = MODRM_R}, "movsxd r,rm32");
    for (int cc = 0; cc < 16; cc++) {
        snprintf(n, sizeof(n), "cmov%x", cc);
        add_wlq((struct form){OP2(0x0f, (uint8_t)(0x40 + cc)), .modrm = MODRM_R}, n);
        snprintf(n, sizeof(n), "set%x", cc);
        add((struct form){OP2(0x0f, (uint8_t)(0x90 + cc)), .osz = 1, .modrm = 0}, n);
    }
    add((struct form){OP1(0x86), .osz = 1, .modrm = MODRM_R, .lockable = true}, "xchg rm,r");
    add_wlq((struct form){OP1(0x87), .modrm = MODRM_R, .lockable = true}, "xchg rm,r");
    add_wlq((struct form){OP1(0x90), .modrm = MODRM_NONE, .plusr = true}, "xchg r,acc");
    add((struct form){OP2(0x0f, 0xc0), .osz = 1, .modrm = MODRM_R, .lockable = true}, "xadd");
    add_wlq((struct form){OP2(0x0f, 0xc1), .modrm = MODRM_R, .lockable = true}, "xadd");
    add((struct form){OP2(0x0f, 0xb0), .osz = 1, .modrm = MODRM_R, .kind = K_CMPXCHG,
                      .lockable = true},
        "cmpxchg");
    add_wlq((struct form){OP2(0x0f, 0xb1), .modrm = MODRM_R, .kind = K_CMPXCHG, .lockable = true},
            "cmpxchg");
    add((struct form){OP2(0x0f, 0xc7), .osz = 4, .modrm = 1, .rm = RM_MEM, .kind = K_CX8,
                      .lockable = true},
        "cmpxchg8b");
    add((struct form){OP2(0x0f, 0xc7), .osz = 8, .modrm = 1, .rm = RM_MEM, .kind = K_CX8,
                      .lockable = true},
        "cmpxchg16b");
    add_wlq((struct form){OP1(0x8d), .modrm = MODRM_R, .rm = RM_MEM}, "lea");
    add_wlq((struct form){OP3(0x0f, 0x38, 0xf0), .modrm = MODRM_R, .rm = RM_MEM}, "movbe r,m");
    add_wlq((struct form){OP3(0x0f, 0x38, 0xf1), .modrm = MODRM_R, .rm = RM_MEM}, "movbe m,r");
    add_wlq((struct form){OP1(0x98), .modrm = MODRM_NONE}, "cbw/cwde/cdqe");
    add_wlq((struct form){OP1(0x99), .modrm = MODRM_NONE}, "cwd/cdq/cqo");
    add((struct form){OP1(0x9f), .osz = 4, .modrm = MODRM_NONE}, "lahf");
    add((struct form){OP1(0x9e), .osz = 4, .modrm = MODRM_NONE}, "sahf");
    add((struct form){OP1(0xf8), .osz = 4, .modrm = MODRM_NONE}, "clc");
    add((struct form){OP1(0xf9), .osz = 4, .modrm = MODRM_NONE}, "stc");
    add((struct form){OP1(0xf5), .osz = 4, .modrm = MODRM_NONE}, "cmc");
    add((struct form){OP1(0xfc), .osz = 4, .modrm = MODRM_NONE}, "cld");
    add((struct form){OP1(0xfd), .osz = 4, .modrm = MODRM_NONE}, "std");
}

static void add_strings(void)
{
    static const struct {
        uint8_t op;
        const char *name;
    } s[] = {{0xa4, "movs"}, {0xaa, "stos"}, {0xac, "lods"}, {0xa6, "cmps"}, {0xae, "scas"}};
    static const struct {
        uint8_t pfx;
        const char *name;
    } rep[] = {{0, ""}, {0xf3, "rep "}, {0xf2, "repne "}};
    char n[40];

    for (unsigned i = 0; i < sizeof(s) / sizeof(s[0]); i++) {
        for (unsigned r = 0; r < sizeof(rep) / sizeof(rep[0]); r++) {
            snprintf(n, sizeof(n), "%s%s", rep[r].name, s[i].name);
            add((struct form){OP1(s[i].op), .pfx = rep[r].pfx, .osz = 1, .modrm = MODRM_NONE,
                              .kind = K_STRING},
                n);
            add_wlq((struct form){OP1((uint8_t)(s[i].op + 1)), .pfx = rep[r].pfx,
                                  .modrm = MODRM_NONE, .kind = K_STRING},
                    n);
        }
    }
}

static void add_stack(void)
{
    static const struct form f[] = {
        {OP1(0x50), .modrm = MODRM_NONE, .plusr = true},
        {OP1(0x58), .modrm = MODRM_NONE, .plusr = true},
        {OP1(0xff), .modrm = 6},
        {OP1(0x8f), .modrm = 0},
        {OP1(0x6a), .modrm = MODRM_NONE, .imm = IMM_B},
        {OP1(0x68), .modrm = MODRM_NONE, .imm = IMM_Z},
        {OP1(0x9c), .modrm = MODRM_NONE},
        {OP1(0x9d), .modrm = MODRM_NONE, .kind = K_POPF},
        {OP1(0xc9), .modrm = MODRM_NONE, .kind = K_LEAVE},
    };
    static const char *const names[] = {"push r",   "pop r", "push rm", "pop rm", "push simm8",
                                        "push imm", "pushf", "popf",    "leave"};

    for (unsigned i = 0; i < sizeof(f) / sizeof(f[0]); i++) {
        struct form g = f[i];

        g.def64 = true;
        g.osz = 8;
        add(g, names[i]);
        g.osz = 2;
        add(g, names[i]);
    }
}

static void add_branches(void)
{
    char n[40];

    for (int cc = 0; cc < 16; cc++) {
        snprintf(n, sizeof(n), "j%x rel8", cc);
        add((struct form){OP1((uint8_t)(0x70 + cc)), .osz = 8, .def64 = true, .modrm = MODRM_NONE,
                          .imm = IMM_B, .kind = K_BRANCH, .br = BR_REL},
            n);
        snprintf(n, sizeof(n), "j%x rel32", cc);
        add((struct form){OP2(0x0f, (uint8_t)(0x80 + cc)), .osz = 8, .def64 = true,
                          .modrm = MODRM_NONE, .imm = IMM_Z, .kind = K_BRANCH, .br = BR_REL},
            n);
    }
    add((struct form){OP1(0xeb), .osz = 8, .def64 = true, .modrm = MODRM_NONE, .imm = IMM_B,
                      .kind = K_BRANCH, .br = BR_REL},
        "jmp rel8");
    add((struct form){OP1(0xe9), .osz = 8, .def64 = true, .modrm = MODRM_NONE, .imm = IMM_Z,
                      .kind = K_BRANCH, .br = BR_REL},
        "jmp rel32");
    add((struct form){OP1(0xe8), .osz = 8, .def64 = true, .modrm = MODRM_NONE, .imm = IMM_Z,
                      .kind = K_BRANCH, .br = BR_REL},
        "call rel32");
    add((struct form){OP1(0xff), .osz = 8, .def64 = true, .modrm = 4, .kind = K_BRANCH,
                      .br = BR_RM},
        "jmp rm");
    add((struct form){OP1(0xff), .osz = 8, .def64 = true, .modrm = 2, .kind = K_BRANCH,
                      .br = BR_RM},
        "call rm");
    add((struct form){OP1(0xc3), .osz = 8, .def64 = true, .modrm = MODRM_NONE, .kind = K_BRANCH,
                      .br = BR_RET},
        "ret");
    add((struct form){OP1(0xc2), .osz = 8, .def64 = true, .modrm = MODRM_NONE, .imm = IMM_W,
                      .kind = K_BRANCH, .br = BR_RET},
        "ret imm16");
    add((struct form){OP1(0xe0), .osz = 8, .def64 = true, .modrm = MODRM_NONE, .imm = IMM_B,
                      .kind = K_BRANCH, .br = BR_LOOP},
        "loopne");
    add((struct form){OP1(0xe1), .osz = 8, .def64 = true, .modrm = MODRM_NONE, .imm = IMM_B,
                      .kind = K_BRANCH, .br = BR_LOOP},
        "loope");
    add((struct form){OP1(0xe2), .osz = 8, .def64 = true, .modrm = MODRM_NONE, .imm = IMM_B,
                      .kind = K_BRANCH, .br = BR_LOOP},
        "loop");
    add((struct form){OP1(0xe3), .osz = 8, .def64 = true, .modrm = MODRM_NONE, .imm = IMM_B,
                      .kind = K_BRANCH, .br = BR_LOOP},
        "jrcxz");
}

static void add_misc(void)
{
    char n[40];

    add((struct form){OP1(0xc8), .osz = 8, .def64 = true, .modrm = MODRM_NONE, .imm = IMM_ENTER,
                      .kind = K_LEAVE},
        "enter");
    add((struct form){OP1(0xc8), .osz = 2, .def64 = true, .modrm = MODRM_NONE, .imm = IMM_ENTER,
                      .kind = K_LEAVE},
        "enter");
    add((struct form){OP1(0xd7), .osz = 1, .modrm = MODRM_NONE, .kind = K_XLAT}, "xlat");
    add_wlq((struct form){OP2(0x0f, 0x1f), .modrm = 0}, "nop rm");
    add((struct form){OP1(0x90), .osz = 4, .modrm = MODRM_NONE}, "nop");
    add((struct form){OP1(0x90), .osz = 2, .modrm = MODRM_NONE}, "nop");
    add((struct form){OP1(0x90), .pfx = 0xf3, .osz = 4, .modrm = MODRM_NONE}, "pause");
    /* MOVSXD with a 16-bit operand size, and SETcc with ModRM.reg != 0
     * (the SDM: "the reg field is ignored"). */
    add((struct form){OP1(0x63), .osz = 2, .modrm = MODRM_R, .modes = M64}, "movsxd r,rm32");
    for (int cc = 0; cc < 16; cc++) {
        snprintf(n, sizeof(n), "set%x /%d", cc, 1 + cc % 7);
        add((struct form){OP2(0x0f, (uint8_t)(0x90 + cc)), .osz = 1, .modrm = (int8_t)(1 + cc % 7)},
            n);
    }
}

/* Instructions that 64-bit mode dropped. */
static void add_legacy(void)
{
    static const struct {
        uint8_t op;
        uint16_t undef;
        const char *name;
    } bcd[] = {
        {0x27, F_OF, "daa"},
        {0x2f, F_OF, "das"},
        {0x37, F_OF | F_SF | F_ZF | F_PF, "aaa"},
        {0x3f, F_OF | F_SF | F_ZF | F_PF, "aas"},
    };

    for (int osz = 2; osz <= 4; osz *= 2) {
        add((struct form){OP1(0x40), .osz = (uint8_t)osz, .modrm = MODRM_NONE, .plusr = true,
                          .modes = M32 | M16},
            "inc r");
        add((struct form){OP1(0x48), .osz = (uint8_t)osz, .modrm = MODRM_NONE, .plusr = true,
                          .modes = M32 | M16},
            "dec r");
        add((struct form){OP1(0x60), .osz = (uint8_t)osz, .modrm = MODRM_NONE, .modes = M32 | M16},
            "pusha");
        add((struct form){OP1(0x61), .osz = (uint8_t)osz, .modrm = MODRM_NONE, .modes = M32 | M16},
            "popa");
        add((struct form){OP1(0x62), .osz = (uint8_t)osz, .modrm = MODRM_R, .rm = RM_MEM,
                          .kind = K_BOUND, .modes = M32 | M16},
            "bound");
    }
    for (unsigned i = 0; i < sizeof(bcd) / sizeof(bcd[0]); i++)
        add((struct form){OP1(bcd[i].op), .osz = 1, .modrm = MODRM_NONE, .modes = M32 | M16,
                          .undef = bcd[i].undef},
            bcd[i].name);
    add((struct form){OP1(0xd4), .osz = 1, .modrm = MODRM_NONE, .imm = IMM_B, .kind = K_AAM,
                      .modes = M32 | M16, .undef = F_OF | F_AF | F_CF},
        "aam");
    add((struct form){OP1(0xd5), .osz = 1, .modrm = MODRM_NONE, .imm = IMM_B, .kind = K_AAM,
                      .modes = M32 | M16, .undef = F_OF | F_AF | F_CF},
        "aad");
    add((struct form){OP1(0xce), .osz = 4, .modrm = MODRM_NONE, .modes = M32 | M16}, "into");
    add((struct form){OP1(0x63), .osz = 4, .modrm = MODRM_R, .modes = M32 | M16}, "arpl");
    add((struct form){OP1(0x63), .osz = 2, .modrm = MODRM_R, .modes = M32 | M16}, "arpl");
}

int dt_forms_init(void)
{
    nforms = 0;
    add_alu();
    add_unary();
    add_shifts();
    add_muldiv();
    add_bits();
    add_moves();
    add_strings();
    add_stack();
    add_branches();
    add_misc();
    add_legacy();
    vex_forms(add);
    if (overflow) {
        fprintf(stderr, "difftest: more forms than MAX_FORMS\n");
        return -1;
    }
    return nforms;
}

int dt_form_count(void)
{
    return nforms;
}

const char *dt_form_name(int form)
{
    return forms[form].name;
}

int dt_form_mode(int form)
{
    return forms[form].mode;
}

const struct form *dt_form(int index)
{
    return &forms[index];
}
