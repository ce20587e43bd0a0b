/* x87, MMX, SSE and FXSAVE/XSAVE: not implemented yet. */
#include "accel/emu/cpu.h"

bool emu_exec_fpu(struct emu_cpu *cpu)
{
    (void)cpu;
    return false;
}
