/*
 * Hardware task switching (32-bit TSS, SDM Vol. 3A §7.3) and call gates
 * (§5.8.3-5.8.6). Task switches come from a far JMP/CALL to a TSS or task
 * gate, an interrupt through a task gate, and IRET with EFLAGS.NT. 16-bit
 * (286) TSSs are refused with #TS.
 */
#include "accel/emu/cpu/cpu.h"

#define TYPE_TSS16_AVAIL 0x1
#define TYPE_TSS16_BUSY  0x3
#define TYPE_CALL_GATE16 0x4
#define TYPE_TASK_GATE   0x5
#define TYPE_TSS32_AVAIL 0x9
#define TYPE_TSS32_BUSY  0xb
#define TYPE_CALL_GATE32 0xc /* also the 64-bit call gate in long mode */

/* 32-bit TSS field offsets, SDM Vol. 3A Figure 7-2. */
#define TSS_LINK   0x00
#define TSS_CR3    0x1c
#define TSS_EIP    0x20
#define TSS_EFLAGS 0x24
#define TSS_EAX    0x28 /* then ECX EDX EBX ESP EBP ESI EDI */
#define TSS_ES     0x48 /* then CS SS DS FS GS */
#define TSS_LDT    0x60

static uint64_t gdt_entry_addr(const struct emu_cpu *cpu, uint16_t sel)
{
    return cpu->gdt.base + (sel & ~7u);
}

static void set_busy(struct emu_cpu *cpu, uint16_t sel, bool busy)
{
    uint64_t a = gdt_entry_addr(cpu, sel) + 5;
    uint8_t access = (uint8_t)emu_read_lin(cpu, a, 1, ACC_READ, 0);

    access = busy ? access | 0x2 : access & ~0x2;
    emu_write_lin(cpu, a, access, 1, 0);
}

static uint32_t tss_read(struct emu_cpu *cpu, uint64_t base, unsigned off, unsigned size)
{
    return (uint32_t)emu_read_lin(cpu, base + off, size, ACC_READ, 0);
}

static void tss_write(struct emu_cpu *cpu, uint64_t base, unsigned off, uint64_t v, unsigned size)
{
    emu_write_lin(cpu, base + off, v, size, 0);
}

/* Loads a segment register of the new task; CPL is already the new one. */
static void load_task_seg(struct emu_cpu *cpu, int seg, uint16_t sel)
{
    if (cpu->rflags & RFLAGS_VM) {
        emu_load_seg(cpu, seg, sel);
        return;
    }
    if (seg == SEG_CS) {
        struct cpu_segment cs;

        if ((sel & 0xfffc) == 0)
            emu_raise(cpu, EXC_TS, sel & 0xfffc);
        emu_seg_from_descriptor(&cs, sel, emu_read_descriptor(cpu, sel, EXC_TS));
        if (!cs.s || !(cs.type & 0x8) || ((cs.type & 0x4) ? cs.dpl > (sel & 3) : cs.dpl != (sel & 3)))
            emu_raise(cpu, EXC_TS, sel & 0xfffc);
        if (!cs.present)
            emu_raise(cpu, EXC_NP, sel & 0xfffc);
        cs.type |= 1;
        cpu->seg[SEG_CS] = cs;
        return;
    }
    emu_load_seg(cpu, seg, sel);
}

enum switch_reason { SWITCH_JMP, SWITCH_CALL, SWITCH_IRET, SWITCH_INT };

/* Switches to the task whose TSS selector is sel; the return point saved in
 * the old TSS is cpu->rip. */
static void task_switch(struct emu_cpu *cpu, uint16_t sel, enum switch_reason why)
{
    struct cpu_segment tss;
    uint64_t d, old = cpu->tr.base, nb;
    uint32_t eflags, regs[8];
    uint16_t sels[6], ldt;

    if (sel & 4)
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    d = emu_read_descriptor(cpu, sel, EXC_GP);
    emu_seg_from_descriptor(&tss, sel, d);
    if (tss.s || (tss.type != TYPE_TSS32_AVAIL && tss.type != TYPE_TSS32_BUSY))
        emu_raise(cpu, tss.type == TYPE_TSS16_AVAIL || tss.type == TYPE_TSS16_BUSY ? EXC_TS : EXC_GP,
                  sel & 0xfffc);
    if ((why == SWITCH_IRET) != (tss.type == TYPE_TSS32_BUSY))
        emu_raise(cpu, why == SWITCH_IRET ? EXC_TS : EXC_GP, sel & 0xfffc);
    if (!tss.present)
        emu_raise(cpu, EXC_NP, sel & 0xfffc);
    if (tss.limit < 0x67)
        emu_raise(cpu, EXC_TS, sel & 0xfffc);
    nb = tss.base;

    /* Read the whole new state first: a fault here leaves the old task intact. */
    eflags = tss_read(cpu, nb, TSS_EFLAGS, 4);
    for (int i = 0; i < 8; i++)
        regs[i] = tss_read(cpu, nb, TSS_EAX + 4 * (unsigned)i, 4);
    for (int i = 0; i < 6; i++)
        sels[i] = (uint16_t)tss_read(cpu, nb, TSS_ES + 4 * (unsigned)i, 2);
    ldt = (uint16_t)tss_read(cpu, nb, TSS_LDT, 2);

    /* Save the old task. */
    {
        uint64_t fl = cpu->rflags & 0xffffffff;

        if (why == SWITCH_JMP || why == SWITCH_IRET)
            set_busy(cpu, cpu->tr.selector, false);
        if (why == SWITCH_IRET)
            fl &= ~RFLAGS_NT;
        tss_write(cpu, old, TSS_EIP, cpu->rip, 4);
        tss_write(cpu, old, TSS_EFLAGS, fl, 4);
        for (int i = 0; i < 8; i++)
            tss_write(cpu, old, TSS_EAX + 4 * (unsigned)i, cpu->gpr[i], 4);
        for (int i = 0; i < 6; i++)
            tss_write(cpu, old, TSS_ES + 4 * (unsigned)i, cpu->seg[i].selector, 2);
    }
    if (why == SWITCH_CALL || why == SWITCH_INT) {
        eflags |= RFLAGS_NT;
        tss_write(cpu, nb, TSS_LINK, cpu->tr.selector, 2);
    }
    if (why != SWITCH_IRET)
        set_busy(cpu, sel, true);
    tss.type = TYPE_TSS32_BUSY;
    cpu->tr = tss;

    /* Load the new task; faults from here on belong to it. */
    if (cpu->cr0 & CR0_PG) {
        cpu->cr3 = tss_read(cpu, nb, TSS_CR3, 4);
        emu_tlb_flush(cpu, false);
    }
    cpu->rip = tss_read(cpu, nb, TSS_EIP, 4);
    cpu->rflags = (eflags & 0x3f7fd5) | RFLAGS_FIXED;
    for (int i = 0; i < 8; i++)
        cpu->gpr[i] = regs[i];
    cpu->cr0 |= CR0_TS;
    /* Selectors first without checks, so the CPL is the new CS's RPL. */
    for (int i = 0; i < 6; i++)
        cpu->seg[i].selector = sels[i];
    cpu->seg[SEG_SS].dpl = (cpu->rflags & RFLAGS_VM) ? 3 : sels[SEG_CS] & 3;
    emu_update_mode(cpu);
    if ((ldt & 0xfffc) == 0) {
        cpu->ldt = (struct cpu_segment){.selector = ldt, .unusable = 1};
    } else {
        struct cpu_segment l;

        if (ldt & 4)
            emu_raise(cpu, EXC_TS, ldt & 0xfffc);
        emu_seg_from_descriptor(&l, ldt, emu_read_descriptor(cpu, ldt, EXC_TS));
        if (l.s || l.type != 0x2)
            emu_raise(cpu, EXC_TS, ldt & 0xfffc);
        if (!l.present)
            emu_raise(cpu, EXC_NP, ldt & 0xfffc);
        cpu->ldt = l;
    }
    load_task_seg(cpu, SEG_CS, sels[SEG_CS]);
    load_task_seg(cpu, SEG_SS, sels[SEG_SS]);
    load_task_seg(cpu, SEG_DS, sels[SEG_DS]);
    load_task_seg(cpu, SEG_ES, sels[SEG_ES]);
    load_task_seg(cpu, SEG_FS, sels[SEG_FS]);
    load_task_seg(cpu, SEG_GS, sels[SEG_GS]);
    emu_update_mode(cpu);
}

void emu_task_return(struct emu_cpu *cpu)
{
    uint16_t link = (uint16_t)tss_read(cpu, cpu->tr.base, TSS_LINK, 2);

    task_switch(cpu, link, SWITCH_IRET);
}

void emu_task_gate_interrupt(struct emu_cpu *cpu, uint16_t tss_sel, int error)
{
    task_switch(cpu, tss_sel, SWITCH_INT);
    if (error != EXC_NO_ERROR)
        emu_push(cpu, (uint32_t)error, cpu->seg[SEG_CS].db ? 4 : 2);
}

/* Through a call gate: same privilege, or (CALL only) to an inner level with
 * a stack from the TSS and the gate's parameters copied (32-bit gates). */
static void call_gate(struct emu_cpu *cpu, uint16_t gate_sel, uint64_t lo, bool call)
{
    bool lm = emu_long_mode(cpu);
    unsigned size = lm ? 8 : (((lo >> 40) & 0xf) == TYPE_CALL_GATE16 ? 2 : 4);
    uint16_t sel = (uint16_t)(lo >> 16);
    uint64_t off = (lo & 0xffff) | ((lo >> 32) & 0xffff0000ULL);
    unsigned params = lm ? 0 : (unsigned)((lo >> 32) & 0x1f);
    struct cpu_segment cs, ss;
    uint64_t ret_ip = cpu->next_rip;
    uint16_t ret_cs = cpu->seg[SEG_CS].selector;

    if (lm) {
        uint64_t hi = emu_read_lin(cpu, (gate_sel & 4 ? cpu->ldt.base : cpu->gdt.base) +
                                            (gate_sel & ~7u) + 8, 8, ACC_READ, 0);

        if ((hi >> 40 & 0x1f) != 0)
            emu_raise(cpu, EXC_GP, gate_sel & 0xfffc);
        off |= hi << 32;
    } else if (size == 2) {
        off &= 0xffff;
    }
    if ((sel & 0xfffc) == 0)
        emu_raise(cpu, EXC_GP, 0);
    emu_seg_from_descriptor(&cs, sel, emu_read_descriptor(cpu, sel, EXC_GP));
    if (!cs.s || !(cs.type & 0x8) || cs.dpl > cpu->cpl || (lm && (!cs.l || cs.db)))
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (!cs.present)
        emu_raise(cpu, EXC_NP, sel & 0xfffc);
    if (!(cs.type & 0x4) && cs.dpl < cpu->cpl) {
        uint64_t sp, old_sp = cpu->gpr[GPR_RSP];
        uint16_t new_ss, old_ss = cpu->seg[SEG_SS].selector;
        struct cpu_segment old_sseg = cpu->seg[SEG_SS];
        uint32_t args[32];

        if (!call)
            emu_raise(cpu, EXC_GP, sel & 0xfffc);
        /* Inner stack from the TSS (SDM §5.8.5). */
        if (lm) {
            sp = emu_read_lin(cpu, cpu->tr.base + 4 + 8 * (uint64_t)cs.dpl, 8, ACC_READ, 0);
            new_ss = cs.dpl;
            ss = (struct cpu_segment){.selector = new_ss, .unusable = 1, .dpl = cs.dpl};
        } else {
            sp = emu_read_lin(cpu, cpu->tr.base + 4 + 8 * (uint64_t)cs.dpl, 4, ACC_READ, 0);
            new_ss = (uint16_t)emu_read_lin(cpu, cpu->tr.base + 8 + 8 * (uint64_t)cs.dpl, 2,
                                            ACC_READ, 0);
            emu_seg_from_descriptor(&ss, new_ss, emu_read_descriptor(cpu, new_ss, EXC_TS));
            if ((new_ss & 3) != cs.dpl || ss.dpl != cs.dpl || !ss.s || (ss.type & 0x8) ||
                !(ss.type & 0x2))
                emu_raise(cpu, EXC_TS, new_ss & 0xfffc);
            if (!ss.present)
                emu_raise(cpu, EXC_SS, new_ss & 0xfffc);
        }
        for (unsigned i = 0; i < params; i++)
            args[i] = (uint32_t)emu_read(cpu, SEG_SS, (old_sp + i * size) &
                                                        (old_sseg.db ? 0xffffffff : 0xffff), size);
        cpu->seg[SEG_SS] = ss;
        cpu->seg[SEG_SS].selector = new_ss;
        cpu->gpr[GPR_RSP] = sp;
        emu_update_mode(cpu);
        emu_push(cpu, old_ss, size);
        emu_push(cpu, old_sp, size);
        for (unsigned i = params; i > 0; i--)
            emu_push(cpu, args[i - 1], size);
    } else if (!(cs.type & 0x4) && cs.dpl != cpu->cpl) {
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    if (call) {
        emu_push(cpu, ret_cs, size);
        emu_push(cpu, ret_ip, size);
    }
    cs.selector = (uint16_t)((sel & 0xfffc) | cpu->cpl);
    cs.type |= 1;
    cpu->seg[SEG_CS] = cs;
    cpu->rip = off;
    emu_update_mode(cpu);
}

bool emu_far_system(struct emu_cpu *cpu, uint16_t sel, bool call)
{
    uint64_t d = emu_read_descriptor(cpu, sel, EXC_GP);
    unsigned type = (d >> 40) & 0xf, dpl = (d >> 45) & 3;

    if ((d >> 44) & 1)
        return false; /* a code segment: the caller's direct transfer */
    if (dpl < (unsigned)cpu->cpl || dpl < (sel & 3u))
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (!((d >> 47) & 1))
        emu_raise(cpu, EXC_NP, sel & 0xfffc);
    switch (type) {
    case TYPE_CALL_GATE32:
    case TYPE_CALL_GATE16:
        if (emu_long_mode(cpu) && type != TYPE_CALL_GATE32)
            emu_raise(cpu, EXC_GP, sel & 0xfffc);
        call_gate(cpu, sel, d, call);
        return true;
    case TYPE_TASK_GATE:
        if (emu_long_mode(cpu))
            emu_raise(cpu, EXC_GP, sel & 0xfffc);
        cpu->rip = cpu->next_rip;
        task_switch(cpu, (uint16_t)(d >> 16), call ? SWITCH_CALL : SWITCH_JMP);
        return true;
    case TYPE_TSS32_AVAIL:
        if (emu_long_mode(cpu))
            emu_raise(cpu, EXC_GP, sel & 0xfffc);
        cpu->rip = cpu->next_rip;
        task_switch(cpu, sel, call ? SWITCH_CALL : SWITCH_JMP);
        return true;
    default:
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    }
}
