/*
 * Exceptions and interrupts for 32-bit protected-mode test guests, as
 * trap.h is for 64-bit ones: an IDT whose 256 gates all lead to one C
 * dispatcher, which hands each trap to, in order,
 *   1. an armed expectation (TRAP32_TRY): the trap is recorded in
 *      trap32_last and execution resumes after the trapping instruction;
 *   2. the handler registered for its vector (trap32_set_handler);
 *   3. trap32_unexpected(), which prints the frame and fails the test.
 */
#ifndef GUEST_TRAP32_H
#define GUEST_TRAP32_H

#include <stdint.h>

/* The stack at the dispatcher: the data segment selectors as they were when
 * the handler was entered (null after virtual-8086 mode), the general
 * registers as PUSHA saves them, the vector and error code (0 for vectors
 * without one), then what the CPU pushes: EIP, CS, EFLAGS; ESP and SS on a
 * change to CPL 0; ES, DS, FS and GS of virtual-8086 mode (SDM Vol. 3A
 * §6.12.1, Figure 6-4, and §20.3.1.1, Figure 20-5). A handler may change any
 * field that is there; the trap returns with IRET to what the frame says. */
struct trap_frame32 {
    uint32_t gs, fs, es, ds;
    uint32_t edi, esi, ebp, esp_pusha, ebx, edx, ecx, eax;
    uint32_t vector, error_code;
    uint32_t eip, cs, eflags;
    uint32_t esp, ss;
    uint32_t v86_es, v86_ds, v86_fs, v86_gs;
};

typedef void trap32_handler_fn(struct trap_frame32 *f);

/* What the last expected trap was; vector is TRAP32_NONE if none came. */
struct trap32_record {
    uint32_t vector; /* first: TRAP32_TRY's asm stores TRAP32_NONE here */
    uint32_t error_code, eip, cs, cr2;
};
#define TRAP32_NONE     0xffff
#define TRAP32_NONE_STR "0xffff"

extern struct trap32_record trap32_last;
/* Where an armed expectation resumes; 0 when none is armed. */
extern uint32_t trap32_resume;

/*
 * Fills and loads the IDT: every vector gets a 32-bit interrupt gate with
 * DPL 0 to its stub in code segment cs. The IDT is static; call once.
 */
void idt32_init(uint16_t cs);

/* Sets the DPL of vector's stub gate: 3 lets CPL 3 and virtual-8086 mode
 * (with IOPL 3) reach it with INT n. */
void idt32_set_dpl(unsigned vector, unsigned dpl);

/* Replaces vector's gate with desc (desc32.h's desc_gate), or returns it. */
void idt32_set(unsigned vector, uint64_t desc);
uint64_t idt32_get(unsigned vector);

/* Registers fn for vector (NULL: none). */
void trap32_set_handler(unsigned vector, trap32_handler_fn *fn);

/* The record of frame f, with CR2 for #PF. */
struct trap32_record trap32_record_of(const struct trap_frame32 *f);

/* Prints the frame as a failure and ends the test; never returns. */
__attribute__((noreturn)) void trap32_unexpected(const struct trap_frame32 *f);

/* isr32.S's call into C. */
void trap32_dispatch(struct trap_frame32 *f);

/*
 * Asm text that runs one instruction, insn, at CPL 0 with a trap expected:
 * stores insn's address in operand %[at], clears trap32_last, arms the
 * dispatcher to resume just after insn, and runs it. Local labels 1 and 2
 * are taken. Use with a "memory" clobber, e.g.
 *
 *     asm volatile(TRAP32_TRY("ud2") : [at] "=&r"(at) : : "memory");
 */
#define TRAP32_TRY(insn)                                                                           \
    "movl $1f, %[at]\n\t"                                                                          \
    "movl $" TRAP32_NONE_STR ", trap32_last\n\t"                                                   \
    "movl $2f, trap32_resume\n"                                                                    \
    "1:\t" insn "\n"                                                                               \
    "2:\n\t"                                                                                       \
    "movl $0, trap32_resume\n\t"

#endif
