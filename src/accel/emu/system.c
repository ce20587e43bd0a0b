/*
 * System instructions: control registers, descriptor tables, MSRs, CPUID,
 * port I/O with its permission checks, HLT/CLI/STI, far transfers, software
 * interrupts, IRET and SYSCALL/SYSRET dispatch. SDM Vol. 2 for each
 * instruction, Vol. 3A chapters 2-6 for the state they touch.
 */
#include <string.h>

#include "accel/emu/cpu.h"
#include "hw/irqchip/irqchip.h"
#include "vm/vm.h"

/* MSR numbers, SDM Vol. 4. */
#define MSR_IA32_TSC          0x10
#define MSR_IA32_APIC_BASE    0x1b
#define MSR_IA32_SPEC_CTRL    0x48
#define MSR_IA32_SYSENTER_CS  0x174
#define MSR_IA32_SYSENTER_ESP 0x175
#define MSR_IA32_SYSENTER_EIP 0x176
#define MSR_IA32_MISC_ENABLE  0x1a0
#define MSR_IA32_PAT          0x277
#define MSR_KVM_WALL_CLOCK     0x11
#define MSR_KVM_SYSTEM_TIME    0x12
#define MSR_KVM_WALL_CLOCK_NEW  0x4b564d00
#define MSR_KVM_SYSTEM_TIME_NEW 0x4b564d01
#define MSR_IA32_UCODE_REV    0x8b
#define MSR_MTRRCAP           0xfe
#define MSR_IA32_MCG_CAP      0x179
#define MSR_IA32_MCG_STATUS   0x17a
#define MSR_MTRR_PHYS_FIRST   0x200 /* base/mask pairs up to 0x20f */
#define MSR_MTRR_PHYS_LAST    0x20f
#define MSR_MTRR_DEF_TYPE     0x2ff
#define MSR_EFER              0xc0000080
#define MSR_STAR              0xc0000081
#define MSR_LSTAR             0xc0000082
#define MSR_CSTAR             0xc0000083
#define MSR_SFMASK            0xc0000084
#define MSR_FS_BASE           0xc0000100
#define MSR_GS_BASE           0xc0000101
#define MSR_KERNEL_GS_BASE    0xc0000102
#define MSR_TSC_AUX           0xc0000103

#define CR4_KNOWN                                                                                  \
    (CR4_VME | CR4_PVI | CR4_TSD | CR4_DE | CR4_PSE | CR4_PAE | CR4_MCE | CR4_PGE | CR4_PCE |      \
     CR4_OSFXSR | CR4_OSXMMEXCPT | CR4_UMIP | CR4_FSGSBASE | CR4_PCIDE | CR4_OSXSAVE | CR4_SMEP |   \
     CR4_SMAP)

void emu_update_mode(struct emu_cpu *cpu)
{
    ZydisMachineMode mode;
    ZydisStackWidth stack;
    const struct cpu_segment *cs = &cpu->seg[SEG_CS];

    if (!(cpu->cr0 & CR0_PE)) {
        cpu->cpl = 0;
        cpu->code_bits = cs->db ? 32 : 16;
        mode = ZYDIS_MACHINE_MODE_REAL_16;
    } else if (cpu->rflags & RFLAGS_VM) {
        cpu->cpl = 3;
        cpu->code_bits = 16;
        mode = ZYDIS_MACHINE_MODE_REAL_16;
    } else {
        /* The CPL is SS.DPL (as KVM defines it); every CS change updates SS's too. */
        cpu->cpl = cpu->seg[SEG_SS].dpl;
        if (emu_long_mode(cpu) && cs->l) {
            cpu->code_bits = 64;
            mode = ZYDIS_MACHINE_MODE_LONG_64;
        } else if (emu_long_mode(cpu)) {
            cpu->code_bits = cs->db ? 32 : 16;
            mode = cs->db ? ZYDIS_MACHINE_MODE_LONG_COMPAT_32 : ZYDIS_MACHINE_MODE_LONG_COMPAT_16;
        } else {
            cpu->code_bits = cs->db ? 32 : 16;
            mode = cs->db ? ZYDIS_MACHINE_MODE_LEGACY_32 : ZYDIS_MACHINE_MODE_LEGACY_16;
        }
    }
    if (mode == ZYDIS_MACHINE_MODE_REAL_16 && cpu->code_bits == 32)
        mode = ZYDIS_MACHINE_MODE_LEGACY_32; /* "unreal" 32-bit code segment */
    stack = cpu->code_bits == 64
                ? ZYDIS_STACK_WIDTH_64
                : (cpu->seg[SEG_SS].db ? ZYDIS_STACK_WIDTH_32 : ZYDIS_STACK_WIDTH_16);
    ZydisDecoderInit(&cpu->decoder, mode, stack);
}

/* I/O permission: CPL <= IOPL, or the TSS bitmap allows every byte (SDM Vol. 1 §19.5). */
void emu_check_io(struct emu_cpu *cpu, uint16_t port, unsigned size)
{
    uint64_t iopl = (cpu->rflags & RFLAGS_IOPL) >> 12, base, bits;

    if (!(cpu->cr0 & CR0_PE) || (!(cpu->rflags & RFLAGS_VM) && (uint64_t)cpu->cpl <= iopl))
        return;
    if (cpu->tr.limit < 0x67)
        emu_raise(cpu, EXC_GP, 0);
    base = emu_read_lin(cpu, cpu->tr.base + 0x66, 2, ACC_READ, 0);
    if (base + port / 8 + 1 > cpu->tr.limit)
        emu_raise(cpu, EXC_GP, 0);
    bits = emu_read_lin(cpu, cpu->tr.base + base + port / 8, 2, ACC_READ, 0);
    if ((bits >> (port & 7)) & ((1u << size) - 1))
        emu_raise(cpu, EXC_GP, 0);
}

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

static void write_cr4(struct emu_cpu *cpu, uint64_t v)
{
    uint64_t old = cpu->cr4;

    if (v & ~CR4_KNOWN)
        emu_raise(cpu, EXC_GP, 0);
    if (emu_long_mode(cpu) && !(v & CR4_PAE))
        emu_raise(cpu, EXC_GP, 0);
    if ((v & CR4_PCIDE) && !(old & CR4_PCIDE) && ((cpu->cr3 & 0xfff) || !emu_long_mode(cpu)))
        emu_raise(cpu, EXC_GP, 0);
    cpu->cr4 = v;
    if ((old ^ v) & (CR4_PGE | CR4_PAE | CR4_PSE | CR4_SMEP | CR4_SMAP | CR4_PCIDE))
        emu_tlb_flush(cpu, true);
}

static void mov_cr(struct emu_cpu *cpu)
{
    bool to_cr = ZydisRegisterGetClass(cpu->ops[0].reg.value) == ZYDIS_REGCLASS_CONTROL;
    ZydisRegister cr = to_cr ? cpu->ops[0].reg.value : cpu->ops[1].reg.value;
    int n = cr - ZYDIS_REGISTER_CR0;
    uint64_t v;

    if (to_cr) {
        v = emu_reg_read(cpu, cpu->ops[1].reg.value);
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
            /* With PCIDE, bit 63 asks to keep the TLB (SDM §4.10.4.1). */
            cpu->cr3 = v & ~(1ULL << 63);
            if (!((cpu->cr4 & CR4_PCIDE) && (v >> 63)))
                emu_tlb_flush(cpu, false);
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
    emu_reg_write(cpu, cpu->ops[0].reg.value, v);
}

/* x2APIC registers and IA32_TSC_DEADLINE belong to the local APIC. */
static bool is_lapic_msr(uint32_t index)
{
    return index == 0x6e0 || (index >= 0x800 && index <= 0x8ff);
}

/* The fixed-range MTRRs (SDM Vol. 3A §11.11.2.2), in struct emu_msrs order. */
static const uint32_t mtrr_fixed_msrs[11] = {0x250, 0x258, 0x259, 0x268, 0x269, 0x26a,
                                             0x26b, 0x26c, 0x26d, 0x26e, 0x26f};

/* The MTRR MSR index's slot, or NULL: these are plain storage. */
static uint64_t *mtrr_slot(struct emu_cpu *cpu, uint32_t index)
{
    if (index >= MSR_MTRR_PHYS_FIRST && index <= MSR_MTRR_PHYS_LAST)
        return &cpu->msr.mtrr_var[index - MSR_MTRR_PHYS_FIRST];
    if (index == MSR_MTRR_DEF_TYPE)
        return &cpu->msr.mtrr_def_type;
    for (int i = 0; i < 11; i++)
        if (mtrr_fixed_msrs[i] == index)
            return &cpu->msr.mtrr_fixed[i];
    return NULL;
}

uint64_t emu_rdmsr(struct emu_cpu *cpu, uint32_t index)
{
    uint64_t *mtrr = mtrr_slot(cpu, index);

    if (mtrr)
        return *mtrr;
    switch (index) {
    case MSR_IA32_UCODE_REV:
        return 0;
    case MSR_KVM_WALL_CLOCK:
    case MSR_KVM_WALL_CLOCK_NEW:
        return cpu->msr.kvm_wall_clock;
    case MSR_KVM_SYSTEM_TIME:
    case MSR_KVM_SYSTEM_TIME_NEW:
        return cpu->msr.kvm_system_time;
    case MSR_MTRRCAP:
        return 0x508; /* 8 variable ranges, fixed ranges, write-combining */
    case MSR_IA32_MCG_CAP:
        return 0; /* no machine-check banks */
    case MSR_IA32_MCG_STATUS:
        return cpu->msr.mcg_status;
    case MSR_IA32_TSC:
        return emu_tsc(cpu);
    case MSR_IA32_APIC_BASE:
        return cpu->msr.apic_base;
    case MSR_IA32_SPEC_CTRL:
        return cpu->msr.spec_ctrl;
    case MSR_IA32_SYSENTER_CS:
        return cpu->msr.sysenter_cs;
    case MSR_IA32_SYSENTER_ESP:
        return cpu->msr.sysenter_esp;
    case MSR_IA32_SYSENTER_EIP:
        return cpu->msr.sysenter_eip;
    case MSR_IA32_MISC_ENABLE:
        return cpu->msr.misc_enable;
    case MSR_IA32_PAT:
        return cpu->msr.pat;
    case MSR_EFER:
        return cpu->efer;
    case MSR_STAR:
        return cpu->msr.star;
    case MSR_LSTAR:
        return cpu->msr.lstar;
    case MSR_CSTAR:
        return cpu->msr.cstar;
    case MSR_SFMASK:
        return cpu->msr.sfmask;
    case MSR_FS_BASE:
        return cpu->seg[SEG_FS].base;
    case MSR_GS_BASE:
        return cpu->seg[SEG_GS].base;
    case MSR_KERNEL_GS_BASE:
        return cpu->msr.kernel_gs_base;
    case MSR_TSC_AUX:
        return cpu->msr.tsc_aux;
    default:
        if (is_lapic_msr(index)) {
            uint64_t v;

            if (lapic_msr_read(cpu->evm->chip, cpu->index, index, &v) == 0)
                return v;
        }
        emu_raise(cpu, EXC_GP, 0);
    }
}

void emu_wrmsr(struct emu_cpu *cpu, uint32_t index, uint64_t v)
{
    uint64_t *mtrr = mtrr_slot(cpu, index);

    if (mtrr) {
        *mtrr = v;
        return;
    }
    switch (index) {
    case MSR_IA32_UCODE_REV:
        return; /* writing 0 before CPUID asks for the revision: accepted */
    case MSR_KVM_WALL_CLOCK:
    case MSR_KVM_WALL_CLOCK_NEW:
        cpu->msr.kvm_wall_clock = v;
        emu_kvmclock_wall(cpu, v);
        return;
    case MSR_KVM_SYSTEM_TIME:
    case MSR_KVM_SYSTEM_TIME_NEW:
        cpu->msr.kvm_system_time = v;
        emu_kvmclock_publish(cpu);
        return;
    case MSR_IA32_MCG_STATUS:
        cpu->msr.mcg_status = v;
        return;
    case MSR_IA32_TSC:
        cpu->msr.tsc_offset = v - emu_now_ns();
        emu_kvmclock_publish(cpu);
        return;
    case MSR_IA32_APIC_BASE:
        /* Bits 8 (BSP, read-only), 10 (x2APIC), 11 (enable), 12-39 the base. */
        if (v & ~0xfffffff900ULL)
            emu_raise(cpu, EXC_GP, 0);
        cpu->msr.apic_base = (v & ~0x100ULL) | (cpu->msr.apic_base & 0x100);
        lapic_set_base(cpu->evm->chip, cpu->index, cpu->msr.apic_base);
        return;
    case MSR_IA32_SPEC_CTRL:
        cpu->msr.spec_ctrl = v;
        return;
    case MSR_IA32_SYSENTER_CS:
        cpu->msr.sysenter_cs = v;
        return;
    case MSR_IA32_SYSENTER_ESP:
        cpu->msr.sysenter_esp = v;
        return;
    case MSR_IA32_SYSENTER_EIP:
        cpu->msr.sysenter_eip = v;
        return;
    case MSR_IA32_MISC_ENABLE:
        cpu->msr.misc_enable = v;
        return;
    case MSR_IA32_PAT:
        cpu->msr.pat = v;
        return;
    case MSR_EFER:
        /* LMA is read-only; LME may not change while paging is on. */
        if (v & ~(EFER_SCE | EFER_LME | EFER_LMA | EFER_NXE))
            emu_raise(cpu, EXC_GP, 0);
        if ((cpu->cr0 & CR0_PG) && ((v ^ cpu->efer) & EFER_LME))
            emu_raise(cpu, EXC_GP, 0);
        cpu->efer = (v & ~EFER_LMA) | (cpu->efer & EFER_LMA);
        emu_tlb_flush(cpu, true);
        return;
    case MSR_STAR:
        cpu->msr.star = v;
        return;
    case MSR_LSTAR:
    case MSR_CSTAR:
    case MSR_FS_BASE:
    case MSR_GS_BASE:
    case MSR_KERNEL_GS_BASE:
        if (!emu_canonical(v))
            emu_raise(cpu, EXC_GP, 0);
        if (index == MSR_LSTAR)
            cpu->msr.lstar = v;
        else if (index == MSR_CSTAR)
            cpu->msr.cstar = v;
        else if (index == MSR_FS_BASE)
            cpu->seg[SEG_FS].base = v;
        else if (index == MSR_GS_BASE)
            cpu->seg[SEG_GS].base = v;
        else
            cpu->msr.kernel_gs_base = v;
        return;
    case MSR_SFMASK:
        cpu->msr.sfmask = v & 0xffffffff;
        return;
    case MSR_TSC_AUX:
        cpu->msr.tsc_aux = v & 0xffffffff;
        return;
    default:
        if (is_lapic_msr(index) && lapic_msr_write(cpu->evm->chip, cpu->index, index, v) == 0)
            return;
        emu_raise(cpu, EXC_GP, 0);
    }
}

/*
 * CPUID advertises what this CPU implements and nothing more: integer
 * instructions, paging with PSE/PAE/PGE/NX/SMEP/SMAP, long mode, SYSCALL,
 * SYSENTER, CMPXCHG8B/16B, CMOV, TSC (invariant, 1 GHz), MSRs with MTRRs
 * and PAT, the local APIC (x2APIC, TSC-deadline), RDRAND/RDSEED, RDPID,
 * FSGSBASE, and KVM's signature leaves; fpu.c adds x87, MMX, SSE to SSE4.2,
 * AES, PCLMULQDQ, FXSR and XSAVE (leaf 0DH).
 */
void emu_cpuid(struct emu_cpu *cpu)
{
    uint32_t leaf = (uint32_t)cpu->gpr[0], a = 0, b = 0, c = 0, d = 0;

    switch (leaf) {
    case 0:
        a = 0x16;
        b = 0x36387876; /* "vx86vx86 CPU" */
        d = 0x36387876;
        c = 0x55504320;
        break;
    case 1:
        a = 0x000006f1; /* family 6 */
        /* APIC ID, one logical processor, CLFLUSH line of 8 quadwords */
        b = (uint32_t)cpu->index << 24 | 1u << 16 | 8u << 8;
        /* CX16 x2APIC MOVBE POPCNT TSC-deadline RDRAND hypervisor */
        c = 1u << 13 | 1u << 21 | 1u << 22 | 1u << 23 | 1u << 24 | 1u << 30 | 1u << 31;
        /* PSE TSC MSR PAE CX8 APIC SEP MTRR PGE CMOV PAT CLFSH */
        d = 1u << 3 | 1u << 4 | 1u << 5 | 1u << 6 | 1u << 8 | 1u << 9 | 1u << 11 | 1u << 12 |
            1u << 13 | 1u << 15 | 1u << 16 | 1u << 19;
        break;
    case 7:
        if ((uint32_t)cpu->gpr[GPR_RCX] == 0) {
            /* FSGSBASE SMEP ERMS RDSEED SMAP CLFLUSHOPT CLWB; RDPID */
            b = 1u << 0 | 1u << 7 | 1u << 9 | 1u << 18 | 1u << 20 | 1u << 23 | 1u << 24;
            c = 1u << 22;
        }
        break;
    case 0x15:
        /* TSC = crystal * EBX / EAX: the 1 GHz TSC of events.c. */
        a = 1;
        b = 1;
        c = (uint32_t)EMU_TSC_HZ;
        break;
    case 0x16:
        a = b = c = (uint32_t)(EMU_TSC_HZ / 1000000); /* base, max and bus MHz */
        break;
    case 0x40000000:
        /* KVM's signature, so guests look for its paravirtual leaves. */
        a = 0x40000001;
        b = 0x4b4d564b; /* "KVMKVMKVM\0\0\0" */
        c = 0x564b4d56;
        d = 0x0000004d;
        break;
    case 0x40000001:
        /* KVM_FEATURE_CLOCKSOURCE, _CLOCKSOURCE2, _CLOCKSOURCE_STABLE_BIT */
        a = 1u << 0 | 1u << 3 | 1u << 24;
        break;
    case 0x80000000:
        a = 0x80000008;
        break;
    case 0x80000001:
        c = 1u << 0 | 1u << 5;                       /* LAHF/SAHF in 64-bit mode, LZCNT */
        d = 1u << 11 | 1u << 20 | 1u << 27 | 1u << 29; /* SYSCALL NX RDTSCP LM */
        break;
    case 0x80000007:
        d = 1u << 8; /* invariant TSC */
        break;
    case 0x80000008:
        a = 0x3028; /* 40 physical, 48 linear address bits */
        break;
    default:
        break;
    }
    emu_fpu_cpuid(cpu, leaf, (uint32_t)cpu->gpr[GPR_RCX], &a, &b, &c, &d);
    cpu->gpr[0] = a, cpu->gpr[GPR_RBX] = b, cpu->gpr[GPR_RCX] = c, cpu->gpr[GPR_RDX] = d;
}

static void load_dtable(struct emu_cpu *cpu, struct cpu_dtable *t)
{
    int seg = emu_op_seg(cpu, 0);
    uint64_t addr = emu_op_address(cpu, 0);
    uint16_t limit = (uint16_t)emu_read(cpu, seg, addr, 2);
    uint64_t base = emu_read(cpu, seg, addr + 2, cpu->code_bits == 64 ? 8 : 4);

    if (cpu->code_bits != 64 && cpu->insn->operand_width == 16)
        base &= 0xffffff;
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
    const ZydisDecodedOperand *o = &cpu->ops[0];
    unsigned size = cpu->insn->operand_width / 8;
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
    emu_far_jump(cpu, sel, off, call, cpu->insn->operand_width);
}

static void port_io(struct emu_cpu *cpu, bool in)
{
    int port_op = in ? 1 : 0, data_op = in ? 0 : 1;
    unsigned size = cpu->ops[data_op].size / 8;
    uint16_t port = (uint16_t)emu_op_read(cpu, port_op);

    emu_check_io(cpu, port, size);
    if (in)
        emu_op_write(cpu, 0, bus_read(&cpu->vm->pio, port, size));
    else
        bus_write(&cpu->vm->pio, port, size, emu_op_read(cpu, 1));
}

static bool may_change_if(const struct emu_cpu *cpu)
{
    return !(cpu->cr0 & CR0_PE) || (uint64_t)cpu->cpl <= ((cpu->rflags & RFLAGS_IOPL) >> 12);
}

bool emu_exec_system(struct emu_cpu *cpu)
{
    ZydisMnemonic m = cpu->insn->mnemonic;
    uint64_t v;

    switch (m) {
    case ZYDIS_MNEMONIC_MOV:
        if (ZydisRegisterGetClass(cpu->ops[0].reg.value) == ZYDIS_REGCLASS_DEBUG ||
            ZydisRegisterGetClass(cpu->ops[1].reg.value) == ZYDIS_REGCLASS_DEBUG) {
            /* Debug registers hold values but breakpoints do not fire yet. */
            if (ZydisRegisterGetClass(cpu->ops[1].reg.value) == ZYDIS_REGCLASS_DEBUG)
                emu_reg_write(cpu, cpu->ops[0].reg.value, 0);
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
        return true;
    case ZYDIS_MNEMONIC_CLI:
        if (!may_change_if(cpu))
            emu_raise(cpu, EXC_GP, 0);
        cpu->rflags &= ~RFLAGS_IF;
        return true;
    case ZYDIS_MNEMONIC_STI:
        if (!may_change_if(cpu))
            emu_raise(cpu, EXC_GP, 0);
        if (!(cpu->rflags & RFLAGS_IF))
            cpu->intr_shadow = true;
        cpu->rflags |= RFLAGS_IF;
        return true;
    case ZYDIS_MNEMONIC_LGDT:
        load_dtable(cpu, &cpu->gdt);
        return true;
    case ZYDIS_MNEMONIC_LIDT:
        load_dtable(cpu, &cpu->idt);
        return true;
    case ZYDIS_MNEMONIC_SGDT:
        store_dtable(cpu, &cpu->gdt);
        return true;
    case ZYDIS_MNEMONIC_SIDT:
        store_dtable(cpu, &cpu->idt);
        return true;
    case ZYDIS_MNEMONIC_LTR:
    case ZYDIS_MNEMONIC_LLDT:
        if (!(cpu->cr0 & CR0_PE) || (cpu->rflags & RFLAGS_VM))
            emu_raise(cpu, EXC_UD, EXC_NO_ERROR);
        load_system_seg(cpu, m == ZYDIS_MNEMONIC_LTR);
        return true;
    case ZYDIS_MNEMONIC_STR:
        emu_op_write(cpu, 0, cpu->tr.selector);
        return true;
    case ZYDIS_MNEMONIC_SLDT:
        emu_op_write(cpu, 0, cpu->ldt.selector);
        return true;
    case ZYDIS_MNEMONIC_SMSW:
        emu_op_write(cpu, 0, cpu->cr0 & emu_mask(cpu->ops[0].size / 8));
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
        emu_tlb_flush_page(cpu,
                           emu_linear(cpu, emu_op_seg(cpu, 0), emu_op_address(cpu, 0), 1, false));
        return true;
    case ZYDIS_MNEMONIC_WBINVD:
    case ZYDIS_MNEMONIC_INVD:
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
    case ZYDIS_MNEMONIC_RDTSC:
    case ZYDIS_MNEMONIC_RDTSCP:
        if ((cpu->cr4 & CR4_TSD) && cpu->cpl != 0)
            emu_raise(cpu, EXC_GP, 0);
        v = emu_tsc(cpu);
        cpu->gpr[0] = v & 0xffffffff;
        cpu->gpr[GPR_RDX] = v >> 32;
        if (m == ZYDIS_MNEMONIC_RDTSCP)
            cpu->gpr[GPR_RCX] = cpu->msr.tsc_aux;
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
        emu_far_return(cpu, cpu->insn->operand_width,
                       cpu->insn->operand_count_visible ? (uint16_t)emu_op_read(cpu, 0) : 0);
        return true;
    case ZYDIS_MNEMONIC_IRET:
    case ZYDIS_MNEMONIC_IRETD:
    case ZYDIS_MNEMONIC_IRETQ:
        emu_iret(cpu, cpu->insn->operand_width);
        return true;
    case ZYDIS_MNEMONIC_INT:
        if ((cpu->rflags & RFLAGS_VM) && ((cpu->rflags & RFLAGS_IOPL) >> 12) < 3)
            emu_raise(cpu, EXC_GP, 0);
        emu_soft_interrupt(cpu, (int)(emu_op_read(cpu, 0) & 0xff));
        return true;
    case ZYDIS_MNEMONIC_INT3:
        emu_soft_interrupt(cpu, EXC_BP);
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
        emu_sysret(cpu, cpu->insn->operand_width);
        return true;
    default:
        return false;
    }
}
