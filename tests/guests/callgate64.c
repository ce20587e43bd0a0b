/*
 * Call gates in IA-32e mode (SDM Vol. 3A §5.8.3.1, §5.8.5.1, §5.8.6):
 *   - a far CALL from CPL 3 through a 16-byte DPL-3 gate to 64-bit CPL-0
 *     code switches to RSP0 of the TSS, loads SS with a null selector and
 *     pushes the caller's SS, RSP, CS and RIP as quadwords; no parameters
 *     are copied;
 *   - LRETQ back to CPL 3 restores the caller's SS:RSP and nulls DS, whose
 *     DPL is below the new CPL (SDM Vol. 2B, RET);
 *   - a gate to code of the caller's privilege changes no stack;
 *   - IRETQ to CPL 3 nulls DS too, as it held the kernel's data segment
 *     (SDM Vol. 2A, IRET, RETURN-TO-OUTER-PRIVILEGE-LEVEL);
 *   - gate DPL below the CPL: #GP(gate selector); gate not present:
 *     #NP(gate selector); a non-zero type in the gate's upper half:
 *     #GP(gate selector) (SDM Vol. 2A, CALL).
 */
#include "callgate64.h"
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define EXC_NP 11 /* segment not present (SDM Vol. 3A §6.15) */

#define LEFT_BY_UD2   1 /* what user_enter returns */
#define LEFT_BY_FAULT 2

#define GATE_P          0x80u
#define GATE_DPL(n)     ((unsigned)(n) << 5)
#define TYPE_CALL_GATE  0xcu /* 64-bit call gate in IA-32e mode (Table 3-2) */
#define TYPE_TSS64_FREE 0x9u

/* A 64-bit TSS (SDM Vol. 3A §8.7, Figure 8-11). */
struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3, iomap_base;
};

long user_enter(const char *prog, void *stack_top);
__attribute__((noreturn)) void user_leave(long value);

extern const char user_call[], user_call_ret[], gate_entry[], user_call_same[],
    user_call_same_ret[], same_entry[], user_call_dpl0[], user_call_absent[], user_call_badtop[];
extern uint64_t u_ds_entry, u_rsp_before, u_result, u_rsp_after, u_rbx_after, u_cs_after,
    u_ss_after, u_ds_after, gate_rsp, gate_cs, gate_ss, gate_ds, gate_frame[4];

static uint64_t gdt[GDT_SLOTS] __attribute__((aligned(16))) = {
    [KERNEL_CS / 8] = 0x00af9b000000ffffull, /* 64-bit code (L), DPL 0 */
    [KERNEL_DS / 8] = 0x00cf93000000ffffull,
    [USER_CS / 8] = 0x00affb000000ffffull, /* 64-bit code (L), DPL 3 */
    [USER_DS / 8] = 0x00cff3000000ffffull,
};
static struct tss64 tss;
static uint8_t kernel_stack[4096] __attribute__((aligned(16)));
static uint8_t user_stack[4096] __attribute__((aligned(16)));
static struct trap_record fault;

/* A 16-byte call gate (SDM Vol. 3A §5.8.3.1, Figure 5-9). */
static void set_gate(unsigned sel, uint16_t target_cs, const char *target, unsigned attr)
{
    uint64_t off = (uint64_t)target;

    gdt[sel / 8] = (off & 0xffff) | (uint64_t)target_cs << 16 | (uint64_t)attr << 40 |
                   (off >> 16 & 0xffff) << 48;
    gdt[sel / 8 + 1] = off >> 32;
}

static void setup(void)
{
    uint64_t base = (uint64_t)&tss, *pml4 = pgtable_new();
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr = {sizeof(gdt) - 1, (uint64_t)gdt};

    tss.rsp[0] = (uint64_t)kernel_stack + sizeof(kernel_stack);
    tss.iomap_base = sizeof(tss);
    gdt[TSS_SEL / 8] = (sizeof(tss) - 1) | (base & 0xffffff) << 16 |
                       (uint64_t)(GATE_P | TYPE_TSS64_FREE) << 40 | (base >> 24 & 0xff) << 56;
    gdt[TSS_SEL / 8 + 1] = base >> 32;
    set_gate(GATE_KERNEL, KERNEL_CS, gate_entry, GATE_P | GATE_DPL(3) | TYPE_CALL_GATE);
    set_gate(GATE_DPL0, KERNEL_CS, gate_entry, GATE_P | GATE_DPL(0) | TYPE_CALL_GATE);
    set_gate(GATE_ABSENT, KERNEL_CS, gate_entry, GATE_DPL(3) | TYPE_CALL_GATE);
    set_gate(GATE_SAME, USER_CS, same_entry, GATE_P | GATE_DPL(3) | TYPE_CALL_GATE);
    set_gate(GATE_BADTOP, KERNEL_CS, gate_entry, GATE_P | GATE_DPL(3) | TYPE_CALL_GATE);
    gdt[GATE_BADTOP / 8 + 1] |= (uint64_t)TYPE_CALL_GATE << 40;
    __asm__ volatile("lgdt %[gdtr]\n\t"
                     "pushq %[cs]\n\t"
                     "lea 1f(%%rip), %%rax\n\t"
                     "pushq %%rax\n\t"
                     "lretq\n"
                     "1:\tmov %w[ds], %%ds\n\t"
                     "mov %w[ds], %%es\n\t"
                     "mov %w[ds], %%ss\n\t"
                     "ltr %w[tr]"
                     :
                     : [gdtr] "m"(gdtr), [cs] "i"(KERNEL_CS), [ds] "r"(KERNEL_DS), [tr] "r"(TSS_SEL)
                     : "rax", "memory");
    idt_init();
    /* Everything user-accessible: the programs run from the kernel image. */
    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW | PTE_US);
    write_cr3((uint64_t)pml4);
}

/* The programs end with UD2 after the instruction under test, or fault. */
static void fault_handler(struct trap_frame *f)
{
    if (SEL_RPL(f->cs) != 3)
        trap_unexpected(f);
    fault = (struct trap_record){
        .vector = f->vector, .error_code = f->error_code, .rip = f->rip, .cs = f->cs};
    user_leave(f->vector == EXC_UD ? LEFT_BY_UD2 : LEFT_BY_FAULT);
}

static long run(const char *prog)
{
    fault.vector = TRAP_NONE;
    gate_rsp = gate_cs = gate_ss = gate_ds = ~0ull;
    u_ds_entry = u_ds_after = u_ss_after = u_cs_after = ~0ull;
    memset(gate_frame, 0, sizeof(gate_frame));
    return user_enter(prog, user_stack + sizeof(user_stack));
}

static void test_inner_call(void)
{
    long r = run(user_call);

    printf("through the gate: rsp %lx (rsp0 %lx), cs %lx, ss %lx, ds %lx\n", gate_rsp, tss.rsp[0],
           gate_cs & 0xffff, gate_ss & 0xffff, gate_ds & 0xffff);
    printf("  frame: rip %lx cs %lx rsp %lx ss %lx (caller's rsp %lx)\n", gate_frame[0],
           gate_frame[1], gate_frame[2], gate_frame[3], u_rsp_before);
    printf("back at CPL 3: result %lx, rsp %lx, rbx %lx, cs %lx, ss %lx, ds %lx\n", u_result,
           u_rsp_after, u_rbx_after, u_cs_after & 0xffff, u_ss_after & 0xffff, u_ds_after & 0xffff);
    printf("DS after IRETQ to CPL 3: %lx\n", u_ds_entry & 0xffff);
    CHECK(r == LEFT_BY_UD2);
    CHECK((u_ds_entry & 0xffff) == 0);
    CHECK(gate_rsp == tss.rsp[0] - 4 * 8);
    CHECK((gate_cs & 0xffff) == KERNEL_CS);
    CHECK((gate_ss & 0xffff) == 0);
    CHECK((gate_ds & 0xffff) == USER_DS);
    CHECK(gate_frame[0] == (uint64_t)user_call_ret);
    CHECK(gate_frame[1] == USER_CS);
    CHECK(gate_frame[2] == u_rsp_before);
    CHECK(gate_frame[3] == USER_DS);
    CHECK(u_result == 0x600d);
    CHECK(u_rsp_after == u_rsp_before);
    CHECK(u_rbx_after == USER_MARK);
    CHECK((u_cs_after & 0xffff) == USER_CS);
    CHECK((u_ss_after & 0xffff) == USER_DS);
    CHECK((u_ds_after & 0xffff) == 0);
}

static void test_same_call(void)
{
    long r = run(user_call_same);

    printf("same-privilege gate: rsp %lx (caller's %lx), cs %lx, pushed %lx:%lx; rsp after %lx\n",
           gate_rsp, u_rsp_before, gate_cs & 0xffff, gate_frame[1], gate_frame[0], u_rsp_after);
    CHECK(r == LEFT_BY_UD2);
    CHECK(gate_rsp == u_rsp_before - 2 * 8);
    CHECK((gate_cs & 0xffff) == USER_CS);
    CHECK(gate_frame[0] == (uint64_t)user_call_same_ret);
    CHECK(gate_frame[1] == USER_CS);
    CHECK(u_rsp_after == u_rsp_before);
}

static void check_fault(const char *what, const char *prog, uint64_t vector, uint64_t error_code)
{
    long r = run(prog);

    printf("%s: vector %lu, error code %lx at %lx:%lx\n", what, fault.vector, fault.error_code,
           fault.cs, fault.rip);
    CHECK(r == LEFT_BY_FAULT);
    CHECK(fault.vector == vector);
    CHECK(fault.error_code == error_code);
    CHECK(fault.rip == (uint64_t)prog);
    CHECK(fault.cs == USER_CS);
    CHECK(gate_rsp == ~0ull);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    setup();
    trap_set_handler(EXC_UD, fault_handler);
    trap_set_handler(EXC_GP, fault_handler);
    trap_set_handler(EXC_NP, fault_handler);
    test_inner_call();
    test_same_call();
    check_fault("gate DPL 0 from CPL 3", user_call_dpl0, EXC_GP, GATE_DPL0);
    check_fault("gate not present", user_call_absent, EXC_NP, GATE_ABSENT);
    check_fault("gate with a type in its upper half", user_call_badtop, EXC_GP, GATE_BADTOP);
    guest_finish();
}
