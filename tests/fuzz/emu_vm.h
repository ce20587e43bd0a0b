/*
 * One emu VM reused between the inputs of a libFuzzer target (fuzz_emu.c,
 * fuzz_jit.c): emu_vm.c says how an input starts from the state a fresh VM
 * has, and what an input is.
 *
 * Input: byte 0 picks the mode and options, byte 1 the flags, bytes 2-9
 * seed the GPRs, the rest (up to FZ_CODE_MAX bytes) is code, loaded at the
 * entry point:
 *
 *   byte 0 bits 0-1  (the mode the target chose, see fz_start)
 *          bit 2     an IDT (IVT) whose every vector enters the code again
 *   byte 1           RFLAGS: CF PF AF ZF SF as given, bit 3 DF, bit 5 IF
 *   bytes 2-9        a seed: each GPR is random, small, or an address in RAM
 *
 * The modes: 0 real mode (entry 1000:0000), 1 32-bit protected mode (flat,
 * paging off), 2 64-bit long mode, 3 compatibility mode (long mode, 32-bit
 * code); entry FZ_ENTRY but in real mode. Long mode identity-maps the
 * first 4 GiB (2 MiB pages); RAM is FZ_RAM_SIZE.
 */
#ifndef VX86_TESTS_FUZZ_EMU_VM_H
#define VX86_TESTS_FUZZ_EMU_VM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "accel/emu/cpu/cpu.h"
#include "boot/layout.h"
#include "vm/vm.h"

#define FZ_RAM_SIZE  MEM_MIN_SIZE
#define FZ_RAM_PAGES (FZ_RAM_SIZE >> 12)
#define FZ_HEADER    10
#define FZ_CODE_MAX  16384
#define FZ_ENTRY     0x100000 /* protected and long mode */
#define FZ_IDT_BASE  0x8000   /* up to 256 16-byte gates */
#define FZ_STACK_TOP 0x90000
/* The pages of the boot GDT, TSS and page tables, in every input's RAM:
 * the CPU sets accessed and dirty bits there without a store the engine
 * counts, so they are put back after every input. */
#define FZ_TABLE_PAGES ((BOOT_PD + 4 * 4096) >> 12)

extern struct vm fz_vm;
extern struct emu_cpu *fz_cpu;

/* Creates the VM and its vCPU, once, with the binary translator's
 * settings of struct vm_config (jit_off, jit_eager); aborts on failure. */
void fz_init(bool jit_off, bool jit_eager);

/* Puts RAM, the devices and the vCPU back as a fresh VM has them, then
 * loads the input (size >= FZ_HEADER) for mode (0-3, above) and gives the
 * vCPU a budget of passes passes (cpu->pass_limit). -EINVAL: the input
 * does not fit. */
int fz_start(const uint8_t *data, size_t size, int mode, uint64_t passes);

/* Runs the vCPU until it triple-faults, the VM stops, it halts with no
 * timer left, or its passes are spent. */
void fz_run(void);

/* Time as the devices see it: virtual, from the passes run (EMU_TSC_HZ is
 * 1 GHz). */
uint64_t fz_virtual_ns(void);

/* Whether the input that ran since the last fz_start stored to RAM page
 * page (< FZ_RAM_PAGES): see emu_vm.c. Not the CPU's accessed and dirty
 * bits in the boot tables' pages. */
bool fz_page_written(uint64_t page);

/* RAM page page as every input starts with it (before its code). */
const uint8_t *fz_pristine(uint64_t page);

#endif
