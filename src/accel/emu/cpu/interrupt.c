/*
 * Exceptions and interrupts: delivery through the real-mode IVT or the
 * protected/long-mode IDT with privilege and IST stack switches (SDM Vol. 3A
 * §6.12, §6.14), IRET, SYSCALL/SYSRET and SYSENTER/SYSEXIT (Vol. 2B), the
 * latter two pairs as the CPU model's vendor has them.
 */
#include "accel/emu/cpu/cpu.h"
#include "vm/vm.h"

#define GATE_TASK   0x5
#define GATE_INT16  0x6
#define GATE_TRAP16 0x7
#define GATE_INT32  0xe /* also the 64-bit interrupt gate */
#define GATE_TRAP32 0xf

void emu_raise(struct emu_cpu *cpu, int vector, int error)
{
    cpu->exc_vector = vector;
    cpu->exc_error = error;
    longjmp(cpu->fault_jmp, 1);
}

static void deliver_real(struct emu_cpu *cpu, int vector)
{
    uint64_t entry;

    if ((uint64_t)vector * 4 + 3 > cpu->idt.limit)
        emu_raise(cpu, EXC_GP, vector * 8 + 2);
    entry = emu_read_lin(cpu, cpu->idt.base + (uint64_t)vector * 4, 4, ACC_READ, 0);
    emu_push(cpu, cpu->rflags & 0xffff, 2);
    emu_push(cpu, cpu->seg[SEG_CS].selector, 2);
    emu_push(cpu, cpu->rip & 0xffff, 2);
    cpu->rflags &= ~(RFLAGS_IF | RFLAGS_TF | RFLAGS_AC | RFLAGS_RF);
    emu_load_seg(cpu, SEG_CS, (uint16_t)(entry >> 16));
    cpu->rip = entry & 0xffff;
    emu_update_mode(cpu); /* block links and translations hold for one CS base */
}

/* The stack pointer for privilege level dpl (or IST slot ist) from the TSS. */
static void tss_stack(struct emu_cpu *cpu, int dpl, int ist, uint16_t *ss, uint64_t *sp)
{
    uint64_t off;

    if (emu_long_mode(cpu)) {
        off = ist ? 0x24 + 8 * (uint64_t)(ist - 1) : 4 + 8 * (uint64_t)dpl;
        if (off + 7 > cpu->tr.limit)
            emu_raise(cpu, EXC_TS, cpu->tr.selector & 0xfffc);
        *sp = emu_read_lin(cpu, cpu->tr.base + off, 8, ACC_READ, 0);
        *ss = (uint16_t)dpl;
        return;
    }
    off = 4 + 8 * (uint64_t)dpl;
    if (off + 5 > cpu->tr.limit)
        emu_raise(cpu, EXC_TS, cpu->tr.selector & 0xfffc);
    *sp = emu_read_lin(cpu, cpu->tr.base + off, 4, ACC_READ, 0);
    *ss = (uint16_t)emu_read_lin(cpu, cpu->tr.base + off + 4, 2, ACC_READ, 0);
}

/* Pushes onto the new stack at privilege cpl, through linear addresses. */
struct frame {
    struct emu_cpu *cpu;
    uint64_t base, sp, mask;
    int cpl;
};

static void frame_push(struct frame *f, uint64_t v, unsigned size)
{
    f->sp = (f->sp - size) & f->mask;
    /* A 64-bit gate's stack address must be canonical (SDM Vol. 2A INT n:
     * "IF StackAddress is non-canonical THEN #SS(0)"). */
    if (emu_long_mode(f->cpu) && !emu_canonical(f->base + f->sp))
        emu_raise(f->cpu, EXC_SS, 0);
    emu_write_lin(f->cpu, f->base + f->sp, v, size, f->cpl);
}

static void deliver_protected(struct emu_cpu *cpu, int vector, int error, bool soft)
{
    bool lm = emu_long_mode(cpu);
    unsigned gate_size = lm ? 16 : 8, push;
    uint64_t lo, hi = 0, offset, old_rflags = cpu->rflags;
    struct cpu_segment cs, ss = cpu->seg[SEG_SS];
    uint16_t sel, new_ss = ss.selector;
    int type, dpl, ist, new_cpl;
    struct frame f;
    bool stack_switch;

    if ((uint64_t)vector * gate_size + gate_size - 1 > cpu->idt.limit)
        emu_raise(cpu, EXC_GP, vector * 8 + 2);
    lo = emu_read_lin(cpu, cpu->idt.base + (uint64_t)vector * gate_size, 8, ACC_READ, 0);
    if (lm)
        hi = emu_read_lin(cpu, cpu->idt.base + (uint64_t)vector * 16 + 8, 8, ACC_READ, 0);
    type = (lo >> 40) & 0xf;
    dpl = (lo >> 45) & 3;
    ist = lm ? (lo >> 32) & 7 : 0;
    if (type == GATE_TASK && !lm) {
        if (soft && dpl < cpu->cpl)
            emu_raise(cpu, EXC_GP, vector * 8 + 2);
        if (!((lo >> 47) & 1))
            emu_raise(cpu, EXC_NP, vector * 8 + 2);
        emu_task_gate_interrupt(cpu, (uint16_t)(lo >> 16), error);
        return;
    }
    if (lm ? (type != GATE_INT32 && type != GATE_TRAP32)
           : (type != GATE_INT16 && type != GATE_TRAP16 && type != GATE_INT32 &&
              type != GATE_TRAP32))
        emu_raise(cpu, EXC_GP, vector * 8 + 2);
    if (soft && dpl < cpu->cpl)
        emu_raise(cpu, EXC_GP, vector * 8 + 2);
    if (!((lo >> 47) & 1))
        emu_raise(cpu, EXC_NP, vector * 8 + 2);
    sel = (uint16_t)(lo >> 16);
    offset = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ULL) | (hi << 32);
    if ((sel & 0xfffc) == 0)
        emu_raise(cpu, EXC_GP, 0);
    emu_seg_from_descriptor(&cs, sel, emu_read_descriptor(cpu, sel, EXC_GP));
    if (!cs.s || !(cs.type & 0x8) || cs.dpl > cpu->cpl || (lm && !cs.l))
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (!cs.present)
        emu_raise(cpu, EXC_NP, sel & 0xfffc);
    new_cpl = (cs.type & 0x4) ? cpu->cpl : cs.dpl; /* conforming keeps the CPL */
    stack_switch = new_cpl < cpu->cpl || ist;
    if (old_rflags & RFLAGS_VM && new_cpl != 0)
        emu_raise(cpu, EXC_GP, sel & 0xfffc);

    f = (struct frame){.cpu = cpu, .cpl = new_cpl};
    if (stack_switch) {
        tss_stack(cpu, new_cpl, ist, &new_ss, &f.sp);
        if (lm) {
            new_ss = (uint16_t)new_cpl; /* a null SS with RPL = CPL */
            ss = (struct cpu_segment){.selector = new_ss, .unusable = 1, .dpl = (uint8_t)new_cpl};
            f.sp &= ~0xfULL;
        } else {
            if ((new_ss & 0xfffc) == 0)
                emu_raise(cpu, EXC_TS, new_ss & 0xfffc);
            emu_seg_from_descriptor(&ss, new_ss, emu_read_descriptor(cpu, new_ss, EXC_TS));
            if ((new_ss & 3) != new_cpl || ss.dpl != new_cpl || !ss.s || (ss.type & 0x8) ||
                !(ss.type & 0x2))
                emu_raise(cpu, EXC_TS, new_ss & 0xfffc);
            if (!ss.present)
                emu_raise(cpu, EXC_SS, new_ss & 0xfffc);
        }
    } else {
        f.sp = cpu->gpr[GPR_RSP];
        if (lm)
            f.sp &= ~0xfULL;
    }
    f.base = lm ? 0 : ss.base;
    f.mask = lm ? ~0ULL : (ss.db ? 0xffffffffULL : 0xffffULL);
    push = lm ? 8 : (type == GATE_INT16 || type == GATE_TRAP16 ? 2 : 4);

    if (old_rflags & RFLAGS_VM) {
        frame_push(&f, cpu->seg[SEG_GS].selector, push);
        frame_push(&f, cpu->seg[SEG_FS].selector, push);
        frame_push(&f, cpu->seg[SEG_DS].selector, push);
        frame_push(&f, cpu->seg[SEG_ES].selector, push);
    }
    if (stack_switch || lm) {
        frame_push(&f, cpu->seg[SEG_SS].selector, push);
        frame_push(&f, cpu->gpr[GPR_RSP], push);
    }
    frame_push(&f, old_rflags, push);
    frame_push(&f, cpu->seg[SEG_CS].selector, push);
    frame_push(&f, cpu->rip, push);
    if (error != EXC_NO_ERROR)
        frame_push(&f, (uint32_t)error, push);

    /* Nothing can fault from here on: commit. */
    if (stack_switch) {
        cpu->seg[SEG_SS] = ss;
        cpu->seg[SEG_SS].selector = new_ss;
    }
    if (old_rflags & RFLAGS_VM) {
        for (int s = SEG_ES; s < SEG_COUNT; s++)
            if (s != SEG_CS && s != SEG_SS)
                cpu->seg[s] = (struct cpu_segment){.unusable = 1};
    }
    cpu->gpr[GPR_RSP] = lm ? f.sp : (cpu->gpr[GPR_RSP] & ~f.mask) | f.sp;
    cs.selector = (uint16_t)((sel & 0xfffc) | new_cpl);
    cs.type |= 1;
    cpu->seg[SEG_CS] = cs;
    cpu->rip = lm ? offset : (push == 2 ? offset & 0xffff : offset & 0xffffffff);
    cpu->rflags &= ~(RFLAGS_TF | RFLAGS_NT | RFLAGS_RF | RFLAGS_VM);
    if (type == GATE_INT32 || type == GATE_INT16)
        cpu->rflags &= ~RFLAGS_IF;
    emu_update_mode(cpu);
}

void emu_deliver(struct emu_cpu *cpu, int vector, int error, bool soft)
{
    cpu->halted = false;
    if (!(cpu->cr0 & CR0_PE))
        deliver_real(cpu, vector);
    else
        deliver_protected(cpu, vector, error, soft);
}

/* The i-th size-byte slot from the top of the stack, read without moving
 * RSP: an IRET that faults leaves RSP as it was. */
static uint64_t stack_slot(struct emu_cpu *cpu, unsigned i, unsigned size)
{
    uint64_t mask = cpu->code_bits == 64 ? ~0ULL : cpu->seg[SEG_SS].db ? 0xffffffffULL : 0xffffULL;

    return emu_read(cpu, SEG_SS, (cpu->gpr[GPR_RSP] + (uint64_t)i * size) & mask, size);
}

/* IRET to the same or an outer privilege level, protected or long mode. */
static void iret_protected(struct emu_cpu *cpu, int opsize)
{
    bool lm64 = cpu->code_bits == 64;
    unsigned size = (unsigned)opsize / 8;
    uint64_t rip, flags, rsp = 0, change;
    uint16_t cs_sel, ss_sel = 0;
    struct cpu_segment cs, ss;
    int rpl;
    bool outer;

    if (cpu->rflags & RFLAGS_NT && !emu_long_mode(cpu)) {
        emu_task_return(cpu);
        return;
    }
    rip = stack_slot(cpu, 0, size);
    cs_sel = (uint16_t)stack_slot(cpu, 1, size);
    flags = stack_slot(cpu, 2, size);
    if ((flags & RFLAGS_VM) && cpu->cpl == 0 && !emu_long_mode(cpu)) {
        /* Back to virtual-8086 mode (SDM IRET pseudo-code, RETURN-TO-VIRTUAL-8086-MODE). */
        uint64_t esp = stack_slot(cpu, 3, 4);
        uint16_t sels[4], ssv = (uint16_t)stack_slot(cpu, 4, 4);

        for (unsigned i = 0; i < 4; i++)
            sels[i] = (uint16_t)stack_slot(cpu, 5 + i, 4);
        /* Every flag comes from the image, VM included (SDM IRET, RETURN-TO-VIRTUAL-8086-MODE). */
        cpu->rflags = (flags & 0x3f7fd5) | RFLAGS_FIXED;
        cpu->cpl = 3;
        emu_load_seg(cpu, SEG_CS, cs_sel);
        emu_load_seg(cpu, SEG_SS, ssv);
        emu_load_seg(cpu, SEG_ES, sels[0]);
        emu_load_seg(cpu, SEG_DS, sels[1]);
        emu_load_seg(cpu, SEG_FS, sels[2]);
        emu_load_seg(cpu, SEG_GS, sels[3]);
        cpu->gpr[GPR_RSP] = esp & 0xffffffff;
        cpu->rip = rip & 0xffff;
        emu_update_mode(cpu);
        return;
    }
    rpl = cs_sel & 3;
    if ((cs_sel & 0xfffc) == 0)
        emu_raise(cpu, EXC_GP, 0);
    emu_seg_from_descriptor(&cs, cs_sel, emu_read_descriptor(cpu, cs_sel, EXC_GP));
    if (!cs.s || !(cs.type & 0x8) || rpl < cpu->cpl ||
        ((cs.type & 0x4) ? cs.dpl > rpl : cs.dpl != rpl))
        emu_raise(cpu, EXC_GP, cs_sel & 0xfffc);
    if (!cs.present)
        emu_raise(cpu, EXC_NP, cs_sel & 0xfffc);
    outer = rpl > cpu->cpl;
    if (outer || lm64) {
        rsp = stack_slot(cpu, 3, size);
        ss_sel = (uint16_t)stack_slot(cpu, 4, size);
        if ((ss_sel & 0xfffc) == 0) {
            if (!emu_long_mode(cpu) || !cs.l || rpl == 3)
                emu_raise(cpu, EXC_GP, 0);
            ss = (struct cpu_segment){.selector = ss_sel, .unusable = 1, .dpl = (uint8_t)rpl};
        } else {
            emu_seg_from_descriptor(&ss, ss_sel, emu_read_descriptor(cpu, ss_sel, EXC_GP));
            if ((ss_sel & 3) != rpl || ss.dpl != rpl || !ss.s || (ss.type & 0x8) ||
                !(ss.type & 0x2))
                emu_raise(cpu, EXC_GP, ss_sel & 0xfffc);
            if (!ss.present)
                emu_raise(cpu, EXC_SS, ss_sel & 0xfffc);
        }
    }
    /* Which flags may change (SDM IRET: IOPL only at CPL 0, IF only if CPL <= IOPL). */
    change = RFLAGS_STATUS | RFLAGS_TF | RFLAGS_DF | RFLAGS_NT | RFLAGS_RF | RFLAGS_AC | RFLAGS_ID;
    if (cpu->cpl == 0)
        change |= RFLAGS_IOPL | RFLAGS_VIF | RFLAGS_VIP;
    if ((uint64_t)cpu->cpl <= ((cpu->rflags & RFLAGS_IOPL) >> 12))
        change |= RFLAGS_IF;
    if (size == 2)
        change &= 0xffff;
    else if (size == 4)
        change &= 0xffffffff;
    cpu->rflags = (cpu->rflags & ~change) | (flags & change) | RFLAGS_FIXED;
    cs.type |= 1;
    cpu->seg[SEG_CS] = cs;
    cpu->rip = size == 2 ? rip & 0xffff : (size == 4 ? rip & 0xffffffff : rip);
    if (outer || lm64) {
        cpu->seg[SEG_SS] = ss;
        cpu->gpr[GPR_RSP] = size == 8 ? rsp : (size == 4 ? rsp & 0xffffffff : rsp & 0xffff);
    } else {
        emu_stack_drop(cpu, 3 * size);
    }
    emu_update_mode(cpu);
    if (outer)
        emu_null_inner_segments(cpu);
}

void emu_null_inner_segments(struct emu_cpu *cpu)
{
    for (int s = SEG_ES; s < SEG_COUNT; s++) {
        struct cpu_segment *d = &cpu->seg[s];

        if (s == SEG_CS || s == SEG_SS || d->unusable)
            continue;
        /* Data and non-conforming code segments more privileged than the
         * new CPL. Only the selector becomes null: the base stays, which
         * FS: and GS: accesses in 64-bit mode still use (as Intel CPUs do). */
        if ((!(d->type & 0x8) || !(d->type & 0x4)) && d->dpl < cpu->cpl)
            *d = (struct cpu_segment){.unusable = 1, .base = d->base};
    }
}

void emu_iret(struct emu_cpu *cpu, int opsize)
{
    unsigned size = (unsigned)opsize / 8;

    /* IRET ends NMI blocking even if it then faults (SDM Vol. 3A §6.7.1;
     * Vol. 3C §27.2.3, "NMI unblocking due to IRET"); a held NMI is taken
     * before the next instruction. */
    if (cpu->nmi_blocked) {
        cpu->nmi_blocked = false;
        if (cpu->nmi_pending)
            atomic_store(&cpu->wake, true);
    }
    if (!(cpu->cr0 & CR0_PE)) {
        uint64_t ip = emu_pop(cpu, size), cs = emu_pop(cpu, size), fl = emu_pop(cpu, size);
        /* SDM IRET, REAL-ADDRESS-MODE: EFLAGS from the image AND 257FD5H
         * (VM, VIF and VIP stay); the reserved bits 3, 5 and 15 read as 0
         * (Vol. 1 §3.4.3) whatever the image holds, at either width. */
        uint64_t change = (size == 2 ? 0xffff : 0x257fd5) & RFLAGS_DEFINED;

        emu_load_seg(cpu, SEG_CS, (uint16_t)cs);
        cpu->rip = ip & (size == 2 ? 0xffff : 0xffffffff);
        cpu->rflags = (cpu->rflags & ~change) | (fl & change) | RFLAGS_FIXED;
        emu_update_mode(cpu);
        return;
    }
    if (cpu->rflags & RFLAGS_VM) {
        if (((cpu->rflags & RFLAGS_IOPL) >> 12) < 3)
            emu_raise(cpu, EXC_GP, 0);
        uint64_t ip = emu_pop(cpu, size), cs = emu_pop(cpu, size), fl = emu_pop(cpu, size);
        uint64_t change = (size == 2 ? 0xffff : 0xffffffff) & RFLAGS_DEFINED &
                          ~(RFLAGS_IOPL | RFLAGS_VM | RFLAGS_VIP | RFLAGS_VIF);

        emu_load_seg(cpu, SEG_CS, (uint16_t)cs);
        cpu->rip = ip & 0xffff;
        cpu->rflags = (cpu->rflags & ~change) | (fl & change) | RFLAGS_FIXED;
        emu_update_mode(cpu);
        return;
    }
    iret_protected(cpu, opsize);
}

static bool amd(const struct emu_cpu *cpu)
{
    return cpu->vm->cfg.cpu_vendor == CPU_VENDOR_AMD;
}

/*
 * SYSCALL and SYSRET (SDM Vol. 2B; AMD APM Vol. 3). In long mode, 64-bit
 * and compatibility mode alike, SYSCALL enters 64-bit mode at LSTAR or
 * CSTAR. Outside long mode Intel CPUs raise #UD; AMD ones, which invented
 * the pair, run the legacy form: EIP from STAR[31:0], flat 32-bit CS and
 * SS from STAR[47:32], VM, IF and RF cleared (APM SYSCALL, "legacy mode").
 */
void emu_syscall(struct emu_cpu *cpu)
{
    uint16_t sel = (uint16_t)(cpu->msr.star >> 32);
    bool lm = emu_long_mode(cpu);

    if (!(cpu->efer & EFER_SCE) || (!lm && !amd(cpu)))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if (lm) {
        cpu->gpr[GPR_RCX] = cpu->next_rip;
        cpu->gpr[11] = cpu->rflags & ~RFLAGS_RF;
        cpu->rip = cpu->code_bits == 64 ? cpu->msr.lstar : cpu->msr.cstar;
        cpu->rflags &= ~(cpu->msr.sfmask | RFLAGS_RF);
    } else {
        cpu->gpr[GPR_RCX] = cpu->next_rip & 0xffffffff;
        cpu->rip = cpu->msr.star & 0xffffffff;
        cpu->rflags &= ~(RFLAGS_VM | RFLAGS_IF | RFLAGS_RF);
    }
    cpu->rflags |= RFLAGS_FIXED;
    cpu->seg[SEG_CS] = (struct cpu_segment){.selector = sel & 0xfffc,
                                            .limit = 0xffffffff,
                                            .type = 0xb,
                                            .s = 1,
                                            .present = 1,
                                            .l = lm,
                                            .db = !lm,
                                            .g = 1};
    cpu->seg[SEG_SS] = (struct cpu_segment){.selector = (uint16_t)(sel + 8),
                                            .limit = 0xffffffff,
                                            .type = 3,
                                            .s = 1,
                                            .present = 1,
                                            .db = 1,
                                            .g = 1};
    emu_update_mode(cpu);
}

/* SYSRET: as SYSCALL, legacy mode only on AMD, where it sets IF and takes
 * nothing from R11. A non-canonical RCX is #GP(0) at CPL 0 on Intel; AMD
 * CPUs return, and the fetch faults at CPL 3. */
void emu_sysret(struct emu_cpu *cpu, int opsize)
{
    uint16_t sel = (uint16_t)(cpu->msr.star >> 48);
    bool lm = emu_long_mode(cpu);

    if (!(cpu->efer & EFER_SCE) || (!lm && !amd(cpu)))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if (!(cpu->cr0 & CR0_PE) || cpu->cpl != 0)
        emu_raise(cpu, EXC_GP, 0);
    if (opsize == 64) {
        uint64_t rcx = cpu->gpr[GPR_RCX];

        if (!emu_canonical(rcx) && !amd(cpu))
            emu_raise(cpu, EXC_GP, 0);
        cpu->rip = rcx;
        cpu->seg[SEG_CS] = (struct cpu_segment){.selector = (uint16_t)((sel + 16) | 3),
                                                .limit = 0xffffffff,
                                                .type = 0xb,
                                                .s = 1,
                                                .dpl = 3,
                                                .present = 1,
                                                .l = 1,
                                                .g = 1};
    } else {
        cpu->rip = cpu->gpr[GPR_RCX] & 0xffffffff;
        cpu->seg[SEG_CS] = (struct cpu_segment){.selector = (uint16_t)(sel | 3),
                                                .limit = 0xffffffff,
                                                .type = 0xb,
                                                .s = 1,
                                                .dpl = 3,
                                                .present = 1,
                                                .db = 1,
                                                .g = 1};
    }
    if (lm)
        cpu->rflags = (cpu->gpr[11] & 0x3c7fd7) | RFLAGS_FIXED;
    else
        cpu->rflags |= RFLAGS_IF;
    /* SS keeps its cached attributes except the selector and DPL (SDM SYSRET). */
    cpu->seg[SEG_SS].selector = (uint16_t)((sel + 8) | 3);
    cpu->seg[SEG_SS].dpl = 3;
    cpu->seg[SEG_SS].unusable = 0;
    cpu->seg[SEG_SS].present = 1;
    cpu->seg[SEG_SS].s = 1;
    cpu->seg[SEG_SS].type = 3;
    /* A SYSRET that sets TF traps at once, in user mode: unlike IRET's, its
     * TF counts for itself (as Linux's entry code notes, which uses IRET
     * to return with TF set). */
    if (cpu->rflags & RFLAGS_TF)
        cpu->db_due = DR6_BS;
    emu_update_mode(cpu);
}

/* SYSENTER/SYSEXIT (SDM Vol. 2B): flat segments derived from
 * IA32_SYSENTER_CS. AMD CPUs have them in legacy mode only: #UD in long
 * mode (AMD APM Vol. 3, SYSENTER, SYSEXIT). */
void emu_sysenter(struct emu_cpu *cpu)
{
    uint16_t cs = (uint16_t)cpu->msr.sysenter_cs & 0xfffc;
    bool lm = emu_long_mode(cpu);

    if (lm && amd(cpu))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if (!(cpu->cr0 & CR0_PE) || cs == 0)
        emu_raise(cpu, EXC_GP, 0);
    cpu->rflags &= ~(RFLAGS_VM | RFLAGS_IF | RFLAGS_RF);
    cpu->seg[SEG_CS] = (struct cpu_segment){.selector = cs, .limit = 0xffffffff, .type = 0xb,
                                            .s = 1, .present = 1, .g = 1, .l = lm, .db = !lm};
    cpu->seg[SEG_SS] = (struct cpu_segment){.selector = (uint16_t)(cs + 8), .limit = 0xffffffff,
                                            .type = 3, .s = 1, .present = 1, .g = 1, .db = 1};
    cpu->rip = lm ? cpu->msr.sysenter_eip : cpu->msr.sysenter_eip & 0xffffffff;
    cpu->gpr[GPR_RSP] = lm ? cpu->msr.sysenter_esp : cpu->msr.sysenter_esp & 0xffffffff;
    emu_update_mode(cpu);
}

void emu_sysexit(struct emu_cpu *cpu, int opsize)
{
    uint16_t base = (uint16_t)cpu->msr.sysenter_cs & 0xfffc;
    bool to64 = opsize == 64;

    if (emu_long_mode(cpu) && amd(cpu))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if (!(cpu->cr0 & CR0_PE) || base == 0 || cpu->cpl != 0)
        emu_raise(cpu, EXC_GP, 0);
    cpu->seg[SEG_CS] = (struct cpu_segment){.selector = (uint16_t)((base + (to64 ? 32 : 16)) | 3),
                                            .limit = 0xffffffff, .type = 0xb, .s = 1, .dpl = 3,
                                            .present = 1, .g = 1, .l = to64, .db = !to64};
    cpu->seg[SEG_SS] = (struct cpu_segment){.selector = (uint16_t)((base + (to64 ? 40 : 24)) | 3),
                                            .limit = 0xffffffff, .type = 3, .s = 1, .dpl = 3,
                                            .present = 1, .g = 1, .db = 1};
    cpu->rip = to64 ? cpu->gpr[GPR_RDX] : cpu->gpr[GPR_RDX] & 0xffffffff;
    cpu->gpr[GPR_RSP] = to64 ? cpu->gpr[GPR_RCX] : cpu->gpr[GPR_RCX] & 0xffffffff;
    emu_update_mode(cpu);
}

/* SDM Vol. 3A Table 6-5: which pairs of exceptions make a double fault. */
enum { CLASS_BENIGN, CLASS_CONTRIBUTORY, CLASS_PAGE_FAULT, CLASS_DOUBLE_FAULT };

static int exception_class(int vector)
{
    switch (vector) {
    case EXC_DE:
    case EXC_TS:
    case EXC_NP:
    case EXC_SS:
    case EXC_GP:
        return CLASS_CONTRIBUTORY;
    case EXC_PF:
        return CLASS_PAGE_FAULT;
    case EXC_DF:
        return CLASS_DOUBLE_FAULT;
    default:
        return CLASS_BENIGN;
    }
}

static bool has_error_code(int vector)
{
    return vector == EXC_DF || (vector >= EXC_TS && vector <= EXC_PF) || vector == EXC_AC;
}

void emu_deliver_fault(struct emu_cpu *cpu, int vector, int error)
{
    if (cpu->delivering >= 0) {
        int first = cpu->delivering, second = exception_class(vector);

        if (first == CLASS_DOUBLE_FAULT) {
            cpu->triple_fault = true;
            return;
        }
        if ((first == CLASS_CONTRIBUTORY && second == CLASS_CONTRIBUTORY) ||
            (first == CLASS_PAGE_FAULT && second != CLASS_BENIGN)) {
            vector = EXC_DF;
            error = 0;
        }
    }
    cpu->delivering = exception_class(vector);
    cpu->stats.exceptions[vector & 31]++;
    emu_deliver(cpu, vector, has_error_code(vector) ? error : EXC_NO_ERROR, false);
    cpu->delivering = -1;
}

/* INT n, INT3, INTO: software interrupts, returning after the instruction. */
void emu_soft_interrupt(struct emu_cpu *cpu, int vector)
{
    cpu->stats.soft_ints++;
    cpu->db_soft = DB_SOFT_INT;
    cpu->delivering = CLASS_BENIGN;
    emu_deliver(cpu, vector, EXC_NO_ERROR, true);
    cpu->delivering = -1;
}

void emu_external_interrupt(struct emu_cpu *cpu, int vector)
{
    cpu->stats.interrupts[vector & 255]++;
    cpu->insn_rip = cpu->rip;
    cpu->halted = false;
    cpu->delivering = CLASS_BENIGN;
    emu_deliver(cpu, vector, EXC_NO_ERROR, false);
    cpu->delivering = -1;
}
