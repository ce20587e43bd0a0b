/*
 * The vCPU's mode, as instructions see it: CPL, code size and how code
 * decodes (SDM Vol. 3A §2.2, Vol. 1 §3.1), derived from CR0.PE, EFER.LMA,
 * RFLAGS.VM, CS and SS; and the I/O permission check that CPL and IOPL
 * decide.
 */
#include "accel/emu/cpu/cpu.h"

void emu_update_mode(struct emu_cpu *cpu)
{
    enum emu_code_mode mode;
    unsigned stack;
    uint8_t decode;
    const struct cpu_segment *cs = &cpu->seg[SEG_CS];
    int old_bits = cpu->code_bits;

    if (!(cpu->cr0 & CR0_PE)) {
        cpu->cpl = 0;
        cpu->code_bits = cs->db ? 32 : 16;
        mode = CODE_REAL_16;
    } else if (cpu->rflags & RFLAGS_VM) {
        cpu->cpl = 3;
        cpu->code_bits = 16;
        mode = CODE_REAL_16;
    } else {
        /* The CPL is SS.DPL (as KVM defines it); every CS change updates SS's too. */
        cpu->cpl = cpu->seg[SEG_SS].dpl;
        if (emu_long_mode(cpu) && cs->l) {
            cpu->code_bits = 64;
            mode = CODE_LONG_64;
        } else if (emu_long_mode(cpu)) {
            cpu->code_bits = cs->db ? 32 : 16;
            mode = cs->db ? CODE_COMPAT_32 : CODE_COMPAT_16;
        } else {
            cpu->code_bits = cs->db ? 32 : 16;
            mode = cs->db ? CODE_LEGACY_32 : CODE_LEGACY_16;
        }
    }
    if (mode == CODE_REAL_16 && cpu->code_bits == 32)
        mode = CODE_LEGACY_32; /* "unreal" 32-bit code segment */
    stack = cpu->code_bits == 64 ? 2 : cpu->seg[SEG_SS].db ? 1 : 0;
    decode = EMU_DECODE_MODE(mode, stack);
    /* Interrupts, system calls and their returns call this with at most
     * the CPL changed: block links (block.c) and the jump cache (jit/)
     * survive those, as each is valid at the CPL it was made at only. The
     * links' CS checks were made with one flat CS and decoder mode, so any
     * change of those drops them. */
    if (decode == cpu->decode_mode && cpu->code_bits == old_bits && cs->base == cpu->link_cs_base &&
        cs->limit == cpu->link_cs_limit)
        return;
    cpu->map_epoch++;
    cpu->global_epoch++;
    cpu->link_cs_base = cs->base;
    cpu->link_cs_limit = cs->limit;
    cpu->decode_mode = decode;
}

/* I/O permission: CPL <= IOPL, or the TSS bitmap allows every byte (SDM Vol. 1 §19.5). */
void emu_check_io(struct emu_cpu *cpu, uint16_t port, unsigned size)
{
    uint64_t iopl = (cpu->rflags & RFLAGS_IOPL) >> 12, base, bits;

    if (cpu->bp_io)
        emu_debug_io(cpu, port, size);
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
