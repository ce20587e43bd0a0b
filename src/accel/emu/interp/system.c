/*
 * System instructions: control registers, descriptor tables, port I/O with
 * its permission checks, HLT/CLI/STI, far transfers, software
 * interrupts, IRET and SYSCALL/SYSRET dispatch. SDM Vol. 2 for each
 * instruction, Vol. 3A chapters 2-6 for the state they touch. MSRs are in
 * cpu/msr.c, CPUID in cpu/cpuid.c, the mode and the I/O permission check
 * in cpu/mode.c.
 */
#include <string.h>

#include "accel/emu/interp/uop.h"
#include "hw/irqchip/irqchip.h"
#include "vm/vm.h"

#define CR4_KNOWN                                                                                  \
    (CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE |      \
     CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_UMIP | CR4_FSGSBASE | CR4_PCIDE | CR4_OSXSAVE | CR4_SMEP |  \
     CR4_SMAP | CR4_PKE | CR4_PKS)

static void write_cr0(struct emu_cpu *cpu, uint64_t v)
{
    uint64_t old = cpu->cr0;

    if (v >> 32)
        emu_raise(cpu, EXC_GP, 0);
    v |= CR0_ET;
    if (((v & CR0_PG) && !(v & CR0_PE)) || ((v & CR0_NW) && !(v & CR0_CD)))
        emu_raise(cpu, EXC_GP, 0);
    if ((v & CR0_PG) && !(old & CR0_PG) && (cpu->efer & EFER_LME)) {
        if (!(cpu->cr4 & CR4_PAE) || cpu->seg[SEG_CS].l)
            emu_raise(cpu, EXC_GP, 0);
        cpu->efer |= EFER_LMA;
    }
    /* Paging stays on while PCIDs are on (SDM Vol. 2B, MOV CR). */
    if (!(v & CR0_PG) && (old & CR0_PG) && (cpu->cr4 & CR4_PCIDE))
        emu_raise(cpu, EXC_GP, 0);
    if (!(v & CR0_PG) && (old & CR0_PG) && emu_long_mode(cpu)) {
        if (cpu->code_bits == 64)
            emu_raise(cpu, EXC_GP, 0);
        cpu->efer &= ~EFER_LMA;
    }
    cpu->cr0 = v;
    if ((old ^ v) & (CR0_PG | CR0_WP | CR0_PE))
        emu_tlb_flush(cpu, true);
    emu_update_mode(cpu);
}

/* INVLPG (SDM Vol. 2A) checks neither the segment limit nor the address:
 * a non-canonical address, which no TLB entry can hold, is a no-op. */
static void invlpg(struct emu_cpu *cpu)
{
    int seg = emu_op_seg(cpu, 0);
    uint64_t lin = emu_op_address(cpu, 0);

    if (cpu->code_bits == 64) {
        if (seg == SEG_FS || seg == SEG_GS)
            lin += cpu->seg[seg].base;
        if (!emu_canonical(lin))
            return;
    } else {
        lin = (lin + cpu->seg[seg].base) & 0xffffffff;
    }
    emu_tlb_flush_page(cpu, lin);
}

/* INVPCID (SDM Vol. 2A; Vol. 3A §4.10.4.1): 0, one address in one PCID; 1,
 * one PCID; 2, everything; 3, everything but global translations. */
static void invpcid(struct emu_cpu *cpu)
{
    uint64_t type, off, pcid, lin;
    int seg;

    if (!cpu_model_has(cpu->vm->cfg.cpu_off, CPU_INVPCID))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    type = emu_op_read(cpu, 0);
    off = emu_op_address(cpu, 1);
    seg = emu_op_seg(cpu, 1);
    pcid = emu_read(cpu, seg, off, 8);
    lin = emu_read(cpu, seg, off + 8, 8);

    if (type > 3 || (pcid >> 12))
        emu_raise(cpu, EXC_GP, 0);
    if (type <= 1 && !(cpu->cr4 & CR4_PCIDE) && pcid)
        emu_raise(cpu, EXC_GP, 0);
    if (type == 0 && !emu_canonical(lin))
        emu_raise(cpu, EXC_GP, 0);
    if (type == 0)
        emu_tlb_flush_pcid_page(cpu, (uint16_t)pcid, lin);
    else if (type == 1)
        emu_tlb_flush_pcid(cpu, (uint16_t)pcid);
    else
        emu_tlb_flush(cpu, type == 2);
}

/* KVM's hypercall ABI (Linux Documentation/virt/kvm/x86/hypercalls.rst),
 * which CPUID 40000000H's signature promises: the number in RAX, arguments
 * in RBX, RCX, RDX and RSI, the result in RAX, nothing else changed.
 * KVM_HC_VAPIC_POLL_IRQ (a no-op) and KVM_HC_SEND_IPI answer, as in KVM,
 * which does not require the latter's feature bit (40000001H, not set: a
 * guest that follows it sends IPIs through the APIC, which costs the emu
 * engine no more); the others return -KVM_ENOSYS, and CPL > 0 gets
 * -KVM_EPERM, as from KVM. */
#define KVM_HC_VAPIC_POLL_IRQ 1
#define KVM_HC_SEND_IPI       10
#define KVM_ENOSYS            1000
#define KVM_EINVAL            22
#define KVM_EPERM             1

/* KVM_HC_SEND_IPI: the IPI of ICR value icr (physical destination, no
 * shorthand) to APIC IDs min + i for each bit i of the bitmap low:high (64
 * bits each in 64-bit mode, 32 otherwise). Returns how many took it. */
static uint64_t pv_send_ipi(struct emu_cpu *cpu, uint64_t low, uint64_t high, uint64_t min,
                            uint64_t icr)
{
    unsigned bits = cpu->code_bits == 64 ? 64 : 32;
    uint64_t n = 0;

    if (bits == 32)
        min &= 0xffffffff;

    if (icr & (1u << 11 | 3u << 18)) /* logical destination, shorthand */
        return (uint64_t)-KVM_EINVAL;
    for (unsigned i = 0; i < 2 * bits; i++) {
        uint64_t word = i < bits ? low : high, id = min + i;

        if (!((word >> (i % bits)) & 1) || id > 0xff)
            continue;
        n += (uint64_t)irqchip_msi(cpu->evm->chip, 0xfee00000u | id << 12, (uint32_t)icr & 0x7ff);
    }
    return n;
}

static void kvm_hypercall(struct emu_cpu *cpu)
{
    uint64_t nr = cpu->gpr[0], ret = (uint64_t)-KVM_ENOSYS;

    if (cpu->code_bits != 64)
        nr &= 0xffffffff;
    if (cpu->cpl != 0)
        ret = (uint64_t)-KVM_EPERM;
    else if (nr == KVM_HC_VAPIC_POLL_IRQ)
        ret = 0;
    else if (nr == KVM_HC_SEND_IPI)
        ret = pv_send_ipi(cpu, cpu->gpr[GPR_RBX], cpu->gpr[GPR_RCX], cpu->gpr[GPR_RDX],
                          cpu->gpr[GPR_RSI]);
    cpu->gpr[0] = cpu->code_bits == 64 ? ret : ret & 0xffffffff;
}

/* RDPKRU and WRPKRU (SDM Vol. 2B): #UD unless CR4.PKE, #GP(0) unless ECX
 * (and for WRPKRU EDX) is 0; at any CPL. */
static void pkru_access(struct emu_cpu *cpu, bool write)
{
    if (!(cpu->cr4 & CR4_PKE))
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    if ((uint32_t)cpu->gpr[GPR_RCX] || (write && (uint32_t)cpu->gpr[GPR_RDX]))
        emu_raise(cpu, EXC_GP, 0);
    if (write) {
        emu_set_pkru(cpu, (uint32_t)cpu->gpr[GPR_RAX]);
    } else {
        cpu->gpr[GPR_RAX] = cpu->pkru;
        cpu->gpr[GPR_RDX] = 0;
    }
}

/* CR4.UMIP: SGDT, SIDT, SLDT, SMSW and STR raise #GP(0) above CPL 0
 * (SDM Vol. 3A §2.5), virtual-8086 mode included. */
static void umip_check(struct emu_cpu *cpu)
{
    if ((cpu->cr4 & CR4_UMIP) && cpu->cpl > 0)
        emu_raise(cpu, EXC_GP, 0);
}

/* The CR4 bits of features the CPU model took away: reserved, as on a CPU
 * without them (SDM Vol. 3A §2.5). */
static uint64_t cr4_taken_away(const struct emu_cpu *cpu)
{
    static const struct {
        enum cpu_feature f;
        uint64_t bit;
    } bits[] = {{CPU_UMIP, CR4_UMIP}, {CPU_FSGSBASE, CR4_FSGSBASE}, {CPU_PCID, CR4_PCIDE},
                {CPU_SMEP, CR4_SMEP}, {CPU_SMAP, CR4_SMAP},         {CPU_PKU, CR4_PKE},
                {CPU_PKS, CR4_PKS}};
    uint64_t taken = 0;

    for (unsigned i = 0; i < sizeof(bits) / sizeof(bits[0]); i++)
        if (!cpu_model_has(cpu->vm->cfg.cpu_off, bits[i].f))
            taken |= bits[i].bit;
    return taken;
}

static void write_cr4(struct emu_cpu *cpu, uint64_t v)
{
    uint64_t old = cpu->cr4;

    if (v & (~CR4_KNOWN | cr4_taken_away(cpu)))
        emu_raise(cpu, EXC_GP, 0);
    if (emu_long_mode(cpu) && !(v & CR4_PAE))
        emu_raise(cpu, EXC_GP, 0);
    if ((v & CR4_PCIDE) && !(old & CR4_PCIDE) && ((cpu->cr3 & 0xfff) || !emu_long_mode(cpu)))
        emu_raise(cpu, EXC_GP, 0);
    cpu->cr4 = v;
    if ((old ^ v) &
        (CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PCIDE | CR4_PKE | CR4_PKS))
        emu_tlb_flush(cpu, true);
}

static void mov_cr(struct emu_cpu *cpu)
{
    bool to_cr = ZydisRegisterGetClass(cpu->decoded->ops[0].reg.value) == ZYDIS_REGCLASS_CONTROL;
    ZydisRegister cr = to_cr ? cpu->decoded->ops[0].reg.value : cpu->decoded->ops[1].reg.value;
    int n = cr - ZYDIS_REGISTER_CR0;
    uint64_t v;

    if (to_cr) {
        v = emu_reg_read(cpu, cpu->decoded->ops[1].reg.value);
        if (cpu->code_bits != 64)
            v &= 0xffffffff;
        switch (n) {
        case 0:
            write_cr0(cpu, v);
            break;
        case 2:
            cpu->cr2 = v;
            break;
        case 3:
            /* In long mode, bits from MAXPHYADDR up are reserved but for
             * bit 63 with PCIDE (SDM Vol. 3A §4.5.2, MOV CR): #GP(0). */
            if (emu_long_mode(cpu) &&
                ((cpu->cr4 & CR4_PCIDE) ? v & ~(1ULL << 63) : v) >> EMU_PHYS_BITS)
                emu_raise(cpu, EXC_GP, 0);
            /* With PCIDE, bit 63 asks to keep the new PCID's entries
             * (SDM Vol. 3A §4.10.4.1); it is not stored. */
            emu_tlb_load_cr3(cpu, v & ~(1ULL << 63), (cpu->cr4 & CR4_PCIDE) && (v >> 63));
            break;
        case 4:
            write_cr4(cpu, v);
            break;
        case 8:
            if (v & ~0xfULL)
                emu_raise(cpu, EXC_GP, 0);
            cpu->cr8 = v;
            lapic_set_cr8(cpu->evm->chip, cpu->index, v);
            break;
        default:
            emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
        }
        return;
    }
    switch (n) {
    case 0:
        v = cpu->cr0;
        break;
    case 2:
        v = cpu->cr2;
        break;
    case 3:
        v = cpu->cr3;
        break;
    case 4:
        v = cpu->cr4;
        break;
    case 8:
        v = lapic_get_cr8(cpu->evm->chip, cpu->index);
        break;
    default:
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    }
    emu_reg_write(cpu, cpu->decoded->ops[0].reg.value, v);
}

static void load_dtable(struct emu_cpu *cpu, struct cpu_dtable *t)
{
    int seg = emu_op_seg(cpu, 0);
    uint64_t addr = emu_op_address(cpu, 0);
    uint16_t limit = (uint16_t)emu_read(cpu, seg, addr, 2);
    uint64_t base = emu_read(cpu, seg, addr + 2, cpu->code_bits == 64 ? 8 : 4);

    if (cpu->code_bits != 64 && cpu->decoded->insn.operand_width == 16)
        base &= 0xffffff;
    /* SDM Vol. 2A, LGDT/LIDT: #GP(0) for a non-canonical base in 64-bit mode. */
    if (cpu->code_bits == 64 && !emu_canonical(base))
        emu_raise(cpu, EXC_GP, 0);
    t->limit = limit;
    t->base = base;
}

static void store_dtable(struct emu_cpu *cpu, const struct cpu_dtable *t)
{
    int seg = emu_op_seg(cpu, 0);
    uint64_t addr = emu_op_address(cpu, 0);

    emu_write(cpu, seg, addr, t->limit, 2);
    emu_write(cpu, seg, addr + 2, t->base, cpu->code_bits == 64 ? 8 : 4);
}

/* LTR / LLDT: system descriptors, 16 bytes in long mode. */
static void load_system_seg(struct emu_cpu *cpu, bool tr)
{
    uint16_t sel = (uint16_t)emu_op_read(cpu, 0);
    struct cpu_segment s;
    uint64_t d, base = tr ? cpu->gdt.base : 0;

    if ((sel & 0xfffc) == 0) {
        if (tr)
            emu_raise(cpu, EXC_GP, 0);
        cpu->ldt = (struct cpu_segment){.selector = sel, .unusable = 1};
        return;
    }
    if (sel & 4)
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    d = emu_read_descriptor(cpu, sel, EXC_GP);
    emu_seg_from_descriptor(&s, sel, d);
    if (s.s || (tr ? (s.type != 0x9 && s.type != 0x1) : s.type != 0x2))
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (!s.present)
        emu_raise(cpu, EXC_NP, sel & 0xfffc);
    if (emu_long_mode(cpu)) {
        if ((uint64_t)(sel & ~7u) + 15 > cpu->gdt.limit)
            emu_raise(cpu, EXC_GP, sel & 0xfffc);
        s.base |= emu_read_lin(cpu, cpu->gdt.base + (sel & ~7u) + 8, 4, ACC_READ, 0) << 32;
        /* SDM Vol. 2A, LLDT and LTR: a non-canonical base is #GP(selector). */
        if (!emu_canonical(s.base))
            emu_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    if (tr) {
        /* Mark the TSS busy in the GDT. */
        emu_write_lin(cpu, base + (sel & ~7u) + 5, ((d >> 40) & 0xff) | 0x2, 1, 0);
        s.type |= 0x2;
        cpu->tr = s;
    } else {
        cpu->ldt = s;
    }
}

/* Far JMP/CALL targets: a direct code segment (call gates and task switches
 * are not implemented yet and raise #GP). */
static void load_cs(struct emu_cpu *cpu, uint16_t sel, struct cpu_segment *cs)
{
    unsigned rpl = sel & 3;

    if ((sel & 0xfffc) == 0)
        emu_raise(cpu, EXC_GP, 0);
    emu_seg_from_descriptor(cs, sel, emu_read_descriptor(cpu, sel, EXC_GP));
    if (!cs->s || !(cs->type & 0x8))
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (cs->type & 0x4) {
        if (cs->dpl > cpu->cpl)
            emu_raise(cpu, EXC_GP, sel & 0xfffc);
    } else if (rpl > (unsigned)cpu->cpl || cs->dpl != cpu->cpl) {
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    }
    if (!cs->present)
        emu_raise(cpu, EXC_NP, sel & 0xfffc);
    if (emu_long_mode(cpu) && cs->l && cs->db)
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    cs->selector = (uint16_t)((sel & 0xfffc) | cpu->cpl);
    cs->type |= 1;
}

void emu_far_jump(struct emu_cpu *cpu, uint16_t sel, uint64_t offset, bool call, int opsize)
{
    unsigned size = (unsigned)opsize / 8;
    struct cpu_segment cs;

    if (!(cpu->cr0 & CR0_PE) || (cpu->rflags & RFLAGS_VM)) {
        if (call) {
            emu_push(cpu, cpu->seg[SEG_CS].selector, size);
            emu_push(cpu, cpu->next_rip, size);
        }
        emu_load_seg(cpu, SEG_CS, sel);
        cpu->rip = offset & emu_mask(size);
        emu_update_mode(cpu);
        return;
    }
    if ((sel & 0xfffc) != 0 && emu_far_system(cpu, sel, call))
        return;
    load_cs(cpu, sel, &cs);
    if (!(emu_long_mode(cpu) && cs.l) && offset > cs.limit)
        emu_raise(cpu, EXC_GP, 0);
    if (call) {
        emu_push(cpu, cpu->seg[SEG_CS].selector, size);
        emu_push(cpu, cpu->next_rip, size);
    }
    cpu->seg[SEG_CS] = cs;
    cpu->rip = size == 8 ? offset : offset & emu_mask(size);
    emu_update_mode(cpu);
}

void emu_far_return(struct emu_cpu *cpu, int opsize, uint16_t pop_bytes)
{
    unsigned size = (unsigned)opsize / 8, rpl, cpu_cpl_before;
    uint64_t ip = emu_pop(cpu, size), sp;
    uint16_t sel = (uint16_t)emu_pop(cpu, size);
    struct cpu_segment cs, ss;

    if (!(cpu->cr0 & CR0_PE) || (cpu->rflags & RFLAGS_VM)) {
        emu_load_seg(cpu, SEG_CS, sel);
        cpu->rip = ip & emu_mask(size);
        cpu->gpr[GPR_RSP] += pop_bytes;
        emu_update_mode(cpu);
        return;
    }
    rpl = sel & 3;
    cpu_cpl_before = (unsigned)cpu->cpl;
    if ((sel & 0xfffc) == 0 || rpl < (unsigned)cpu->cpl)
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    emu_seg_from_descriptor(&cs, sel, emu_read_descriptor(cpu, sel, EXC_GP));
    if (!cs.s || !(cs.type & 0x8) || ((cs.type & 0x4) ? cs.dpl > rpl : cs.dpl != rpl))
        emu_raise(cpu, EXC_GP, sel & 0xfffc);
    if (!cs.present)
        emu_raise(cpu, EXC_NP, sel & 0xfffc);
    cpu->gpr[GPR_RSP] += pop_bytes;
    if (rpl > (unsigned)cpu->cpl) {
        sp = emu_pop(cpu, size);
        uint16_t ss_sel = (uint16_t)emu_pop(cpu, size);

        emu_seg_from_descriptor(&ss, ss_sel, emu_read_descriptor(cpu, ss_sel, EXC_GP));
        if ((ss_sel & 3) != rpl || ss.dpl != rpl || !ss.s || (ss.type & 0x8) || !(ss.type & 2))
            emu_raise(cpu, EXC_GP, ss_sel & 0xfffc);
        cpu->seg[SEG_SS] = ss;
        cpu->gpr[GPR_RSP] = sp + pop_bytes;
    }
    cs.type |= 1;
    cpu->seg[SEG_CS] = cs;
    cpu->rip = size == 8 ? ip : ip & emu_mask(size);
    emu_update_mode(cpu);
    if (rpl > cpu_cpl_before)
        emu_null_inner_segments(cpu);
}

static void far_transfer(struct emu_cpu *cpu, bool call)
{
    const ZydisDecodedOperand *o = &cpu->decoded->ops[0];
    unsigned size = cpu->decoded->insn.operand_width / 8;
    uint64_t off;
    uint16_t sel;

    if (o->type == ZYDIS_OPERAND_TYPE_POINTER) {
        sel = o->ptr.segment;
        off = o->ptr.offset;
    } else {
        int seg = emu_op_seg(cpu, 0);
        uint64_t a = emu_op_address(cpu, 0);

        off = emu_read(cpu, seg, a, size);
        sel = (uint16_t)emu_read(cpu, seg, a + size, 2);
    }
    emu_far_jump(cpu, sel, off, call, cpu->decoded->insn.operand_width);
}

static void port_io(struct emu_cpu *cpu, bool in)
{
    int port_op = in ? 1 : 0, data_op = in ? 0 : 1;
    unsigned size = cpu->decoded->ops[data_op].size / 8;
    uint16_t port = (uint16_t)emu_op_read(cpu, port_op);

    emu_check_io(cpu, port, size);
    cpu->stats.pio++;
    if (in)
        emu_op_write(cpu, 0, bus_read(&cpu->vm->pio, port, size));
    else
        bus_write(&cpu->vm->pio, port, size, emu_op_read(cpu, 1));
}

static bool may_change_if(const struct emu_cpu *cpu)
{
    return !(cpu->cr0 & CR0_PE) || (uint64_t)cpu->cpl <= ((cpu->rflags & RFLAGS_IOPL) >> 12);
}

void uop_sti(struct emu_cpu *cpu, const struct emu_uop *u)
{
    (void)u;
    if (!may_change_if(cpu))
        emu_raise(cpu, EXC_GP, 0);
    cpu->rflags |= RFLAGS_IF;
    /* An interrupt that waited for IF: translated code looks at wake
     * alone at a block's entry (the block loop at emu_events_due). */
    if (cpu->irq_blocked)
        atomic_store_explicit(&cpu->wake, true, memory_order_relaxed);
}

bool emu_exec_system(struct emu_cpu *cpu)
{
    ZydisMnemonic m = cpu->decoded->insn.mnemonic;
    uint64_t v;

    switch (m) {
    case ZYDIS_MNEMONIC_MOV:
        if (ZydisRegisterGetClass(cpu->decoded->ops[0].reg.value) == ZYDIS_REGCLASS_DEBUG) {
            emu_mov_dr(cpu, cpu->decoded->ops[0].reg.value - ZYDIS_REGISTER_DR0, true,
                       cpu->decoded->ops[1].reg.value);
            return true;
        }
        if (ZydisRegisterGetClass(cpu->decoded->ops[1].reg.value) == ZYDIS_REGCLASS_DEBUG) {
            emu_mov_dr(cpu, cpu->decoded->ops[1].reg.value - ZYDIS_REGISTER_DR0, false,
                       cpu->decoded->ops[0].reg.value);
            return true;
        }
        mov_cr(cpu);
        return true;
    case ZYDIS_MNEMONIC_IN:
        port_io(cpu, true);
        return true;
    case ZYDIS_MNEMONIC_OUT:
        port_io(cpu, false);
        return true;
    case ZYDIS_MNEMONIC_HLT:
        cpu->halted = true;
        cpu->stats.halts++;
        return true;
    case ZYDIS_MNEMONIC_CLI:
        if (!may_change_if(cpu))
            emu_raise(cpu, EXC_GP, 0);
        cpu->rflags &= ~RFLAGS_IF;
        return true;
    case ZYDIS_MNEMONIC_STI:
        if (!may_change_if(cpu))
            emu_raise(cpu, EXC_GP, 0);
        if (!(cpu->rflags & RFLAGS_IF)) {
            cpu->intr_shadow = true;
            cpu->db_shadow = false; /* STI's shadow holds back no debug exception */
        }
        cpu->rflags |= RFLAGS_IF;
        return true;
    case ZYDIS_MNEMONIC_LGDT:
        load_dtable(cpu, &cpu->gdt);
        return true;
    case ZYDIS_MNEMONIC_LIDT:
        load_dtable(cpu, &cpu->idt);
        return true;
    case ZYDIS_MNEMONIC_SGDT:
        umip_check(cpu);
        store_dtable(cpu, &cpu->gdt);
        return true;
    case ZYDIS_MNEMONIC_SIDT:
        umip_check(cpu);
        store_dtable(cpu, &cpu->idt);
        return true;
    case ZYDIS_MNEMONIC_LTR:
    case ZYDIS_MNEMONIC_LLDT:
        if (!(cpu->cr0 & CR0_PE) || (cpu->rflags & RFLAGS_VM))
            emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
        load_system_seg(cpu, m == ZYDIS_MNEMONIC_LTR);
        return true;
    case ZYDIS_MNEMONIC_STR:
        umip_check(cpu);
        emu_op_write(cpu, 0, cpu->tr.selector);
        return true;
    case ZYDIS_MNEMONIC_SLDT:
        umip_check(cpu);
        emu_op_write(cpu, 0, cpu->ldt.selector);
        return true;
    case ZYDIS_MNEMONIC_SMSW:
        umip_check(cpu);
        emu_op_write(cpu, 0, cpu->cr0 & emu_mask(cpu->decoded->ops[0].size / 8));
        return true;
    case ZYDIS_MNEMONIC_LMSW:
        /* Sets PE but never clears it; only the low four bits change. */
        v = emu_op_read(cpu, 0) & 0xf;
        write_cr0(cpu, (cpu->cr0 & ~0xeULL) | v | (cpu->cr0 & CR0_PE));
        return true;
    case ZYDIS_MNEMONIC_CLTS:
        cpu->cr0 &= ~CR0_TS;
        return true;
    case ZYDIS_MNEMONIC_INVLPG:
        invlpg(cpu);
        return true;
    case ZYDIS_MNEMONIC_INVPCID:
        invpcid(cpu);
        return true;
    case ZYDIS_MNEMONIC_WBINVD:
    case ZYDIS_MNEMONIC_INVD:
        return true;
    case ZYDIS_MNEMONIC_RDPKRU:
    case ZYDIS_MNEMONIC_WRPKRU:
        pkru_access(cpu, m == ZYDIS_MNEMONIC_WRPKRU);
        return true;
    case ZYDIS_MNEMONIC_RDMSR:
        v = emu_rdmsr(cpu, (uint32_t)cpu->gpr[GPR_RCX]);
        cpu->gpr[0] = v & 0xffffffff;
        cpu->gpr[GPR_RDX] = v >> 32;
        return true;
    case ZYDIS_MNEMONIC_WRMSR:
        emu_wrmsr(cpu, (uint32_t)cpu->gpr[GPR_RCX],
                  (cpu->gpr[0] & 0xffffffff) | (cpu->gpr[GPR_RDX] << 32));
        return true;
    case ZYDIS_MNEMONIC_CPUID:
        emu_cpuid(cpu);
        return true;
    case ZYDIS_MNEMONIC_VMCALL:
        kvm_hypercall(cpu);
        return true;
    case ZYDIS_MNEMONIC_VMMCALL:
        /* AMD's hypercall instruction: #UD on this Intel CPU model, as on
         * Intel hardware (KVM may patch it; a guest must not rely on it). */
        emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
    case ZYDIS_MNEMONIC_RDPMC:
        /* CPUID leaf 0AH reports no architectural PMU (version 0), so
         * every counter ECX can name is invalid: #GP(0) (SDM Vol. 2B). */
        emu_raise(cpu, EXC_GP, 0);
    case ZYDIS_MNEMONIC_RDTSC:
    case ZYDIS_MNEMONIC_RDTSCP:
        emu_rdtsc(cpu, m == ZYDIS_MNEMONIC_RDTSCP);
        return true;
    case ZYDIS_MNEMONIC_SWAPGS:
        if (cpu->code_bits != 64)
            emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
        v = cpu->seg[SEG_GS].base;
        cpu->seg[SEG_GS].base = cpu->msr.kernel_gs_base;
        cpu->msr.kernel_gs_base = v;
        return true;
    case ZYDIS_MNEMONIC_CLAC:
        cpu->rflags &= ~RFLAGS_AC;
        return true;
    case ZYDIS_MNEMONIC_STAC:
        cpu->rflags |= RFLAGS_AC;
        return true;
    case ZYDIS_MNEMONIC_JMP:
        far_transfer(cpu, false);
        return true;
    case ZYDIS_MNEMONIC_CALL:
        far_transfer(cpu, true);
        return true;
    case ZYDIS_MNEMONIC_RET:
        emu_far_return(cpu, cpu->decoded->insn.operand_width,
                       cpu->decoded->insn.operand_count_visible ? (uint16_t)emu_op_read(cpu, 0)
                                                                : 0);
        return true;
    case ZYDIS_MNEMONIC_IRET:
    case ZYDIS_MNEMONIC_IRETD:
    case ZYDIS_MNEMONIC_IRETQ:
        emu_iret(cpu, cpu->decoded->insn.operand_width);
        return true;
    case ZYDIS_MNEMONIC_INT:
        if ((cpu->rflags & RFLAGS_VM) && ((cpu->rflags & RFLAGS_IOPL) >> 12) < 3)
            emu_raise(cpu, EXC_GP, 0);
        emu_soft_interrupt(cpu, (int)(emu_op_read(cpu, 0) & 0xff));
        return true;
    case ZYDIS_MNEMONIC_INT3:
        emu_soft_interrupt(cpu, EXC_BP);
        return true;
    case ZYDIS_MNEMONIC_INT1:
        emu_icebp(cpu);
        return true;
    case ZYDIS_MNEMONIC_INTO:
        if (cpu->code_bits == 64)
            emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
        if (cpu->rflags & RFLAGS_OF)
            emu_soft_interrupt(cpu, EXC_OF);
        return true;
    case ZYDIS_MNEMONIC_SYSCALL:
        emu_syscall(cpu);
        return true;
    case ZYDIS_MNEMONIC_SYSRET:
        emu_sysret(cpu, cpu->decoded->insn.operand_width);
        return true;
    default:
        return false;
    }
}

void emu_rdtsc(struct emu_cpu *cpu, bool aux)
{
    uint64_t v;

    if ((cpu->cr4 & CR4_TSD) && cpu->cpl != 0)
        emu_raise(cpu, EXC_GP, 0);
    v = emu_tsc(cpu);
    cpu->gpr[GPR_RAX] = v & 0xffffffff;
    cpu->gpr[GPR_RDX] = v >> 32;
    if (aux)
        cpu->gpr[GPR_RCX] = cpu->msr.tsc_aux;
}
