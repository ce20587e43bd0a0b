/*
 * The emu engine's interpreter: decode (Zydis, decode.c), one const
 * dispatch table by mnemonic (exec.c), and the instruction semantics
 * (exec.c, alu.c, string.c, system.c, legacy.c, the FPU unit in ../fpu*.c);
 * the block loop of pre-decoded uops is uop.h's. It runs on the CPU model
 * (cpu/cpu.h) and follows its fault rule: an instruction commits state only
 * after every access that can fault.
 */
#ifndef VX86_ACCEL_EMU_INTERP_H
#define VX86_ACCEL_EMU_INTERP_H

#include <Zydis/Zydis.h>

#include "accel/emu/cpu/cpu.h"

/* decode.c: decoded instructions cached by guest-physical address. */
struct emu_decoded {
    ZydisDecodedInstruction insn;
    ZydisDecodedOperand ops[ZYDIS_MAX_OPERAND_COUNT];
    /* fpu_slot.c's host re-encoding of it, fpu_len bytes (0: not made yet),
     * the disp32 of its memory operand at fpu_disp_at. */
    uint8_t fpu_len, fpu_disp_at;
    uint8_t fpu_enc[15];
};
int emu_dcache_init(struct emu_cpu *cpu);
void emu_dcache_free(struct emu_cpu *cpu);
/* Fetches and decodes the instruction at CS:RIP, setting cpu->decoded. */
void emu_decode(struct emu_cpu *cpu);
/* Fills the decoders, one per decode mode; once, by emu_exec_init. */
void emu_decode_init(void);
/* The decoder for cpu->decode_mode. */
const ZydisDecoder *emu_decoder(const struct emu_cpu *cpu);

/* exec.c */
/* An instruction's handler (exec.c's exec_table): runs cpu->decoded;
 * false when it is not a form the handler implements. */
typedef bool emu_exec_fn(struct emu_cpu *cpu);
/* A vCPU spinning on PAUSE waits for another, which may be waiting for
 * this vCPU's host CPU: every EMU_PAUSE_YIELD-th PAUSE of an SMP guest
 * yields it (KVM's pause-loop exiting; QEMU's TCG leaves its loop at each
 * PAUSE). 256 of them take some microseconds. */
#define EMU_PAUSE_YIELD 256
/* PAUSE, with that yield. */
void emu_pause(struct emu_cpu *cpu);
/* system.c: RDTSC (aux: RDTSCP, TSC_AUX into RCX), #GP(0) at CPL > 0 with
 * CR4.TSD. */
void emu_rdtsc(struct emu_cpu *cpu, bool aux);
/* Builds the interpreter's tables; once per process, before any emu_run. */
void emu_exec_init(void);
/* Executes instructions until an exit is due; fills *exit. */
int emu_run(struct emu_cpu *cpu, struct accel_exit *exit);
/* Index in gpr[] of a general-purpose register other than AH, CH, DH, BH;
 * -1 for any other register. */
int emu_gpr_index(ZydisRegister reg);
uint64_t emu_reg_read(struct emu_cpu *cpu, ZydisRegister reg);
void emu_reg_write(struct emu_cpu *cpu, ZydisRegister reg, uint64_t value);
uint64_t emu_op_read(struct emu_cpu *cpu, int i);
void emu_op_write(struct emu_cpu *cpu, int i, uint64_t value);
uint64_t emu_op_address(struct emu_cpu *cpu, int i); /* effective address (offset) */
int emu_op_seg(struct emu_cpu *cpu, int i);

/* step.c: one instruction with instruction breakpoints before it and data,
 * I/O and single-step traps after it. */
void emu_debug_step(struct emu_cpu *cpu);
/* MOV to or from DRn (n 0-7), with the checks of SDM Vol. 2B "MOV-Move to/from
 * Debug Registers". */
void emu_mov_dr(struct emu_cpu *cpu, int n, bool to_dr, ZydisRegister gpr);

/* system.c: system instructions; far transfers through code segments. */
void emu_far_jump(struct emu_cpu *cpu, uint16_t selector, uint64_t offset, bool call, int opsize);
void emu_far_return(struct emu_cpu *cpu, int opsize, uint16_t pop_bytes);
bool emu_exec_system(struct emu_cpu *cpu);

/* string.c */
bool emu_exec_string(struct emu_cpu *cpu);

/* fpu.c: x87, MMX, SSE and the FXSAVE/XSAVE family; false if m is not one. */
bool emu_exec_fpu(struct emu_cpu *cpu);

/* legacy.c: decimal arithmetic, BOUND, ARPL, far-pointer loads, LAR/LSL/
 * VERR/VERW, RDRAND/RDSEED, RDPID, FS/GS base instructions, CLFLUSH. */
bool emu_exec_legacy(struct emu_cpu *cpu);

/* alu.c: host-computed results and status flags. LOCK-prefixed read-
 * modify-writes and XCHG with memory run as host atomic operations, or in an
 * exclusive section where their operand is not contiguous host RAM. */
void emu_xchg_mem(struct emu_cpu *cpu, int mem_op, int reg_op);
bool emu_exec_alu(struct emu_cpu *cpu);
bool emu_cond(uint64_t rflags, unsigned cc);

#endif
