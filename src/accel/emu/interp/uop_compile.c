/*
 * From a Zydis decode to a uop: picks the handler for the instruction's
 * operation and operand form and packs its operands. Anything this file does
 * not recognise exactly (high-byte registers, 16-bit addressing, LOCK,
 * segment or control registers, far branches, ...) stays UOP_GENERIC.
 */
#include <pthread.h>

#include "accel/emu/interp/uop.h"

uint32_t uop_cond_table[16];
static pthread_once_t cond_once = PTHREAD_ONCE_INIT;

/* uop_cond's index packs CF, PF, ZF, SF, OF into bits 0-4. */
static void fill_cond_table(void)
{
    static const uint64_t bit[5] = {RFLAGS_CF, RFLAGS_PF, RFLAGS_ZF, RFLAGS_SF, RFLAGS_OF};

    for (unsigned cc = 0; cc < 16; cc++)
        for (unsigned i = 0; i < 32; i++) {
            uint64_t f = 0;

            for (int b = 0; b < 5; b++)
                if (i & (1u << b))
                    f |= bit[b];
            if (emu_cond(f, cc))
                uop_cond_table[cc] |= 1u << i;
        }
}

/* GPR index of reg; false for anything else, high-byte registers included. */
static bool gpr(ZydisRegister reg, uint8_t *index)
{
    int i = emu_gpr_index(reg);

    if (i < 0)
        return false;
    *index = (uint8_t)i;
    return true;
}

static bool valid_size(unsigned size)
{
    return size == 1 || size == 2 || size == 4 || size == 8;
}

static bool mem_operand(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *o,
                        struct emu_uop *u)
{
    int64_t disp = o->mem.disp.has_displacement ? o->mem.disp.value : 0;

    if (o->type != ZYDIS_OPERAND_TYPE_MEMORY || insn->address_width < 32)
        return false;
    if (o->mem.type != ZYDIS_MEMOP_TYPE_MEM && o->mem.type != ZYDIS_MEMOP_TYPE_AGEN)
        return false;
    if (o->mem.segment < ZYDIS_REGISTER_ES || o->mem.segment > ZYDIS_REGISTER_GS)
        return false;
    if (insn->address_width == 64 && disp != (int32_t)disp)
        return false;
    if (o->mem.base == ZYDIS_REGISTER_NONE)
        u->base = UOP_NO_REG;
    else if (o->mem.base == ZYDIS_REGISTER_RIP || o->mem.base == ZYDIS_REGISTER_EIP)
        u->base = UOP_RIP_REG;
    else if (!gpr(o->mem.base, &u->base))
        return false;
    if (o->mem.index == ZYDIS_REGISTER_NONE)
        u->index = UOP_NO_REG;
    else if (!gpr(o->mem.index, &u->index))
        return false;
    switch (o->mem.scale) {
    case 0:
    case 1:
        u->scale = 0;
        break;
    case 2:
        u->scale = 1;
        break;
    case 4:
        u->scale = 2;
        break;
    case 8:
        u->scale = 3;
        break;
    default:
        return false;
    }
    u->disp = (int32_t)disp;
    u->seg = (uint8_t)(o->mem.segment - ZYDIS_REGISTER_ES);
    u->addr_size = (uint8_t)(insn->address_width / 8);
    return true;
}

/* An immediate as emu_op_read gives it: sign-extended to the operation's
 * width where the encoding says so. */
static uint64_t imm_value(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *o)
{
    if (o->imm.is_signed)
        return o->imm.value.u & emu_mask(insn->operand_width / 8);
    return o->imm.value.u & emu_mask(o->size ? o->size / 8 : 8);
}

/* Register or memory in ops[i]; *mem tells which. */
static bool reg_or_mem(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *o,
                       struct emu_uop *u, uint8_t *reg, bool *mem)
{
    *mem = o->type == ZYDIS_OPERAND_TYPE_MEMORY;
    if (*mem)
        return mem_operand(insn, o, u);
    return o->type == ZYDIS_OPERAND_TYPE_REGISTER && gpr(o->reg.value, reg);
}

/* Two-operand form: register, immediate or memory source into a register
 * or memory destination. */
static bool two_operands(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
                         struct emu_uop *u, enum uop_form *form)
{
    const ZydisDecodedOperand *d = &ops[0], *s = &ops[1];

    if (insn->operand_count_visible < 2)
        return false;
    if (d->type == ZYDIS_OPERAND_TYPE_REGISTER) {
        if (!gpr(d->reg.value, &u->reg))
            return false;
        if (s->type == ZYDIS_OPERAND_TYPE_REGISTER) {
            *form = FORM_RR;
            return gpr(s->reg.value, &u->rm);
        }
        if (s->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
            *form = FORM_RI;
            u->imm = imm_value(insn, s);
            return true;
        }
        *form = FORM_RM;
        return mem_operand(insn, s, u);
    }
    if (!mem_operand(insn, d, u))
        return false;
    if (s->type == ZYDIS_OPERAND_TYPE_REGISTER) {
        *form = FORM_MR;
        return gpr(s->reg.value, &u->reg);
    }
    if (s->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
        *form = FORM_MI;
        u->imm = imm_value(insn, s);
        return true;
    }
    return false;
}

static enum uop_kind alu(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
                         struct emu_uop *u, enum uop_alu op)
{
    enum uop_form form;

    if (!two_operands(insn, ops, u, &form))
        return UOP_GENERIC;
    u->fn = uop_alu_fns[op][form];
    return UOP_STRAIGHT;
}

static enum uop_kind unary(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
                           struct emu_uop *u, enum uop_unary op)
{
    bool mem;

    if (!reg_or_mem(insn, &ops[0], u, &u->reg, &mem))
        return UOP_GENERIC;
    u->fn = uop_unary_fns[op][mem];
    return UOP_STRAIGHT;
}

static enum uop_kind shift(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
                           struct emu_uop *u, enum uop_shift op)
{
    bool mem, by_cl;

    if (insn->operand_count_visible != 2 || !reg_or_mem(insn, &ops[0], u, &u->reg, &mem))
        return UOP_GENERIC;
    by_cl = ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER;
    if (by_cl && ops[1].reg.value != ZYDIS_REGISTER_CL)
        return UOP_GENERIC;
    if (!by_cl && ops[1].type != ZYDIS_OPERAND_TYPE_IMMEDIATE)
        return UOP_GENERIC;
    u->imm = by_cl ? 0 : ops[1].imm.value.u & 0xff;
    u->fn = uop_shift_fns[op][mem ? (by_cl ? SFORM_MC : SFORM_MI) : (by_cl ? SFORM_RC : SFORM_RI)];
    return UOP_STRAIGHT;
}

/* Destination register, register-or-memory source (MOVZX, CMOVcc, IMUL). */
static bool reg_rm(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
                   struct emu_uop *u, bool *mem)
{
    return insn->operand_count_visible >= 2 && ops[0].type == ZYDIS_OPERAND_TYPE_REGISTER &&
           gpr(ops[0].reg.value, &u->reg) && reg_or_mem(insn, &ops[1], u, &u->rm, mem);
}

static enum uop_kind data(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
                          struct emu_uop *u)
{
    enum uop_form form;
    bool mem;

    switch (insn->mnemonic) {
    case ZYDIS_MNEMONIC_MOV:
        if (!two_operands(insn, ops, u, &form))
            return UOP_GENERIC;
        u->fn = uop_mov_fns[form];
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_MOVZX:
    case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_MOVSXD:
        if (!reg_rm(insn, ops, u, &mem) || !valid_size(ops[1].size / 8))
            return UOP_GENERIC;
        u->aux = (uint8_t)(ops[1].size / 8);
        if (insn->mnemonic == ZYDIS_MNEMONIC_MOVZX)
            u->fn = mem ? uop_movzx_m : uop_movzx_r;
        else
            u->fn = mem ? uop_movsx_m : uop_movsx_r;
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_LEA:
        if (!reg_rm(insn, ops, u, &mem) || !mem)
            return UOP_GENERIC;
        u->fn = uop_lea;
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_XCHG:
        if (!reg_rm(insn, ops, u, &mem) || mem)
            return UOP_GENERIC; /* with memory, XCHG is locked: alu.c */
        u->fn = uop_xchg_rr;
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_IMUL:
        if (insn->operand_count_visible < 2 || !reg_rm(insn, ops, u, &mem))
            return UOP_GENERIC;
        if (insn->operand_count_visible == 3) {
            if (ops[2].type != ZYDIS_OPERAND_TYPE_IMMEDIATE)
                return UOP_GENERIC;
            u->imm = imm_value(insn, &ops[2]);
            u->fn = mem ? uop_imul_rmi : uop_imul_rri;
        } else {
            u->fn = mem ? uop_imul_rm : uop_imul_rr;
        }
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_NOP:
    case ZYDIS_MNEMONIC_ENDBR64:
    case ZYDIS_MNEMONIC_ENDBR32:
        u->fn = uop_nop;
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_RDTSC:
        u->fn = uop_rdtsc;
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_RDTSCP:
        u->fn = uop_rdtscp;
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_CDQE:
        u->fn = uop_cdqe;
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_CWDE:
        u->fn = uop_cwde;
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_CDQ:
        u->fn = uop_cdq;
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_CQO:
        u->fn = uop_cqo;
        return UOP_STRAIGHT;
    default:
        return UOP_GENERIC;
    }
}

/* CMOVcc is 0F 4x, SETcc 0F 9x: by opcode, since mnemonics such as
 * SETSSBSY sort among the SETcc names. */
static bool is_cmov(const ZydisDecodedInstruction *insn)
{
    return insn->opcode_map == ZYDIS_OPCODE_MAP_0F && (insn->opcode & 0xf0) == 0x40;
}

static bool is_setcc(const ZydisDecodedInstruction *insn)
{
    return insn->opcode_map == ZYDIS_OPCODE_MAP_0F && (insn->opcode & 0xf0) == 0x90 &&
           insn->encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY;
}

/* Jcc rel8 is 7x, Jcc rel16/32 0F 8x. */
static bool is_jcc(const ZydisDecodedInstruction *insn)
{
    return insn->encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY &&
           (((insn->opcode & 0xf0) == 0x70 && insn->opcode_map == ZYDIS_OPCODE_MAP_DEFAULT) ||
            ((insn->opcode & 0xf0) == 0x80 && insn->opcode_map == ZYDIS_OPCODE_MAP_0F));
}

/* Near JMP/CALL by relative immediate, register or memory. */
static enum uop_kind near_branch(const ZydisDecodedInstruction *insn,
                                 const ZydisDecodedOperand *ops, struct emu_uop *u, emu_uop_fn *rel,
                                 emu_uop_fn *reg, emu_uop_fn *mem)
{
    const ZydisDecodedOperand *o = &ops[0];

    if (insn->meta.branch_type != ZYDIS_BRANCH_TYPE_SHORT &&
        insn->meta.branch_type != ZYDIS_BRANCH_TYPE_NEAR)
        return UOP_GENERIC;
    if (o->type == ZYDIS_OPERAND_TYPE_IMMEDIATE && o->imm.is_relative) {
        u->imm = o->imm.value.u;
        u->fn = rel;
    } else if (o->type == ZYDIS_OPERAND_TYPE_REGISTER && gpr(o->reg.value, &u->rm)) {
        u->fn = reg;
    } else if (mem_operand(insn, o, u)) {
        u->fn = mem;
    } else {
        return UOP_GENERIC;
    }
    return UOP_BRANCH;
}

static enum uop_kind control(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
                             struct emu_uop *u)
{
    const ZydisDecodedOperand *o = &ops[0];
    bool mem;

    if (is_jcc(insn)) {
        if (o->type != ZYDIS_OPERAND_TYPE_IMMEDIATE || !o->imm.is_relative)
            return UOP_GENERIC;
        u->imm = o->imm.value.u;
        u->aux = insn->opcode & 0xf;
        u->fn = uop_jcc;
        return UOP_BRANCH;
    }
    if (is_cmov(insn) && insn->encoding == ZYDIS_INSTRUCTION_ENCODING_LEGACY) {
        if (!reg_rm(insn, ops, u, &mem))
            return UOP_GENERIC;
        u->aux = insn->opcode & 0xf;
        u->fn = mem ? uop_cmov_m : uop_cmov_r;
        return UOP_STRAIGHT;
    }
    if (is_setcc(insn)) {
        if (!reg_or_mem(insn, o, u, &u->reg, &mem))
            return UOP_GENERIC;
        u->aux = insn->opcode & 0xf;
        u->fn = mem ? uop_setcc_m : uop_setcc_r;
        return UOP_STRAIGHT;
    }
    switch (insn->mnemonic) {
    case ZYDIS_MNEMONIC_JMP:
        return near_branch(insn, ops, u, uop_jmp_rel, uop_jmp_r, uop_jmp_m);
    case ZYDIS_MNEMONIC_CALL:
        return near_branch(insn, ops, u, uop_call_rel, uop_call_r, uop_call_m);
    case ZYDIS_MNEMONIC_RET:
        if (insn->meta.branch_type != ZYDIS_BRANCH_TYPE_NEAR)
            return UOP_GENERIC;
        if (insn->operand_count_visible == 0) {
            u->fn = uop_ret;
            return UOP_BRANCH;
        }
        if (o->type != ZYDIS_OPERAND_TYPE_IMMEDIATE)
            return UOP_GENERIC;
        u->imm = o->imm.value.u & 0xffff;
        u->fn = uop_ret_imm;
        return UOP_BRANCH;
    case ZYDIS_MNEMONIC_PUSH:
        if (o->type == ZYDIS_OPERAND_TYPE_REGISTER && gpr(o->reg.value, &u->reg)) {
            u->fn = uop_push_r;
        } else if (o->type == ZYDIS_OPERAND_TYPE_IMMEDIATE) {
            /* An imm8 is sign-extended to the push's width. */
            unsigned bits = o->size ? o->size : 64;

            u->imm = (uint64_t)((int64_t)(o->imm.value.u << (64 - bits)) >> (64 - bits)) &
                     emu_mask(u->size);
            u->fn = uop_push_i;
        } else {
            return UOP_GENERIC;
        }
        return UOP_STRAIGHT;
    case ZYDIS_MNEMONIC_POP:
        if (o->type != ZYDIS_OPERAND_TYPE_REGISTER || !gpr(o->reg.value, &u->reg) ||
            u->reg == GPR_RSP)
            return UOP_GENERIC;
        u->fn = uop_pop_r;
        return UOP_STRAIGHT;
    default:
        return UOP_GENERIC;
    }
}

/* Only general registers, memory and immediates: no segment, control or
 * debug register is written or read. */
static bool plain_operands(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops)
{
    for (unsigned i = 0; i < insn->operand_count; i++) {
        ZydisRegisterClass cls;

        if (ops[i].type != ZYDIS_OPERAND_TYPE_REGISTER)
            continue;
        cls = ZydisRegisterGetClass(ops[i].reg.value);
        if (cls != ZYDIS_REGCLASS_GPR8 && cls != ZYDIS_REGCLASS_GPR16 &&
            cls != ZYDIS_REGCLASS_GPR32 && cls != ZYDIS_REGCLASS_GPR64 &&
            cls != ZYDIS_REGCLASS_FLAGS && cls != ZYDIS_REGCLASS_IP && cls != ZYDIS_REGCLASS_X87 &&
            cls != ZYDIS_REGCLASS_MMX && cls != ZYDIS_REGCLASS_XMM)
            return false;
    }
    return true;
}

bool emu_uop_generic_continues(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops)
{
    static const ZydisMnemonic straight[] = {
        ZYDIS_MNEMONIC_ADC,        ZYDIS_MNEMONIC_ADD,         ZYDIS_MNEMONIC_AND,
        ZYDIS_MNEMONIC_BSF,        ZYDIS_MNEMONIC_BSR,         ZYDIS_MNEMONIC_BSWAP,
        ZYDIS_MNEMONIC_BT,         ZYDIS_MNEMONIC_BTC,         ZYDIS_MNEMONIC_BTR,
        ZYDIS_MNEMONIC_BTS,        ZYDIS_MNEMONIC_CBW,         ZYDIS_MNEMONIC_CDQ,
        ZYDIS_MNEMONIC_CDQE,       ZYDIS_MNEMONIC_CLAC,        ZYDIS_MNEMONIC_CLC,
        ZYDIS_MNEMONIC_CLD,        ZYDIS_MNEMONIC_CLI,         ZYDIS_MNEMONIC_CMC,
        ZYDIS_MNEMONIC_CMP,
        ZYDIS_MNEMONIC_CMPSB,      ZYDIS_MNEMONIC_CMPSD,       ZYDIS_MNEMONIC_CMPSQ,
        ZYDIS_MNEMONIC_CMPSW,      ZYDIS_MNEMONIC_CMPXCHG,     ZYDIS_MNEMONIC_CMPXCHG16B,
        ZYDIS_MNEMONIC_CMPXCHG8B,  ZYDIS_MNEMONIC_CPUID,       ZYDIS_MNEMONIC_CQO,
        ZYDIS_MNEMONIC_CRC32,      ZYDIS_MNEMONIC_CWD,         ZYDIS_MNEMONIC_CWDE,
        ZYDIS_MNEMONIC_DEC,        ZYDIS_MNEMONIC_DIV,         ZYDIS_MNEMONIC_IDIV,
        ZYDIS_MNEMONIC_IMUL,       ZYDIS_MNEMONIC_INC,         ZYDIS_MNEMONIC_LAHF,
        ZYDIS_MNEMONIC_LEA,        ZYDIS_MNEMONIC_LEAVE,       ZYDIS_MNEMONIC_LFENCE,
        ZYDIS_MNEMONIC_LODSB,      ZYDIS_MNEMONIC_LODSD,       ZYDIS_MNEMONIC_LODSQ,
        ZYDIS_MNEMONIC_LODSW,      ZYDIS_MNEMONIC_LZCNT,       ZYDIS_MNEMONIC_MFENCE,
        ZYDIS_MNEMONIC_MOV,        ZYDIS_MNEMONIC_MOVBE,       ZYDIS_MNEMONIC_MOVSB,
        ZYDIS_MNEMONIC_MOVSD,      ZYDIS_MNEMONIC_MOVSQ,       ZYDIS_MNEMONIC_MOVSW,
        ZYDIS_MNEMONIC_MOVSX,      ZYDIS_MNEMONIC_MOVSXD,      ZYDIS_MNEMONIC_MOVZX,
        ZYDIS_MNEMONIC_MUL,        ZYDIS_MNEMONIC_NEG,         ZYDIS_MNEMONIC_NOP,
        ZYDIS_MNEMONIC_NOT,        ZYDIS_MNEMONIC_OR,          ZYDIS_MNEMONIC_PAUSE,
        ZYDIS_MNEMONIC_POP,        ZYDIS_MNEMONIC_PUSH,
        ZYDIS_MNEMONIC_POPCNT,     ZYDIS_MNEMONIC_PREFETCHNTA, ZYDIS_MNEMONIC_PREFETCHT0,
        ZYDIS_MNEMONIC_PREFETCHT1, ZYDIS_MNEMONIC_PREFETCHT2,  ZYDIS_MNEMONIC_PREFETCHW,
        ZYDIS_MNEMONIC_PUSHF,      ZYDIS_MNEMONIC_PUSHFD,      ZYDIS_MNEMONIC_PUSHFQ,
        ZYDIS_MNEMONIC_RCL,        ZYDIS_MNEMONIC_RCR,         ZYDIS_MNEMONIC_RDPID,
        ZYDIS_MNEMONIC_RDTSC,      ZYDIS_MNEMONIC_RDTSCP,      ZYDIS_MNEMONIC_ROL,
        ZYDIS_MNEMONIC_ROR,        ZYDIS_MNEMONIC_SAHF,        ZYDIS_MNEMONIC_SAR,
        ZYDIS_MNEMONIC_SBB,        ZYDIS_MNEMONIC_SCASB,       ZYDIS_MNEMONIC_SCASD,
        ZYDIS_MNEMONIC_SCASQ,      ZYDIS_MNEMONIC_SCASW,       ZYDIS_MNEMONIC_SFENCE,
        ZYDIS_MNEMONIC_SHL,        ZYDIS_MNEMONIC_SHLD,        ZYDIS_MNEMONIC_SHR,
        ZYDIS_MNEMONIC_SHRD,       ZYDIS_MNEMONIC_STAC,        ZYDIS_MNEMONIC_STC,
        ZYDIS_MNEMONIC_STD,
        ZYDIS_MNEMONIC_STOSB,      ZYDIS_MNEMONIC_STOSD,       ZYDIS_MNEMONIC_STOSQ,
        ZYDIS_MNEMONIC_STOSW,      ZYDIS_MNEMONIC_SUB,         ZYDIS_MNEMONIC_SWAPGS,
        ZYDIS_MNEMONIC_TEST,
        ZYDIS_MNEMONIC_TZCNT,      ZYDIS_MNEMONIC_XADD,        ZYDIS_MNEMONIC_XCHG,
        ZYDIS_MNEMONIC_XOR,
    };

    switch (insn->meta.isa_ext) {
    /* Data instructions of the host-run FPU group: they change no mode,
     * mapping or control flow (XSAVE/XRSTOR, which load PKRU, are not
     * among them). */
    case ZYDIS_ISA_EXT_MMX:
    case ZYDIS_ISA_EXT_SSE:
    case ZYDIS_ISA_EXT_SSE2:
    case ZYDIS_ISA_EXT_SSE3:
    case ZYDIS_ISA_EXT_SSSE3:
    case ZYDIS_ISA_EXT_SSE4:
    case ZYDIS_ISA_EXT_AES:
    case ZYDIS_ISA_EXT_PCLMULQDQ:
    case ZYDIS_ISA_EXT_X87:
    case ZYDIS_ISA_EXT_AVX:
    case ZYDIS_ISA_EXT_AVX2:
    case ZYDIS_ISA_EXT_AVX2GATHER:
    case ZYDIS_ISA_EXT_AVXAES:
    case ZYDIS_ISA_EXT_FMA:
    case ZYDIS_ISA_EXT_F16C:
        return insn->mnemonic != ZYDIS_MNEMONIC_FXRSTOR &&
               insn->mnemonic != ZYDIS_MNEMONIC_FXRSTOR64;
    default:
        break;
    }
    /* A read of a segment or control register changes nothing (PUSH and
     * POP of a segment register, and writes of them, end the block). */
    if (insn->mnemonic == ZYDIS_MNEMONIC_MOV && ops[1].type == ZYDIS_OPERAND_TYPE_REGISTER &&
        (ZydisRegisterGetClass(ops[1].reg.value) == ZYDIS_REGCLASS_SEGMENT ||
         ZydisRegisterGetClass(ops[1].reg.value) == ZYDIS_REGCLASS_CONTROL) &&
        (ops[0].type == ZYDIS_OPERAND_TYPE_MEMORY ||
         ZydisRegisterGetClass(ops[0].reg.value) != ZYDIS_REGCLASS_SEGMENT))
        return true;
    if (!plain_operands(insn, ops))
        return false;
    if (insn->meta.category == ZYDIS_CATEGORY_CMOV || insn->meta.category == ZYDIS_CATEGORY_SETCC)
        return true;
    for (unsigned i = 0; i < sizeof(straight) / sizeof(straight[0]); i++)
        if (insn->mnemonic == straight[i])
            return true;
    return false;
}

enum uop_kind emu_uop_compile(const ZydisDecodedInstruction *insn, const ZydisDecodedOperand *ops,
                              int code_bits, struct emu_uop *u)
{
    static const struct {
        ZydisMnemonic m;
        enum uop_alu op;
    } alus[] = {
        {ZYDIS_MNEMONIC_ADD, ALU_ADD},   {ZYDIS_MNEMONIC_OR, ALU_OR},
        {ZYDIS_MNEMONIC_ADC, ALU_ADC},   {ZYDIS_MNEMONIC_SBB, ALU_SBB},
        {ZYDIS_MNEMONIC_AND, ALU_AND},   {ZYDIS_MNEMONIC_SUB, ALU_SUB},
        {ZYDIS_MNEMONIC_XOR, ALU_XOR},   {ZYDIS_MNEMONIC_CMP, ALU_CMP},
        {ZYDIS_MNEMONIC_TEST, ALU_TEST},
    };
    static const struct {
        ZydisMnemonic m;
        enum uop_shift op;
    } shifts[] = {
        {ZYDIS_MNEMONIC_ROL, SHIFT_ROL}, {ZYDIS_MNEMONIC_ROR, SHIFT_ROR},
        {ZYDIS_MNEMONIC_SHL, SHIFT_SHL}, {ZYDIS_MNEMONIC_SHR, SHIFT_SHR},
        {ZYDIS_MNEMONIC_SAR, SHIFT_SAR},
    };
    enum uop_kind kind;

    pthread_once(&cond_once, fill_cond_table);
    *u = (struct emu_uop){
        .reg = UOP_NO_REG, .rm = UOP_NO_REG, .base = UOP_NO_REG, .index = UOP_NO_REG};
    if (code_bits < 32 || (insn->attributes & ZYDIS_ATTRIB_HAS_LOCK))
        return UOP_GENERIC;
    u->size = (uint8_t)(insn->operand_width / 8);
    if (insn->operand_count_visible > 0 && ops[0].size && insn->mnemonic != ZYDIS_MNEMONIC_PUSH &&
        insn->mnemonic != ZYDIS_MNEMONIC_POP && !is_jcc(insn) &&
        insn->mnemonic != ZYDIS_MNEMONIC_JMP && insn->mnemonic != ZYDIS_MNEMONIC_CALL &&
        insn->mnemonic != ZYDIS_MNEMONIC_RET)
        u->size = (uint8_t)(ops[0].size / 8);
    if (!valid_size(u->size))
        return UOP_GENERIC;
    for (unsigned i = 0; i < sizeof(alus) / sizeof(alus[0]); i++)
        if (insn->mnemonic == alus[i].m)
            return alu(insn, ops, u, alus[i].op);
    for (unsigned i = 0; i < sizeof(shifts) / sizeof(shifts[0]); i++)
        if (insn->mnemonic == shifts[i].m)
            return shift(insn, ops, u, shifts[i].op);
    switch (insn->mnemonic) {
    case ZYDIS_MNEMONIC_INC:
        return unary(insn, ops, u, UNARY_INC);
    case ZYDIS_MNEMONIC_DEC:
        return unary(insn, ops, u, UNARY_DEC);
    case ZYDIS_MNEMONIC_NEG:
        return unary(insn, ops, u, UNARY_NEG);
    case ZYDIS_MNEMONIC_NOT:
        return unary(insn, ops, u, UNARY_NOT);
    default:
        break;
    }
    kind = data(insn, ops, u);
    if (kind == UOP_GENERIC && !u->fn)
        kind = control(insn, ops, u);
    return u->fn ? kind : UOP_GENERIC;
}
