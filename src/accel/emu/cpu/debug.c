/*
 * Debug registers and debug exceptions (SDM Vol. 3B ch. 17): DR0-DR3
 * breakpoints enabled in DR7, single-step with RFLAGS.TF, general detect,
 * RFLAGS.RF, ICEBP.
 *
 * None of it costs the block interpreter anything while it is off: with TF
 * and RF clear and no breakpoint enabled, blocks run as they are. Otherwise
 * the block loop runs every instruction through emu_debug_step
 * (interp/step.c) and the generic groups, where every data access goes
 * through emu_read/emu_write (and emu_host_range), which report to
 * emu_debug_watch.
 */
#include "accel/emu/cpu/cpu.h"

/* DR7 R/Wn field (SDM Vol. 3B §17.2.4). */
enum { RW_EXEC, RW_WRITE, RW_IO, RW_ACCESS };

static unsigned rw_of(const struct emu_cpu *cpu, int i)
{
    return (unsigned)(cpu->dr7 >> (16 + 4 * i)) & 3;
}

/* DR7 LENn: 00 one byte, 01 two, 10 eight, 11 four. */
static uint64_t len_of(const struct emu_cpu *cpu, int i)
{
    static const uint8_t bytes[4] = {1, 2, 8, 4};

    return bytes[(cpu->dr7 >> (18 + 4 * i)) & 3];
}

void emu_debug_update(struct emu_cpu *cpu)
{
    cpu->bp_exec = cpu->bp_data = cpu->bp_io = 0;
    for (int i = 0; i < 4; i++) {
        if (!((cpu->dr7 >> (2 * i)) & 3)) /* neither Ln nor Gn */
            continue;
        switch (rw_of(cpu, i)) {
        case RW_EXEC:
            cpu->bp_exec |= (uint8_t)(1u << i);
            break;
        case RW_IO:
            cpu->bp_io |= (uint8_t)(1u << i);
            break;
        default:
            cpu->bp_data |= (uint8_t)(1u << i);
            break;
        }
    }
}

/* Breakpoint i covers the LENn bytes at DRn with its low bits ignored
 * (SDM Vol. 3B §17.2.5): does it overlap [addr, addr + size)? */
static bool overlaps(const struct emu_cpu *cpu, int i, uint64_t addr, unsigned size)
{
    uint64_t len = len_of(cpu, i), start = cpu->dr[i] & ~(len - 1);

    return addr < start + len && start < addr + size;
}

void emu_debug_watch(struct emu_cpu *cpu, uint64_t linear, unsigned size, bool write)
{
    for (int i = 0; i < 4; i++)
        if ((cpu->bp_data >> i) & 1 && (write || rw_of(cpu, i) == RW_ACCESS) &&
            overlaps(cpu, i, linear, size))
            cpu->db_hits |= (uint8_t)(1u << i);
}

void emu_debug_io(struct emu_cpu *cpu, uint16_t port, unsigned size)
{
    /* R/W = 10 means I/O only with CR4.DE; without it, it is undefined. */
    if (!(cpu->cr4 & CR4_DE))
        return;
    for (int i = 0; i < 4; i++)
        if ((cpu->bp_io >> i) & 1 && overlaps(cpu, i, port, size))
            cpu->db_hits |= (uint8_t)(1u << i);
}

void emu_debug_report(struct emu_cpu *cpu, uint64_t bits)
{
    cpu->dr6 = (cpu->dr6 & ~DR6_B0_3) | bits;
    cpu->dr7 &= ~DR7_GD;
}

void emu_icebp(struct emu_cpu *cpu)
{
    cpu->db_soft = DB_SOFT_ICEBP;
    cpu->dr7 &= ~DR7_GD;
    cpu->delivering = 0; /* benign, as any #DB */
    emu_deliver(cpu, EXC_DB, EXC_NO_ERROR, false);
    cpu->delivering = -1;
}
