/*
 * Call gates in 32-bit protected mode (SDM Vol. 3A §5.8.3 to §5.8.6):
 *   - a far CALL from CPL 3 through a DPL-3 gate to a CPL-0 code segment
 *     switches to the TSS's SS0:ESP0 stack and pushes the caller's SS and
 *     ESP, the gate's count of parameters copied from the caller's stack,
 *     then CS and EIP (§5.8.5, Figure 5-13); DS stays as it was;
 *   - RET imm16 back to CPL 3 restores the caller's stack past its
 *     parameters and nulls DS, whose DPL is below the new CPL (§5.8.6);
 *   - a gate to code of the caller's own privilege changes no stack;
 *   - IRET to CPL 3 nulls DS too, as it held the kernel's data segment
 *     (SDM Vol. 2A, IRET, RETURN-TO-OUTER-PRIVILEGE-LEVEL);
 *   - a gate whose DPL is below the CPL is a #GP(gate selector), a gate
 *     not present a #NP(gate selector) (SDM Vol. 2A, CALL).
 */
#include "callgate.h"
#include "lib/desc32.h"
#include "lib/guest.h"
#include "lib/trap32.h"

#define EXC_NP 11 /* segment not present (SDM Vol. 3A §6.15) */

#define LEFT_BY_UD2   1 /* what ring32_enter returns */
#define LEFT_BY_FAULT 2

extern const char user_call[], user_call_ret[], gate_entry[], user_call_same[],
    user_call_same_ret[], same_entry[], user_call_dpl0[], user_call_absent[];
extern uint32_t u_ds_entry, u_esp_before, u_esp_at_call, u_result, u_esp_after, u_cs_after,
    u_ds_after;
extern uint32_t gate_esp, gate_cs, gate_ss, gate_ds, gate_frame[6];

static uint64_t gdt[10] __attribute__((aligned(8))) = {
    [KERNEL_CS / 8] = 0x00cf9a000000ffffull,
    [KERNEL_DS / 8] = 0x00cf92000000ffffull,
    [USER_CS / 8] = 0x00cffa000000ffffull,
    [USER_DS / 8] = 0x00cff2000000ffffull,
};
static struct tss32 tss;
static uint8_t kernel_stack[4096] __attribute__((aligned(16)));
static uint8_t user_stack[4096] __attribute__((aligned(16)));
static struct trap32_record fault;

static void setup(void)
{
    tss.esp0 = (uint32_t)kernel_stack + sizeof(kernel_stack);
    tss.ss0 = KERNEL_DS;
    tss.iomap_base = sizeof(tss);
    gdt[TSS_SEL / 8] = desc_seg((uint32_t)&tss, sizeof(tss) - 1, DESC_P | SYS_TSS32, 0);
    gdt[GATE_KERNEL / 8] =
        desc_gate(KERNEL_CS, (uint32_t)gate_entry, DESC_P | DESC_DPL(3) | SYS_CALL_GATE32, 2);
    gdt[GATE_DPL0 / 8] =
        desc_gate(KERNEL_CS, (uint32_t)gate_entry, DESC_P | DESC_DPL(0) | SYS_CALL_GATE32, 0);
    gdt[GATE_ABSENT / 8] =
        desc_gate(KERNEL_CS, (uint32_t)gate_entry, DESC_DPL(3) | SYS_CALL_GATE32, 0);
    gdt[GATE_SAME / 8] =
        desc_gate(USER_CS, (uint32_t)same_entry, DESC_P | DESC_DPL(3) | SYS_CALL_GATE32, 0);
    gdt32_load(gdt, sizeof(gdt) / 8, KERNEL_CS, KERNEL_DS);
    __asm__ volatile("ltr %w0" : : "r"(TSS_SEL));
    idt32_init(KERNEL_CS);
}

/* The programs end with UD2 after the instruction under test, or fault. */
static void fault_handler(struct trap_frame32 *f)
{
    if (SEL_RPL(f->cs) != 3)
        trap32_unexpected(f);
    fault = trap32_record_of(f);
    ring32_leave(f->vector == EXC_UD ? LEFT_BY_UD2 : LEFT_BY_FAULT);
}

static uint32_t run(const char *prog)
{
    const uint32_t frame[] = {(uint32_t)prog, USER_CS, EFLAGS_FIXED,
                              (uint32_t)user_stack + sizeof(user_stack), USER_DS};

    fault.vector = TRAP32_NONE;
    u_ds_entry = ~0u;
    gate_esp = gate_cs = gate_ss = gate_ds = 0;
    memset(gate_frame, 0, sizeof(gate_frame));
    return ring32_enter(frame, sizeof(frame) / 4);
}

static void test_inner_call(void)
{
    uint32_t r = run(user_call);

    printf("through the gate: esp %x (esp0 %x), cs %x, ss %x, ds %x\n", gate_esp, tss.esp0, gate_cs,
           gate_ss, gate_ds);
    printf("  frame: eip %x cs %x, params %x %x, esp %x ss %x (caller's esp %x)\n", gate_frame[0],
           gate_frame[1], gate_frame[2], gate_frame[3], gate_frame[4], gate_frame[5],
           u_esp_at_call);
    printf("back at CPL 3: result %x, esp %x (before the pushes %x), cs %x, ds %x\n", u_result,
           u_esp_after, u_esp_before, u_cs_after, u_ds_after);
    printf("DS after IRET to CPL 3: %x\n", u_ds_entry & 0xffff);
    CHECK(r == LEFT_BY_UD2);
    CHECK((u_ds_entry & 0xffff) == 0);
    CHECK(gate_esp == tss.esp0 - 6 * 4);
    CHECK(gate_cs == KERNEL_CS);
    CHECK(gate_ss == KERNEL_DS);
    CHECK(gate_ds == USER_DS);
    CHECK(gate_frame[0] == (uint32_t)user_call_ret);
    CHECK(gate_frame[1] == USER_CS);
    CHECK(gate_frame[2] == PARAM2);
    CHECK(gate_frame[3] == PARAM1);
    CHECK(gate_frame[4] == u_esp_at_call);
    CHECK(gate_frame[5] == USER_DS);
    CHECK(u_esp_at_call == u_esp_before - 8);
    CHECK(u_result == PARAM1 + PARAM2);
    CHECK(u_esp_after == u_esp_before);
    CHECK(u_cs_after == USER_CS);
    CHECK(u_ds_after == 0);
}

static void test_same_call(void)
{
    uint32_t r = run(user_call_same);

    printf("same-privilege gate: esp %x (caller's %x), cs %x, pushed %x:%x; esp after %x\n",
           gate_esp, u_esp_before, gate_cs, gate_frame[1], gate_frame[0], u_esp_after);
    CHECK(r == LEFT_BY_UD2);
    CHECK(gate_esp == u_esp_before - 8);
    CHECK(gate_cs == USER_CS);
    CHECK(gate_frame[0] == (uint32_t)user_call_same_ret);
    CHECK(gate_frame[1] == USER_CS);
    CHECK(u_esp_after == u_esp_before);
}

static void check_fault(const char *what, const char *prog, uint32_t vector, uint32_t error_code)
{
    uint32_t r = run(prog);

    printf("%s: vector %u, error code %x at %x:%x\n", what, fault.vector, fault.error_code,
           fault.cs, fault.eip);
    CHECK(r == LEFT_BY_FAULT);
    CHECK(fault.vector == vector);
    CHECK(fault.error_code == error_code);
    CHECK(fault.eip == (uint32_t)prog);
    CHECK(fault.cs == USER_CS);
    CHECK(gate_esp == 0);
}

int guest_main_multiboot(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    setup();
    trap32_set_handler(EXC_UD, fault_handler);
    trap32_set_handler(EXC_GP, fault_handler);
    trap32_set_handler(EXC_NP, fault_handler);
    test_inner_call();
    test_same_call();
    check_fault("gate DPL 0 from CPL 3", user_call_dpl0, EXC_GP, GATE_DPL0);
    check_fault("gate not present", user_call_absent, EXC_NP, GATE_ABSENT);
    guest_finish();
}
