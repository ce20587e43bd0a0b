/*
 * The interpreter loop: fetch through the MMU, decode with Zydis, execute.
 * This file holds the loop, operand access, data movement and control flow,
 * and the dispatch table by mnemonic (exec_table) that sends each
 * instruction to its group: these, alu.c, string.c, system.c, legacy.c,
 * and the FPU/SIMD unit.
 */
#include <inttypes.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>

#include "accel/emu/interp/uop.h"
#include "util/log.h"
#include "vm/vm.h"

#define JMP_FAULT    1
#define JMP_INTERNAL 2

static const ZydisDecodedOperand *op(const struct emu_cpu *cpu, int i)
{
    return &cpu->decoded->ops[i];
}

/* Location of a general-purpose register: index in gpr[], bit shift, bytes
 * (0 for registers that are not general-purpose). */
struct gpr_loc {
    uint8_t index, shift, size;
};

/* Filled once from Zydis's register tables: the lookup is on every operand. */
static struct gpr_loc gpr_table[ZYDIS_REGISTER_MAX_VALUE + 1];
static pthread_once_t tables_once = PTHREAD_ONCE_INIT;

static void fill_gpr_table(void)
{
    static const uint8_t sizes[] = {
        [ZYDIS_REGCLASS_GPR8] = 1,
        [ZYDIS_REGCLASS_GPR16] = 2,
        [ZYDIS_REGCLASS_GPR32] = 4,
        [ZYDIS_REGCLASS_GPR64] = 8,
    };

    for (int r = 0; r <= ZYDIS_REGISTER_MAX_VALUE; r++) {
        ZydisRegisterClass cls = ZydisRegisterGetClass((ZydisRegister)r);
        ZydisRegister full;

        if (cls > ZYDIS_REGCLASS_GPR64 || !sizes[cls])
            continue;
        full = ZydisRegisterGetLargestEnclosing(ZYDIS_MACHINE_MODE_LONG_64, (ZydisRegister)r);
        gpr_table[r] = (struct gpr_loc){
            .index = (uint8_t)(full - ZYDIS_REGISTER_RAX),
            .shift = (r == ZYDIS_REGISTER_AH || r == ZYDIS_REGISTER_CH || r == ZYDIS_REGISTER_DH ||
                      r == ZYDIS_REGISTER_BH)
                         ? 8
                         : 0,
            .size = sizes[cls],
        };
    }
}

static void fill_tables(void)
{
    fill_gpr_table();
    emu_decode_init();
}

void emu_exec_init(void)
{
    pthread_once(&tables_once, fill_tables);
}

static bool gpr_loc(ZydisRegister reg, struct gpr_loc *l)
{
    *l = gpr_table[reg];
    return l->size != 0;
}

int emu_gpr_index(ZydisRegister reg)
{
    struct gpr_loc l;

    if ((unsigned)reg > ZYDIS_REGISTER_MAX_VALUE || !gpr_loc(reg, &l) || l.shift)
        return -1;
    return l.index;
}

/* The current instruction in AT&T syntax, for messages; "" if Zydis cannot. */
static void format_insn(const struct emu_cpu *cpu, char *text, size_t len)
{
    ZydisFormatter fmt;

    text[0] = '\0';
    if (ZYAN_SUCCESS(ZydisFormatterInit(&fmt, ZYDIS_FORMATTER_STYLE_ATT)))
        ZydisFormatterFormatInstruction(&fmt, &cpu->decoded->insn, cpu->decoded->ops,
                                        cpu->decoded->insn.operand_count_visible, text, len,
                                        cpu->insn_rip, NULL);
}

static __attribute__((noreturn)) void internal(struct emu_cpu *cpu, const char *what)
{
    char text[96];

    format_insn(cpu, text, sizeof(text));
    snprintf(cpu->exit->why, sizeof(cpu->exit->why), "emu: %s: %s at rip 0x%" PRIx64, what, text,
             cpu->insn_rip);
    cpu->exit->reason = ACCEL_EXIT_INTERNAL;
    longjmp(cpu->fault_jmp, JMP_INTERNAL);
}

uint64_t emu_reg_read(struct emu_cpu *cpu, ZydisRegister reg)
{
    struct gpr_loc l;

    if (gpr_loc(reg, &l))
        return (cpu->gpr[l.index] >> l.shift) & emu_mask(l.size);
    if (reg >= ZYDIS_REGISTER_ES && reg <= ZYDIS_REGISTER_GS)
        return cpu->seg[reg - ZYDIS_REGISTER_ES].selector;
    if (reg == ZYDIS_REGISTER_RIP || reg == ZYDIS_REGISTER_EIP || reg == ZYDIS_REGISTER_IP)
        return cpu->next_rip;
    internal(cpu, "register operand not supported");
}

void emu_reg_write(struct emu_cpu *cpu, ZydisRegister reg, uint64_t value)
{
    struct gpr_loc l;
    uint64_t mask;

    if (!gpr_loc(reg, &l))
        internal(cpu, "register operand not supported");
    if (l.size == 4) {
        cpu->gpr[l.index] = value & 0xffffffff; /* 32-bit writes zero-extend */
        return;
    }
    mask = emu_mask(l.size) << l.shift;
    cpu->gpr[l.index] = (cpu->gpr[l.index] & ~mask) | ((value << l.shift) & mask);
}

int emu_op_seg(struct emu_cpu *cpu, int i)
{
    ZydisRegister s = op(cpu, i)->mem.segment;

    return s >= ZYDIS_REGISTER_ES && s <= ZYDIS_REGISTER_GS ? (int)(s - ZYDIS_REGISTER_ES) : SEG_DS;
}

uint64_t emu_op_address(struct emu_cpu *cpu, int i)
{
    const ZydisDecodedOperand *o = op(cpu, i);
    uint64_t a = 0;

    if (o->mem.base != ZYDIS_REGISTER_NONE)
        a = emu_reg_read(cpu, o->mem.base);
    if (o->mem.index != ZYDIS_REGISTER_NONE)
        a += emu_reg_read(cpu, o->mem.index) * o->mem.scale;
    if (o->mem.disp.has_displacement)
        a += (uint64_t)o->mem.disp.value;
    return a & emu_mask(cpu->decoded->insn.address_width / 8);
}

uint64_t emu_op_read(struct emu_cpu *cpu, int i)
{
    const ZydisDecodedOperand *o = op(cpu, i);
    unsigned size = o->size / 8;

    switch (o->type) {
    case ZYDIS_OPERAND_TYPE_REGISTER:
        return emu_reg_read(cpu, o->reg.value);
    case ZYDIS_OPERAND_TYPE_MEMORY:
        if (o->mem.type == ZYDIS_MEMOP_TYPE_AGEN)
            return emu_op_address(cpu, i);
        if (size == 0 || size > 8)
            internal(cpu, "memory operand size not supported");
        return emu_read(cpu, emu_op_seg(cpu, i), emu_op_address(cpu, i), size);
    case ZYDIS_OPERAND_TYPE_IMMEDIATE:
        /* A signed immediate (imm8 of ADD r/m32, imm32 of MOV r/m64) is
         * sign-extended to the operation's width. */
        if (o->imm.is_signed)
            return o->imm.value.u & emu_mask(cpu->decoded->insn.operand_width / 8);
        return o->imm.value.u & emu_mask(size ? size : 8);
    default:
        internal(cpu, "operand type not supported");
    }
}

void emu_op_write(struct emu_cpu *cpu, int i, uint64_t value)
{
    const ZydisDecodedOperand *o = op(cpu, i);
    unsigned size = o->size / 8;

    switch (o->type) {
    case ZYDIS_OPERAND_TYPE_REGISTER:
        emu_reg_write(cpu, o->reg.value, value);
        return;
    case ZYDIS_OPERAND_TYPE_MEMORY:
        if (size == 0 || size > 8)
            internal(cpu, "memory operand size not supported");
        emu_write(cpu, emu_op_seg(cpu, i), emu_op_address(cpu, i), value & emu_mask(size), size);
        return;
    default:
        internal(cpu, "operand type not supported");
    }
}

static uint64_t sign_extend(uint64_t v, unsigned bytes)
{
    unsigned shift = 64 - bytes * 8;

    return bytes >= 8 ? v : (uint64_t)((int64_t)(v << shift) >> shift);
}

/* Near branch target: relative immediates through Zydis, the rest read. */
static uint64_t branch_target(struct emu_cpu *cpu, int i)
{
    const ZydisDecodedOperand *o = op(cpu, i);
    uint64_t t;

    if (o->type == ZYDIS_OPERAND_TYPE_IMMEDIATE && o->imm.is_relative)
        t = cpu->next_rip + o->imm.value.u;
    else
        t = emu_op_read(cpu, i);
    return t & emu_mask(cpu->decoded->insn.operand_width / 8);
}

static void jump(struct emu_cpu *cpu, uint64_t target)
{
    /* Outside 64-bit mode the target must lie within CS's limit (#GP(0)). */
    if (cpu->code_bits != 64 && target > cpu->seg[SEG_CS].limit)
        emu_raise(cpu, EXC_GP, 0);
    if (cpu->code_bits == 64 && !emu_canonical(target))
        emu_raise(cpu, EXC_GP, 0);
    cpu->rip = target;
}

static unsigned opsize(const struct emu_cpu *cpu)
{
    return cpu->decoded->insn.operand_width / 8;
}

static uint8_t cc_of(const struct emu_cpu *cpu)
{
    return cpu->decoded->insn.opcode & 0xf;
}

static uint64_t count_reg(struct emu_cpu *cpu)
{
    return cpu->gpr[GPR_RCX] & emu_mask(cpu->decoded->insn.address_width / 8);
}

static void set_count_reg(struct emu_cpu *cpu, uint64_t v)
{
    unsigned w = cpu->decoded->insn.address_width / 8;

    if (w == 8)
        cpu->gpr[GPR_RCX] = v;
    else if (w == 4)
        cpu->gpr[GPR_RCX] = v & 0xffffffff;
    else
        cpu->gpr[GPR_RCX] = (cpu->gpr[GPR_RCX] & ~0xffffULL) | (v & 0xffff);
}

/* Flags POPF may change at this CPL and IOPL (SDM POPF). */
static uint64_t popf_mask(const struct emu_cpu *cpu)
{
    uint64_t m = RFLAGS_STATUS | RFLAGS_TF | RFLAGS_DF | RFLAGS_NT | RFLAGS_AC | RFLAGS_ID;
    uint64_t iopl = (cpu->rflags & RFLAGS_IOPL) >> 12;

    if (cpu->cpl == 0)
        m |= RFLAGS_IOPL;
    if ((uint64_t)cpu->cpl <= iopl)
        m |= RFLAGS_IF;
    return m;
}

static bool exec_move(struct emu_cpu *cpu)
{
    unsigned size = opsize(cpu);
    uint64_t v, t;

    switch (cpu->decoded->insn.mnemonic) {
    case ZYDIS_MNEMONIC_MOV:
        if (op(cpu, 0)->type == ZYDIS_OPERAND_TYPE_REGISTER &&
            ZydisRegisterGetClass(op(cpu, 0)->reg.value) == ZYDIS_REGCLASS_SEGMENT) {
            int seg = op(cpu, 0)->reg.value - ZYDIS_REGISTER_ES;

            if (seg == SEG_CS)
                emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
            emu_load_seg(cpu, seg, (uint16_t)emu_op_read(cpu, 1));
            if (seg == SEG_SS)
                cpu->intr_shadow = cpu->db_shadow = true;
            return true;
        }
        if (op(cpu, 0)->type == ZYDIS_OPERAND_TYPE_REGISTER &&
            (ZydisRegisterGetClass(op(cpu, 0)->reg.value) == ZYDIS_REGCLASS_CONTROL ||
             ZydisRegisterGetClass(op(cpu, 0)->reg.value) == ZYDIS_REGCLASS_DEBUG))
            return false;
        if (op(cpu, 1)->type == ZYDIS_OPERAND_TYPE_REGISTER &&
            (ZydisRegisterGetClass(op(cpu, 1)->reg.value) == ZYDIS_REGCLASS_CONTROL ||
             ZydisRegisterGetClass(op(cpu, 1)->reg.value) == ZYDIS_REGCLASS_DEBUG))
            return false;
        v = emu_op_read(cpu, 1);
        /* A segment register stored to a 32/64-bit register is zero-extended. */
        emu_op_write(cpu, 0, v);
        return true;
    case ZYDIS_MNEMONIC_MOVZX:
        emu_op_write(cpu, 0, emu_op_read(cpu, 1));
        return true;
    case ZYDIS_MNEMONIC_MOVSX:
    case ZYDIS_MNEMONIC_MOVSXD:
        emu_op_write(cpu, 0, sign_extend(emu_op_read(cpu, 1), op(cpu, 1)->size / 8));
        return true;
    case ZYDIS_MNEMONIC_LEA:
        emu_op_write(cpu, 0, emu_op_address(cpu, 1));
        return true;
    case ZYDIS_MNEMONIC_XCHG:
        /* With memory, XCHG is locked whether or not it says so. */
        if (op(cpu, 0)->type == ZYDIS_OPERAND_TYPE_MEMORY ||
            op(cpu, 1)->type == ZYDIS_OPERAND_TYPE_MEMORY) {
            bool first = op(cpu, 0)->type == ZYDIS_OPERAND_TYPE_MEMORY;

            emu_xchg_mem(cpu, first ? 0 : 1, first ? 1 : 0);
            return true;
        }
        v = emu_op_read(cpu, 0);
        t = emu_op_read(cpu, 1);
        emu_op_write(cpu, 0, t);
        emu_op_write(cpu, 1, v);
        return true;
    case ZYDIS_MNEMONIC_BSWAP:
        v = emu_op_read(cpu, 0);
        emu_op_write(cpu, 0, size == 8 ? __builtin_bswap64(v) : __builtin_bswap32((uint32_t)v));
        return true;
    case ZYDIS_MNEMONIC_MOVBE:
        v = emu_op_read(cpu, 1);
        v = size == 8   ? __builtin_bswap64(v)
            : size == 4 ? __builtin_bswap32((uint32_t)v)
                        : __builtin_bswap16((uint16_t)v);
        emu_op_write(cpu, 0, v);
        return true;
    case ZYDIS_MNEMONIC_CMOVB:
    case ZYDIS_MNEMONIC_CMOVBE:
    case ZYDIS_MNEMONIC_CMOVL:
    case ZYDIS_MNEMONIC_CMOVLE:
    case ZYDIS_MNEMONIC_CMOVNB:
    case ZYDIS_MNEMONIC_CMOVNBE:
    case ZYDIS_MNEMONIC_CMOVNL:
    case ZYDIS_MNEMONIC_CMOVNLE:
    case ZYDIS_MNEMONIC_CMOVNO:
    case ZYDIS_MNEMONIC_CMOVNP:
    case ZYDIS_MNEMONIC_CMOVNS:
    case ZYDIS_MNEMONIC_CMOVNZ:
    case ZYDIS_MNEMONIC_CMOVO:
    case ZYDIS_MNEMONIC_CMOVP:
    case ZYDIS_MNEMONIC_CMOVS:
    case ZYDIS_MNEMONIC_CMOVZ:
        /* The source is read (and may fault) even when the condition fails;
         * a 32-bit destination is zero-extended either way. */
        v = emu_op_read(cpu, 1);
        emu_op_write(cpu, 0, emu_cond(cpu->rflags, cc_of(cpu)) ? v : emu_op_read(cpu, 0));
        return true;
    case ZYDIS_MNEMONIC_SETB:
    case ZYDIS_MNEMONIC_SETBE:
    case ZYDIS_MNEMONIC_SETL:
    case ZYDIS_MNEMONIC_SETLE:
    case ZYDIS_MNEMONIC_SETNB:
    case ZYDIS_MNEMONIC_SETNBE:
    case ZYDIS_MNEMONIC_SETNL:
    case ZYDIS_MNEMONIC_SETNLE:
    case ZYDIS_MNEMONIC_SETNO:
    case ZYDIS_MNEMONIC_SETNP:
    case ZYDIS_MNEMONIC_SETNS:
    case ZYDIS_MNEMONIC_SETNZ:
    case ZYDIS_MNEMONIC_SETO:
    case ZYDIS_MNEMONIC_SETP:
    case ZYDIS_MNEMONIC_SETS:
    case ZYDIS_MNEMONIC_SETZ:
        emu_op_write(cpu, 0, emu_cond(cpu->rflags, cc_of(cpu)));
        return true;
    case ZYDIS_MNEMONIC_CBW:
        cpu->gpr[0] = (cpu->gpr[0] & ~0xffffULL) | (sign_extend(cpu->gpr[0], 1) & 0xffff);
        return true;
    case ZYDIS_MNEMONIC_CWDE:
        cpu->gpr[0] = sign_extend(cpu->gpr[0], 2) & 0xffffffff;
        return true;
    case ZYDIS_MNEMONIC_CDQE:
        cpu->gpr[0] = sign_extend(cpu->gpr[0], 4);
        return true;
    case ZYDIS_MNEMONIC_CWD:
        v = (cpu->gpr[0] & 0x8000) ? 0xffff : 0;
        cpu->gpr[GPR_RDX] = (cpu->gpr[GPR_RDX] & ~0xffffULL) | v;
        return true;
    case ZYDIS_MNEMONIC_CDQ:
        cpu->gpr[GPR_RDX] = (cpu->gpr[0] & 0x80000000) ? 0xffffffff : 0;
        return true;
    case ZYDIS_MNEMONIC_CQO:
        cpu->gpr[GPR_RDX] = (cpu->gpr[0] >> 63) ? ~0ULL : 0;
        return true;
    case ZYDIS_MNEMONIC_XLAT:
        /* AL = [seg:rBX + AL]; Zydis's memory operand is [rBX] alone. */
        for (int i = 0; i < cpu->decoded->insn.operand_count; i++)
            if (op(cpu, i)->type == ZYDIS_OPERAND_TYPE_MEMORY) {
                t = (emu_op_address(cpu, i) + (cpu->gpr[0] & 0xff)) &
                    emu_mask(cpu->decoded->insn.address_width / 8);
                v = emu_read(cpu, emu_op_seg(cpu, i), t, 1);
                cpu->gpr[0] = (cpu->gpr[0] & ~0xffULL) | v;
                return true;
            }
        return false;
    case ZYDIS_MNEMONIC_LAHF:
        cpu->gpr[0] = (cpu->gpr[0] & ~0xff00ULL) | ((cpu->rflags & 0xd5) | 2) << 8;
        return true;
    case ZYDIS_MNEMONIC_SAHF:
        cpu->rflags = (cpu->rflags & ~0xd5ULL) | ((cpu->gpr[0] >> 8) & 0xd5);
        return true;
    default:
        return false;
    }
}

static bool exec_stack(struct emu_cpu *cpu)
{
    unsigned size = opsize(cpu);
    uint64_t v;

    switch (cpu->decoded->insn.mnemonic) {
    case ZYDIS_MNEMONIC_PUSH:
        /* operand_width is the push's width; an imm8 is sign-extended to it. */
        v = emu_op_read(cpu, 0);
        if (op(cpu, 0)->type == ZYDIS_OPERAND_TYPE_IMMEDIATE)
            v = sign_extend(v, op(cpu, 0)->size / 8);
        emu_push(cpu, v & emu_mask(size), size);
        return true;
    case ZYDIS_MNEMONIC_POP:
        if (op(cpu, 0)->type == ZYDIS_OPERAND_TYPE_REGISTER &&
            ZydisRegisterGetClass(op(cpu, 0)->reg.value) == ZYDIS_REGCLASS_SEGMENT) {
            int seg = op(cpu, 0)->reg.value - ZYDIS_REGISTER_ES;
            uint64_t saved = cpu->gpr[GPR_RSP];

            v = emu_pop(cpu, size);
            cpu->gpr[GPR_RSP] = saved;
            emu_load_seg(cpu, seg, (uint16_t)v);
            emu_pop(cpu, size);
            if (seg == SEG_SS)
                cpu->intr_shadow = cpu->db_shadow = true;
            return true;
        }
        /* A memory destination is addressed with the incremented RSP (SDM POP). */
        v = emu_pop(cpu, size);
        emu_op_write(cpu, 0, v);
        return true;
    case ZYDIS_MNEMONIC_PUSHF:
    case ZYDIS_MNEMONIC_PUSHFD:
    case ZYDIS_MNEMONIC_PUSHFQ:
        if ((cpu->rflags & RFLAGS_VM) && ((cpu->rflags & RFLAGS_IOPL) >> 12) < 3)
            emu_raise(cpu, EXC_GP, 0);
        emu_push(cpu, cpu->rflags & ~(RFLAGS_VM | RFLAGS_RF) & emu_mask(size), size);
        return true;
    case ZYDIS_MNEMONIC_POPF:
    case ZYDIS_MNEMONIC_POPFD:
    case ZYDIS_MNEMONIC_POPFQ: {
        uint64_t mask = popf_mask(cpu) & emu_mask(size);

        if ((cpu->rflags & RFLAGS_VM) && ((cpu->rflags & RFLAGS_IOPL) >> 12) < 3)
            emu_raise(cpu, EXC_GP, 0);
        if (cpu->rflags & RFLAGS_VM)
            mask &= ~RFLAGS_IOPL;
        v = emu_pop(cpu, size);
        cpu->rflags = (cpu->rflags & ~mask) | (v & mask) | RFLAGS_FIXED;
        return true;
    }
    case ZYDIS_MNEMONIC_PUSHA:
    case ZYDIS_MNEMONIC_PUSHAD: {
        uint64_t sp = cpu->gpr[GPR_RSP];

        for (int r = 0; r < 8; r++)
            emu_push(cpu, (r == GPR_RSP ? sp : cpu->gpr[r]) & emu_mask(size), size);
        return true;
    }
    case ZYDIS_MNEMONIC_POPA:
    case ZYDIS_MNEMONIC_POPAD:
        for (int r = 7; r >= 0; r--) {
            v = emu_pop(cpu, size);
            if (r == GPR_RSP)
                continue;
            if (size == 4)
                cpu->gpr[r] = v;
            else
                cpu->gpr[r] = (cpu->gpr[r] & ~0xffffULL) | v;
        }
        return true;
    case ZYDIS_MNEMONIC_LEAVE: {
        unsigned sbits = cpu->code_bits == 64 ? 64 : (cpu->seg[SEG_SS].db ? 32 : 16);
        uint64_t bp = cpu->gpr[GPR_RBP] & emu_mask(sbits / 8);
        uint64_t saved = cpu->gpr[GPR_RSP];

        cpu->gpr[GPR_RSP] = sbits == 16 ? (saved & ~0xffffULL) | bp : bp;
        v = emu_pop(cpu, size);
        if (size == 8)
            cpu->gpr[GPR_RBP] = v;
        else if (size == 4)
            cpu->gpr[GPR_RBP] = v & 0xffffffff;
        else
            cpu->gpr[GPR_RBP] = (cpu->gpr[GPR_RBP] & ~0xffffULL) | v;
        return true;
    }
    case ZYDIS_MNEMONIC_ENTER: {
        uint64_t frame, alloc = emu_op_read(cpu, 0), level = emu_op_read(cpu, 1) & 31;
        unsigned sbits = cpu->code_bits == 64 ? 64 : (cpu->seg[SEG_SS].db ? 32 : 16);
        uint64_t bp = cpu->gpr[GPR_RBP];

        emu_push(cpu, bp & emu_mask(size), size);
        frame = cpu->gpr[GPR_RSP] & emu_mask(sbits / 8);
        for (uint64_t l = 1; l < level; l++) {
            bp = (bp - size) & emu_mask(sbits / 8);
            emu_push(cpu, emu_read(cpu, SEG_SS, bp, size), size);
        }
        if (level)
            emu_push(cpu, frame, size);
        if (size == 2)
            cpu->gpr[GPR_RBP] = (cpu->gpr[GPR_RBP] & ~0xffffULL) | (frame & 0xffff);
        else
            cpu->gpr[GPR_RBP] = frame;
        v = (cpu->gpr[GPR_RSP] - alloc) & emu_mask(sbits / 8);
        cpu->gpr[GPR_RSP] = sbits == 16 ? (cpu->gpr[GPR_RSP] & ~0xffffULL) | v : v;
        return true;
    }
    default:
        return false;
    }
}

static bool exec_branch(struct emu_cpu *cpu)
{
    unsigned size = opsize(cpu);
    uint64_t t, c;

    switch (cpu->decoded->insn.mnemonic) {
    case ZYDIS_MNEMONIC_JMP:
        if (op(cpu, 0)->type == ZYDIS_OPERAND_TYPE_POINTER ||
            (op(cpu, 0)->type == ZYDIS_OPERAND_TYPE_MEMORY &&
             cpu->decoded->insn.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR))
            return false;
        jump(cpu, branch_target(cpu, 0));
        return true;
    case ZYDIS_MNEMONIC_JB:
    case ZYDIS_MNEMONIC_JBE:
    case ZYDIS_MNEMONIC_JL:
    case ZYDIS_MNEMONIC_JLE:
    case ZYDIS_MNEMONIC_JNB:
    case ZYDIS_MNEMONIC_JNBE:
    case ZYDIS_MNEMONIC_JNL:
    case ZYDIS_MNEMONIC_JNLE:
    case ZYDIS_MNEMONIC_JNO:
    case ZYDIS_MNEMONIC_JNP:
    case ZYDIS_MNEMONIC_JNS:
    case ZYDIS_MNEMONIC_JNZ:
    case ZYDIS_MNEMONIC_JO:
    case ZYDIS_MNEMONIC_JP:
    case ZYDIS_MNEMONIC_JS:
    case ZYDIS_MNEMONIC_JZ:
        if (emu_cond(cpu->rflags, cc_of(cpu)))
            jump(cpu, branch_target(cpu, 0));
        return true;
    case ZYDIS_MNEMONIC_JCXZ:
    case ZYDIS_MNEMONIC_JECXZ:
    case ZYDIS_MNEMONIC_JRCXZ:
        if (count_reg(cpu) == 0)
            jump(cpu, branch_target(cpu, 0));
        return true;
    case ZYDIS_MNEMONIC_LOOP:
    case ZYDIS_MNEMONIC_LOOPE:
    case ZYDIS_MNEMONIC_LOOPNE:
        c = (count_reg(cpu) - 1) & emu_mask(cpu->decoded->insn.address_width / 8);
        t = branch_target(cpu, 0);
        set_count_reg(cpu, c);
        if (c &&
            (cpu->decoded->insn.mnemonic == ZYDIS_MNEMONIC_LOOP ||
             (cpu->decoded->insn.mnemonic == ZYDIS_MNEMONIC_LOOPE) == !!(cpu->rflags & RFLAGS_ZF)))
            jump(cpu, t);
        return true;
    case ZYDIS_MNEMONIC_CALL:
        if (cpu->decoded->insn.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
            return false;
        t = branch_target(cpu, 0);
        emu_push(cpu, cpu->next_rip & emu_mask(size), size);
        jump(cpu, t);
        return true;
    case ZYDIS_MNEMONIC_RET:
        if (cpu->decoded->insn.meta.branch_type == ZYDIS_BRANCH_TYPE_FAR)
            return false;
        t = emu_pop(cpu, size);
        if (cpu->decoded->insn.operand_count_visible) {
            unsigned sbits = cpu->code_bits == 64 ? 64 : (cpu->seg[SEG_SS].db ? 32 : 16);
            uint64_t sp = (cpu->gpr[GPR_RSP] + emu_op_read(cpu, 0)) & emu_mask(sbits / 8);

            cpu->gpr[GPR_RSP] = sbits == 16 ? (cpu->gpr[GPR_RSP] & ~0xffffULL) | sp : sp;
        }
        jump(cpu, t);
        return true;
    default:
        return false;
    }
}

void emu_pause(struct emu_cpu *cpu)
{
    if (++cpu->pauses % EMU_PAUSE_YIELD == 0 && cpu->vm->cfg.cpus > 1)
        sched_yield();
}

static bool exec_misc(struct emu_cpu *cpu)
{
    switch (cpu->decoded->insn.mnemonic) {
    case ZYDIS_MNEMONIC_PAUSE:
        emu_pause(cpu);
        return true;
    case ZYDIS_MNEMONIC_NOP:
    case ZYDIS_MNEMONIC_ENDBR32:
    case ZYDIS_MNEMONIC_ENDBR64:
    case ZYDIS_MNEMONIC_LFENCE:
    case ZYDIS_MNEMONIC_SFENCE:
    case ZYDIS_MNEMONIC_MFENCE:
    case ZYDIS_MNEMONIC_PREFETCHT0:
    case ZYDIS_MNEMONIC_PREFETCHT1:
    case ZYDIS_MNEMONIC_PREFETCHT2:
    case ZYDIS_MNEMONIC_PREFETCHNTA:
    case ZYDIS_MNEMONIC_PREFETCHW:
        return true;
    case ZYDIS_MNEMONIC_CLC:
        cpu->rflags &= ~RFLAGS_CF;
        return true;
    case ZYDIS_MNEMONIC_STC:
        cpu->rflags |= RFLAGS_CF;
        return true;
    case ZYDIS_MNEMONIC_CMC:
        cpu->rflags ^= RFLAGS_CF;
        return true;
    case ZYDIS_MNEMONIC_CLD:
        cpu->rflags &= ~RFLAGS_DF;
        return true;
    case ZYDIS_MNEMONIC_STD:
        cpu->rflags |= RFLAGS_DF;
        return true;
    case ZYDIS_MNEMONIC_UD0:
    case ZYDIS_MNEMONIC_UD1:
    case ZYDIS_MNEMONIC_UD2:
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    default:
        return false;
    }
}

/* VX86_EMU_TRACE=1: one line per instruction on stderr, for debugging. */
static void trace(struct emu_cpu *cpu)
{
    char text[96];

    format_insn(cpu, text, sizeof(text));
    fprintf(stderr, "emu %d: %04x:%016" PRIx64 " rsp %016" PRIx64 " %s\n", cpu->index,
            cpu->seg[SEG_CS].selector, cpu->insn_rip, cpu->gpr[GPR_RSP], text);
}

/*
 * An instruction Zydis decodes but no group implements: #UD, which is what a
 * CPU without that extension raises (CPUID advertises only what is
 * implemented), so a guest kernel can handle it. Said once per mnemonic on
 * stderr, as a warning (the guest goes on), so that gaps do not go
 * unnoticed.
 */
static void not_implemented(struct emu_cpu *cpu)
{
    static _Atomic uint64_t reported[(ZYDIS_MNEMONIC_MAX_VALUE + 64) / 64];
    unsigned m = cpu->decoded->insn.mnemonic;
    uint64_t bit = 1ULL << (m % 64);

    if (!(atomic_fetch_or(&reported[m / 64], bit) & bit))
        log_err("warning: emu: %s is not implemented; raising #UD (first seen at rip "
                "0x%" PRIx64 ")",
                ZydisMnemonicGetString(cpu->decoded->insn.mnemonic), cpu->insn_rip);
    emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
}

/* MOV to and from control and debug registers are system.c's. */
static bool exec_mov(struct emu_cpu *cpu)
{
    return exec_move(cpu) || emu_exec_system(cpu);
}

/* Far CALL, JMP and RET (through a selector) are system.c's. */
static bool exec_near_or_far(struct emu_cpu *cpu)
{
    return exec_branch(cpu) || emu_exec_system(cpu);
}

/*
 * The handler of each integer mnemonic: the group (exec.c's, alu.c's,
 * string.c's, system.c's, legacy.c's) whose switch has its case. Every
 * other mnemonic is the FPU/SIMD unit's (fpu.c), which takes instructions
 * by ISA set, as it does those of a mnemonic shared with an integer form
 * (MOVSD, CMPSD: string.c declines the SSE ones).
 */
static emu_exec_fn *const exec_table[ZYDIS_MNEMONIC_MAX_VALUE + 1] = {
    [ZYDIS_MNEMONIC_AAA] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_AAD] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_AAM] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_AAS] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_ADC] = emu_exec_alu,
    [ZYDIS_MNEMONIC_ADD] = emu_exec_alu,
    [ZYDIS_MNEMONIC_AND] = emu_exec_alu,
    [ZYDIS_MNEMONIC_ARPL] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_BOUND] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_BSF] = emu_exec_alu,
    [ZYDIS_MNEMONIC_BSR] = emu_exec_alu,
    [ZYDIS_MNEMONIC_BSWAP] = exec_move,
    [ZYDIS_MNEMONIC_BT] = emu_exec_alu,
    [ZYDIS_MNEMONIC_BTC] = emu_exec_alu,
    [ZYDIS_MNEMONIC_BTR] = emu_exec_alu,
    [ZYDIS_MNEMONIC_BTS] = emu_exec_alu,
    [ZYDIS_MNEMONIC_CALL] = exec_near_or_far,
    [ZYDIS_MNEMONIC_CBW] = exec_move,
    [ZYDIS_MNEMONIC_CDQ] = exec_move,
    [ZYDIS_MNEMONIC_CDQE] = exec_move,
    [ZYDIS_MNEMONIC_CLAC] = emu_exec_system,
    [ZYDIS_MNEMONIC_CLC] = exec_misc,
    [ZYDIS_MNEMONIC_CLD] = exec_misc,
    [ZYDIS_MNEMONIC_CLFLUSH] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_CLFLUSHOPT] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_CLI] = emu_exec_system,
    [ZYDIS_MNEMONIC_CLTS] = emu_exec_system,
    [ZYDIS_MNEMONIC_CLWB] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_CMC] = exec_misc,
    [ZYDIS_MNEMONIC_CMOVB] = exec_move,
    [ZYDIS_MNEMONIC_CMOVBE] = exec_move,
    [ZYDIS_MNEMONIC_CMOVL] = exec_move,
    [ZYDIS_MNEMONIC_CMOVLE] = exec_move,
    [ZYDIS_MNEMONIC_CMOVNB] = exec_move,
    [ZYDIS_MNEMONIC_CMOVNBE] = exec_move,
    [ZYDIS_MNEMONIC_CMOVNL] = exec_move,
    [ZYDIS_MNEMONIC_CMOVNLE] = exec_move,
    [ZYDIS_MNEMONIC_CMOVNO] = exec_move,
    [ZYDIS_MNEMONIC_CMOVNP] = exec_move,
    [ZYDIS_MNEMONIC_CMOVNS] = exec_move,
    [ZYDIS_MNEMONIC_CMOVNZ] = exec_move,
    [ZYDIS_MNEMONIC_CMOVO] = exec_move,
    [ZYDIS_MNEMONIC_CMOVP] = exec_move,
    [ZYDIS_MNEMONIC_CMOVS] = exec_move,
    [ZYDIS_MNEMONIC_CMOVZ] = exec_move,
    [ZYDIS_MNEMONIC_CMP] = emu_exec_alu,
    [ZYDIS_MNEMONIC_CMPSB] = emu_exec_string,
    [ZYDIS_MNEMONIC_CMPSD] = emu_exec_string,
    [ZYDIS_MNEMONIC_CMPSQ] = emu_exec_string,
    [ZYDIS_MNEMONIC_CMPSW] = emu_exec_string,
    [ZYDIS_MNEMONIC_CMPXCHG] = emu_exec_alu,
    [ZYDIS_MNEMONIC_CMPXCHG16B] = emu_exec_alu,
    [ZYDIS_MNEMONIC_CMPXCHG8B] = emu_exec_alu,
    [ZYDIS_MNEMONIC_CPUID] = emu_exec_system,
    [ZYDIS_MNEMONIC_CQO] = exec_move,
    [ZYDIS_MNEMONIC_CWD] = exec_move,
    [ZYDIS_MNEMONIC_CWDE] = exec_move,
    [ZYDIS_MNEMONIC_DAA] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_DAS] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_DEC] = emu_exec_alu,
    [ZYDIS_MNEMONIC_DIV] = emu_exec_alu,
    [ZYDIS_MNEMONIC_ENDBR32] = exec_misc,
    [ZYDIS_MNEMONIC_ENDBR64] = exec_misc,
    [ZYDIS_MNEMONIC_ENTER] = exec_stack,
    [ZYDIS_MNEMONIC_HLT] = emu_exec_system,
    [ZYDIS_MNEMONIC_IDIV] = emu_exec_alu,
    [ZYDIS_MNEMONIC_IMUL] = emu_exec_alu,
    [ZYDIS_MNEMONIC_IN] = emu_exec_system,
    [ZYDIS_MNEMONIC_INC] = emu_exec_alu,
    [ZYDIS_MNEMONIC_INSB] = emu_exec_string,
    [ZYDIS_MNEMONIC_INSD] = emu_exec_string,
    [ZYDIS_MNEMONIC_INSW] = emu_exec_string,
    [ZYDIS_MNEMONIC_INT] = emu_exec_system,
    [ZYDIS_MNEMONIC_INT1] = emu_exec_system,
    [ZYDIS_MNEMONIC_INT3] = emu_exec_system,
    [ZYDIS_MNEMONIC_INTO] = emu_exec_system,
    [ZYDIS_MNEMONIC_INVD] = emu_exec_system,
    [ZYDIS_MNEMONIC_INVLPG] = emu_exec_system,
    [ZYDIS_MNEMONIC_INVPCID] = emu_exec_system,
    [ZYDIS_MNEMONIC_IRET] = emu_exec_system,
    [ZYDIS_MNEMONIC_IRETD] = emu_exec_system,
    [ZYDIS_MNEMONIC_IRETQ] = emu_exec_system,
    [ZYDIS_MNEMONIC_JB] = exec_branch,
    [ZYDIS_MNEMONIC_JBE] = exec_branch,
    [ZYDIS_MNEMONIC_JCXZ] = exec_branch,
    [ZYDIS_MNEMONIC_JECXZ] = exec_branch,
    [ZYDIS_MNEMONIC_JL] = exec_branch,
    [ZYDIS_MNEMONIC_JLE] = exec_branch,
    [ZYDIS_MNEMONIC_JMP] = exec_near_or_far,
    [ZYDIS_MNEMONIC_JNB] = exec_branch,
    [ZYDIS_MNEMONIC_JNBE] = exec_branch,
    [ZYDIS_MNEMONIC_JNL] = exec_branch,
    [ZYDIS_MNEMONIC_JNLE] = exec_branch,
    [ZYDIS_MNEMONIC_JNO] = exec_branch,
    [ZYDIS_MNEMONIC_JNP] = exec_branch,
    [ZYDIS_MNEMONIC_JNS] = exec_branch,
    [ZYDIS_MNEMONIC_JNZ] = exec_branch,
    [ZYDIS_MNEMONIC_JO] = exec_branch,
    [ZYDIS_MNEMONIC_JP] = exec_branch,
    [ZYDIS_MNEMONIC_JRCXZ] = exec_branch,
    [ZYDIS_MNEMONIC_JS] = exec_branch,
    [ZYDIS_MNEMONIC_JZ] = exec_branch,
    [ZYDIS_MNEMONIC_LAHF] = exec_move,
    [ZYDIS_MNEMONIC_LAR] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_LDS] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_LEA] = exec_move,
    [ZYDIS_MNEMONIC_LEAVE] = exec_stack,
    [ZYDIS_MNEMONIC_LES] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_LFENCE] = exec_misc,
    [ZYDIS_MNEMONIC_LFS] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_LGDT] = emu_exec_system,
    [ZYDIS_MNEMONIC_LGS] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_LIDT] = emu_exec_system,
    [ZYDIS_MNEMONIC_LLDT] = emu_exec_system,
    [ZYDIS_MNEMONIC_LMSW] = emu_exec_system,
    [ZYDIS_MNEMONIC_LODSB] = emu_exec_string,
    [ZYDIS_MNEMONIC_LODSD] = emu_exec_string,
    [ZYDIS_MNEMONIC_LODSQ] = emu_exec_string,
    [ZYDIS_MNEMONIC_LODSW] = emu_exec_string,
    [ZYDIS_MNEMONIC_LOOP] = exec_branch,
    [ZYDIS_MNEMONIC_LOOPE] = exec_branch,
    [ZYDIS_MNEMONIC_LOOPNE] = exec_branch,
    [ZYDIS_MNEMONIC_LSL] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_LSS] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_LTR] = emu_exec_system,
    [ZYDIS_MNEMONIC_LZCNT] = emu_exec_alu,
    [ZYDIS_MNEMONIC_MFENCE] = exec_misc,
    [ZYDIS_MNEMONIC_MOV] = exec_mov,
    [ZYDIS_MNEMONIC_MOVBE] = exec_move,
    [ZYDIS_MNEMONIC_MOVSB] = emu_exec_string,
    [ZYDIS_MNEMONIC_MOVSD] = emu_exec_string,
    [ZYDIS_MNEMONIC_MOVSQ] = emu_exec_string,
    [ZYDIS_MNEMONIC_MOVSW] = emu_exec_string,
    [ZYDIS_MNEMONIC_MOVSX] = exec_move,
    [ZYDIS_MNEMONIC_MOVSXD] = exec_move,
    [ZYDIS_MNEMONIC_MOVZX] = exec_move,
    [ZYDIS_MNEMONIC_MUL] = emu_exec_alu,
    [ZYDIS_MNEMONIC_NEG] = emu_exec_alu,
    [ZYDIS_MNEMONIC_NOP] = exec_misc,
    [ZYDIS_MNEMONIC_NOT] = emu_exec_alu,
    [ZYDIS_MNEMONIC_OR] = emu_exec_alu,
    [ZYDIS_MNEMONIC_OUT] = emu_exec_system,
    [ZYDIS_MNEMONIC_OUTSB] = emu_exec_string,
    [ZYDIS_MNEMONIC_OUTSD] = emu_exec_string,
    [ZYDIS_MNEMONIC_OUTSW] = emu_exec_string,
    [ZYDIS_MNEMONIC_PAUSE] = exec_misc,
    [ZYDIS_MNEMONIC_POP] = exec_stack,
    [ZYDIS_MNEMONIC_POPA] = exec_stack,
    [ZYDIS_MNEMONIC_POPAD] = exec_stack,
    [ZYDIS_MNEMONIC_POPCNT] = emu_exec_alu,
    [ZYDIS_MNEMONIC_POPF] = exec_stack,
    [ZYDIS_MNEMONIC_POPFD] = exec_stack,
    [ZYDIS_MNEMONIC_POPFQ] = exec_stack,
    [ZYDIS_MNEMONIC_PREFETCHNTA] = exec_misc,
    [ZYDIS_MNEMONIC_PREFETCHT0] = exec_misc,
    [ZYDIS_MNEMONIC_PREFETCHT1] = exec_misc,
    [ZYDIS_MNEMONIC_PREFETCHT2] = exec_misc,
    [ZYDIS_MNEMONIC_PREFETCHW] = exec_misc,
    [ZYDIS_MNEMONIC_PUSH] = exec_stack,
    [ZYDIS_MNEMONIC_PUSHA] = exec_stack,
    [ZYDIS_MNEMONIC_PUSHAD] = exec_stack,
    [ZYDIS_MNEMONIC_PUSHF] = exec_stack,
    [ZYDIS_MNEMONIC_PUSHFD] = exec_stack,
    [ZYDIS_MNEMONIC_PUSHFQ] = exec_stack,
    [ZYDIS_MNEMONIC_RCL] = emu_exec_alu,
    [ZYDIS_MNEMONIC_RCR] = emu_exec_alu,
    [ZYDIS_MNEMONIC_RDFSBASE] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_RDGSBASE] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_RDMSR] = emu_exec_system,
    [ZYDIS_MNEMONIC_RDPID] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_RDPKRU] = emu_exec_system,
    [ZYDIS_MNEMONIC_RDPMC] = emu_exec_system,
    [ZYDIS_MNEMONIC_RDRAND] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_RDSEED] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_RDTSC] = emu_exec_system,
    [ZYDIS_MNEMONIC_RDTSCP] = emu_exec_system,
    [ZYDIS_MNEMONIC_RET] = exec_near_or_far,
    [ZYDIS_MNEMONIC_ROL] = emu_exec_alu,
    [ZYDIS_MNEMONIC_ROR] = emu_exec_alu,
    [ZYDIS_MNEMONIC_SAHF] = exec_move,
    [ZYDIS_MNEMONIC_SALC] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_SAR] = emu_exec_alu,
    [ZYDIS_MNEMONIC_SBB] = emu_exec_alu,
    [ZYDIS_MNEMONIC_SCASB] = emu_exec_string,
    [ZYDIS_MNEMONIC_SCASD] = emu_exec_string,
    [ZYDIS_MNEMONIC_SCASQ] = emu_exec_string,
    [ZYDIS_MNEMONIC_SCASW] = emu_exec_string,
    [ZYDIS_MNEMONIC_SERIALIZE] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_SETB] = exec_move,
    [ZYDIS_MNEMONIC_SETBE] = exec_move,
    [ZYDIS_MNEMONIC_SETL] = exec_move,
    [ZYDIS_MNEMONIC_SETLE] = exec_move,
    [ZYDIS_MNEMONIC_SETNB] = exec_move,
    [ZYDIS_MNEMONIC_SETNBE] = exec_move,
    [ZYDIS_MNEMONIC_SETNL] = exec_move,
    [ZYDIS_MNEMONIC_SETNLE] = exec_move,
    [ZYDIS_MNEMONIC_SETNO] = exec_move,
    [ZYDIS_MNEMONIC_SETNP] = exec_move,
    [ZYDIS_MNEMONIC_SETNS] = exec_move,
    [ZYDIS_MNEMONIC_SETNZ] = exec_move,
    [ZYDIS_MNEMONIC_SETO] = exec_move,
    [ZYDIS_MNEMONIC_SETP] = exec_move,
    [ZYDIS_MNEMONIC_SETS] = exec_move,
    [ZYDIS_MNEMONIC_SETZ] = exec_move,
    [ZYDIS_MNEMONIC_SFENCE] = exec_misc,
    [ZYDIS_MNEMONIC_SGDT] = emu_exec_system,
    [ZYDIS_MNEMONIC_SHL] = emu_exec_alu,
    [ZYDIS_MNEMONIC_SHLD] = emu_exec_alu,
    [ZYDIS_MNEMONIC_SHR] = emu_exec_alu,
    [ZYDIS_MNEMONIC_SHRD] = emu_exec_alu,
    [ZYDIS_MNEMONIC_SIDT] = emu_exec_system,
    [ZYDIS_MNEMONIC_SLDT] = emu_exec_system,
    [ZYDIS_MNEMONIC_SMSW] = emu_exec_system,
    [ZYDIS_MNEMONIC_STAC] = emu_exec_system,
    [ZYDIS_MNEMONIC_STC] = exec_misc,
    [ZYDIS_MNEMONIC_STD] = exec_misc,
    [ZYDIS_MNEMONIC_STI] = emu_exec_system,
    [ZYDIS_MNEMONIC_STOSB] = emu_exec_string,
    [ZYDIS_MNEMONIC_STOSD] = emu_exec_string,
    [ZYDIS_MNEMONIC_STOSQ] = emu_exec_string,
    [ZYDIS_MNEMONIC_STOSW] = emu_exec_string,
    [ZYDIS_MNEMONIC_STR] = emu_exec_system,
    [ZYDIS_MNEMONIC_SUB] = emu_exec_alu,
    [ZYDIS_MNEMONIC_SWAPGS] = emu_exec_system,
    [ZYDIS_MNEMONIC_SYSCALL] = emu_exec_system,
    [ZYDIS_MNEMONIC_SYSENTER] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_SYSEXIT] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_SYSRET] = emu_exec_system,
    [ZYDIS_MNEMONIC_TEST] = emu_exec_alu,
    [ZYDIS_MNEMONIC_TZCNT] = emu_exec_alu,
    [ZYDIS_MNEMONIC_UD0] = exec_misc,
    [ZYDIS_MNEMONIC_UD1] = exec_misc,
    [ZYDIS_MNEMONIC_UD2] = exec_misc,
    [ZYDIS_MNEMONIC_VERR] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_VERW] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_VMCALL] = emu_exec_system,
    [ZYDIS_MNEMONIC_VMMCALL] = emu_exec_system,
    [ZYDIS_MNEMONIC_WBINVD] = emu_exec_system,
    [ZYDIS_MNEMONIC_WRFSBASE] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_WRGSBASE] = emu_exec_legacy,
    [ZYDIS_MNEMONIC_WRMSR] = emu_exec_system,
    [ZYDIS_MNEMONIC_WRPKRU] = emu_exec_system,
    [ZYDIS_MNEMONIC_XADD] = emu_exec_alu,
    [ZYDIS_MNEMONIC_XCHG] = exec_move,
    [ZYDIS_MNEMONIC_XLAT] = exec_move,
    [ZYDIS_MNEMONIC_XOR] = emu_exec_alu,
};

void emu_exec_decoded(struct emu_cpu *cpu)
{
    const ZydisDecodedInstruction *in = &cpu->decoded->insn;
    emu_exec_fn *fn = exec_table[in->mnemonic];

    cpu->stats.generic++;
    if ((in->attributes & ZYDIS_ATTRIB_IS_PRIVILEGED) && cpu->cpl != 0)
        emu_raise(cpu, EXC_GP, 0);
    if ((fn && fn(cpu)) || emu_exec_fpu(cpu))
        return;
    not_implemented(cpu);
}

void emu_step(struct emu_cpu *cpu)
{
    cpu->stats.steps++;
    cpu->intr_shadow = false;
    cpu->insn_rip = cpu->rip;
    emu_decode(cpu);
    if (__builtin_expect(cpu->trace, 0))
        trace(cpu);
    cpu->next_rip = (cpu->rip + cpu->decoded->insn.length) & emu_mask(cpu->code_bits / 8);
    cpu->rip = cpu->next_rip;
    emu_exec_decoded(cpu);
}

/* Entered by longjmp when an instruction or a delivery faulted. */
static void fault_entry(struct emu_cpu *cpu)
{
    emu_end_exclusive(cpu);
    cpu->rip = cpu->insn_rip;
    /* A fault's frame has RF set, so that the instruction it returns to
     * does not hit its instruction breakpoint again; an instruction
     * breakpoint's own #DB is the exception (SDM Vol. 3B §17.3.1.1). */
    if (!cpu->exc_no_rf)
        cpu->rflags |= RFLAGS_RF;
    cpu->exc_no_rf = false;
    emu_deliver_fault(cpu, cpu->exc_vector, cpu->exc_error);
}

int emu_run(struct emu_cpu *cpu, struct accel_exit *exit)
{
    cpu->stats.exits++;
    cpu->exit = exit;
    exit->why[0] = '\0';
    switch (setjmp(cpu->fault_jmp)) {
    case JMP_FAULT:
        fault_entry(cpu);
        break;
    case JMP_INTERNAL:
        emu_end_exclusive(cpu);
        emu_exec_end(cpu);
        cpu->delivering = -1;
        return 0;
    default:
        break;
    }
    /* A fault comes back here inside emu_exec_start's section: its delivery
     * is still the instruction's. Events, which may sleep, are outside. */
    while (!cpu->triple_fault) {
        unsigned pass = cpu->pass_limit ? EMU_LIMITED_PASS : 4096;

        emu_exec_end(cpu);
        if (atomic_exchange(&cpu->kicked, false) ||
            (cpu->pass_limit && cpu->passes >= cpu->pass_limit)) {
            exit->reason = ACCEL_EXIT_INTR;
            return 0;
        }
        cpu->passes++;
        if ((cpu->halted || cpu->wait_sipi || emu_events_due(cpu) || cpu->pass_limit ||
             emu_now_ns() >= cpu->deadline) &&
            !emu_events(cpu)) {
            if (cpu->pass_limit) { /* it would have slept */
                exit->reason = ACCEL_EXIT_INTR;
                return 0;
            }
            continue;
        }
        emu_exec_start(cpu);
        if (cpu->trace) {
            for (unsigned n = 0; n < pass && !cpu->halted && !cpu->triple_fault; n++) {
                cpu->stats.insns++;
                if (emu_debug_on(cpu))
                    emu_debug_step(cpu);
                else
                    emu_step(cpu);
                if (emu_events_due(cpu))
                    break;
            }
        } else {
            /* False first: an exception leaves by longjmp. */
            cpu->pass_full = false;
            cpu->pass_full = emu_run_blocks(cpu, pass) >= pass;
        }
    }
    emu_exec_end(cpu);
    exit->reason = ACCEL_EXIT_SHUTDOWN;
    return 0;
}
