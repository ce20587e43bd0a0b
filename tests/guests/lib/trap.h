/*
 * Exceptions and interrupts for 64-bit test guests: an IDT whose 256 gates
 * all lead to one C dispatcher, which hands each trap to, in order,
 *   1. an armed expectation (TRAP_TRY): the trap is recorded in trap_last
 *      and execution resumes after the trapping instruction;
 *   2. the handler registered for its vector (trap_set_handler);
 *   3. trap_unexpected(), which prints the frame and fails the test.
 */
#ifndef GUEST_TRAP_H
#define GUEST_TRAP_H

#include <stdint.h>

/* The stack at the dispatcher: the general registers isr.S saves, the vector
 * and error code (0 for vectors without one), then what the CPU pushes in
 * 64-bit mode (SDM Vol. 3A §6.14.2, Figure 6-9). A handler may change any
 * field; the trap returns with IRETQ to what the frame then says. */
struct trap_frame {
    uint64_t r15, r14, r13, r12, r11, r10, r9, r8, rbp, rdi, rsi, rdx, rcx, rbx, rax;
    uint64_t vector, error_code;
    uint64_t rip, cs, rflags, rsp, ss;
};

typedef void trap_handler_fn(struct trap_frame *f);

/* What the last expected trap was; vector is TRAP_NONE if none came. */
struct trap_record {
    uint64_t vector; /* first: TRAP_TRY's asm stores TRAP_NONE here */
    uint64_t error_code, rip, cs, cr2;
};
#define TRAP_NONE     0xffff
#define TRAP_NONE_STR "0xffff"

extern struct trap_record trap_last;
/* Where an armed expectation resumes; 0 when none is armed. */
extern uint64_t trap_resume;

/*
 * Fills and loads the IDT: every vector gets a 64-bit interrupt gate with
 * DPL 0 to the current code segment. The IDT is static; call once.
 */
void idt_init(void);

/* Sets the DPL of vector's gate: 3 lets user mode reach it with INT n. */
void idt_set_dpl(unsigned vector, unsigned dpl);

/* Registers fn for vector (NULL: none). */
void trap_set_handler(unsigned vector, trap_handler_fn *fn);

/* Prints the frame as a failure and ends the test; never returns. */
__attribute__((noreturn)) void trap_unexpected(const struct trap_frame *f);

/* isr.S's call into C, with interrupts disabled (all gates are interrupt gates). */
void trap_dispatch(struct trap_frame *f);

/*
 * Asm text that runs one instruction, insn, with a trap expected: stores
 * insn's address in operand %[at], clears trap_last, arms the dispatcher to
 * resume just after insn, and runs it. Local labels 1 and 2 are taken. Use
 * with a "memory" clobber, e.g.
 *
 *     asm volatile(TRAP_TRY("ud2") : [at] "=&r"(at) : : "memory");
 *
 * Addresses are absolute 32-bit immediates: guests are linked below 2 GiB.
 */
#define TRAP_TRY(insn)                                                                             \
    "lea 1f(%%rip), %[at]\n\t"                                                                     \
    "movq $" TRAP_NONE_STR ", trap_last(%%rip)\n\t"                                                \
    "movq $2f, trap_resume(%%rip)\n"                                                               \
    "1:\t" insn "\n"                                                                               \
    "2:\n\t"                                                                                       \
    "movq $0, trap_resume(%%rip)\n\t"

/* Reads the byte at va with a trap expected or not; *at is the address of
 * the reading instruction. */
static inline uint8_t trap_try_read(uint64_t va, uint64_t *at)
{
    uint8_t v = 0;

    __asm__ volatile(TRAP_TRY("movb (%[p]), %[v]")
                     : [at] "=&r"(*at), [v] "+r"(v)
                     : [p] "r"(va)
                     : "memory");
    return v;
}

/* RDMSR and WRMSR of msr with a trap expected or not: the vector that came
 * (trap_last.vector, TRAP_NONE if none). */
static inline uint64_t trap_try_rdmsr(uint32_t msr)
{
    uint64_t at;
    uint32_t lo = 0, hi = 0;

    __asm__ volatile(TRAP_TRY("rdmsr") : [at] "=&r"(at), "+a"(lo), "+d"(hi) : "c"(msr) : "memory");
    return trap_last.vector;
}

static inline uint64_t trap_try_wrmsr(uint32_t msr, uint64_t v)
{
    uint64_t at;

    __asm__ volatile(TRAP_TRY("wrmsr")
                     : [at] "=&r"(at)
                     : "c"(msr), "a"((uint32_t)v), "d"((uint32_t)(v >> 32))
                     : "memory");
    return trap_last.vector;
}

#endif
