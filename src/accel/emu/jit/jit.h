/*
 * The binary translator: hot blocks of uops (uop.h, block.c) become host
 * x86-64 code that runs the same instructions with the guest's state in
 * struct emu_cpu. It sits behind the block loop: the interpreter still
 * builds and runs every block first, is the reference, and runs whatever the
 * translator leaves out (cold blocks, 16-bit code, blocks after MOV SS/STI,
 * single-stepping).
 *
 * What translated code keeps exact:
 * - State: guest registers and flags are in struct emu_cpu whenever C code
 *   may look: within a block, guest registers it uses often live in host
 *   registers, and host flags carry guest flags from an arithmetic
 *   instruction to the next one that reads or overwrites them; both go
 *   back to emu_cpu before anything that can fault or call C, and before
 *   every exit.
 * - Faults: memory operands use an inline probe of the vCPU's TLB, exactly
 *   uop_tlb_hit's test; anything else (a miss, a page-crossing access, MMIO,
 *   32-bit code's segmented accesses, instructions without a template) runs
 *   the instruction's own uop handler with insn_rip and rip set, as the
 *   block loop would, so a fault leaves the state the interpreter leaves.
 * - Self-modifying code: an inline store to a page holding code bumps the
 *   page's generation as uop_write does and ends the block after the
 *   instruction; every translated block checks its page's generation on
 *   entry, so code another vCPU or a device changed is not run again after
 *   the next entry (a loop back to a block's own start, and a link to a
 *   block of the same page, skip the check as long as the block they leave
 *   has no generic instruction, which may serialize; the budget bounds how
 *   long: see tr_loop_back in translate.c).
 * - Events: every block entry checks kicked/wake (but emu_jit_run's: the
 *   block loop runs the block it chose, as with the interpreter) and takes
 *   its instructions from jit_budget (those after a store to code that
 *   ends the block early are given back), so the block loop regains
 *   control where it does with the interpreter.
 *
 * Translations are per vCPU, valid for one linear RIP and CPL, in a code
 * cache of EMU_JIT_CACHE_BYTES with two mappings of one memfd (written
 * through one, run through the other: never writable and executable at
 * once); it is emptied together with the block arena, which translations
 * point into.
 */
#ifndef VX86_ACCEL_EMU_JIT_JIT_H
#define VX86_ACCEL_EMU_JIT_JIT_H

#include "accel/emu/interp/uop.h"

#define EMU_JIT_CACHE_BYTES (64u << 20)

/* Creates cpu->jit when the VM's configuration asks for the translator
 * and the host gives the code cache; cpu->jit stays NULL otherwise.
 * -errno only for a failure that must end vx86 (none today). */
int emu_jit_init(struct emu_cpu *cpu);
void emu_jit_free(struct emu_cpu *cpu);
/* Empties the code cache (the block arena is being emptied). */
void emu_jit_flush(struct emu_cpu *cpu);

/* How often the block loop runs a block before it is translated. */
unsigned emu_jit_threshold(const struct emu_cpu *cpu);
/* Changes whenever the code cache is emptied: link sites from before are
 * gone. */
uint64_t emu_jit_epoch(const struct emu_cpu *cpu);

/* The translation the jump cache holds for cpu->rip in this context and
 * at this CPL, still valid (its page unchanged), and in *b its block;
 * NULL if none. */
const void *emu_jit_cached(struct emu_cpu *cpu, struct emu_block **b);

/* b->runs of a block the translator cannot translate. */
#define EMU_JIT_NEVER UINT16_MAX

/* Translates b for cpu->rip and cpu->cpl into b->jit (or marks it
 * EMU_JIT_NEVER); false when the code cache is full (the caller empties
 * both caches and goes on). */
bool emu_jit_translate(struct emu_cpu *cpu, struct emu_block *b);

/* Runs translated code from code, a translation of b for cpu->rip at
 * cpu->cpl, until it exits,
 * entering blocks while cpu->jit_budget is above 0 (each takes its
 * instructions on entry, so the last may take it below 0: the block loop
 * too runs whole blocks; b runs even if an event is due; nothing runs if
 * b's page was written since its translation). Returns a link site to
 * patch to the block at the new cpu->rip (a direct branch within the page;
 * opaque, for emu_jit_link), or NULL. */
void *emu_jit_run(struct emu_cpu *cpu, const struct emu_block *b, const void *code);

/* block.c, for translated code: runs b's instructions from index first
 * on (cpu->rip at that one) through their handlers, as the block loop
 * would have gone on; returns how many ran (fewer if a store to code or a
 * REP string instruction left to be resumed ends b there). */
unsigned emu_block_run(struct emu_cpu *cpu, const struct emu_block *b, unsigned first);

/* block.c: whether b, entered at rip (its start), still reads what it was
 * decoded from where its one instruction runs into the next page
 * (b->host2): that page translates to the same RAM as then, unwritten
 * since. True for a block within one page. Walks the page tables on a TLB
 * miss, raising nothing. (Translated code passes rip itself: a direct
 * link does not store cpu->rip.) */
bool emu_block_across_ok(struct emu_cpu *cpu, const struct emu_block *b, uint64_t rip);

/* Points the link site returned by emu_jit_run at code, b's translation
 * for the same CPL and for cpu->rip, in the same linear page as the site's
 * block. */
void emu_jit_link(struct emu_cpu *cpu, void *site, const struct emu_block *b, const void *code);

#endif
