/*
 * Hardware task switching with 32-bit TSSs (SDM Vol. 3A chapter 8):
 *   - JMP to a TSS selector saves the state of the running task in its TSS
 *     (registers, EFLAGS, EIP, segment selectors), loads the new task's
 *     registers, segment registers, LDTR and CR3, moves the busy bit and
 *     leaves the previous task link and NT alone (§8.3, Table 8-2);
 *   - CALL to a TSS selector sets NT and the back link and keeps the caller
 *     busy; IRET with NT set returns to it and clears NT in the image the
 *     callee's TSS keeps (§8.4); a busy task cannot be called or jumped to;
 *   - a #DF (a #DE whose gate is not present) reaches a task gate, which
 *     switches to a handler task with the error code on its stack (§6.12.2).
 * Paging is on so that the CR3 in each TSS shows: TEST_VA maps a different
 * frame for task A.
 */
#include "lib/desc32.h"
#include "lib/guest.h"
#include "lib/trap32.h"
#include "taskswitch.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

#define PDE_P  1u
#define PDE_RW 2u

extern uint32_t task_a_seen[SEEN_COUNT], task_b_seen[SEEN_COUNT], task_df_seen[SEEN_COUNT];
extern const char task_a_entry[], task_a_resume[], task_b_entry[], task_b_resume[], task_df_entry[],
    task_df_resume[], main_after_jmp[], main_after_call[];

/* Called by the tasks of taskswitch_tasks.S. */
void task_a_body(void);
void task_b_body(void);
void task_df_body(void);

static uint64_t gdt[9] __attribute__((aligned(8))) = {
    [KERNEL_CS / 8] = 0x00cf9a000000ffffull,
    [KERNEL_DS / 8] = 0x00cf92000000ffffull,
};
static uint64_t ldt[1];
static struct tss32 tss_main, tss_a, tss_b, tss_df;
static uint8_t stack_a[4096] __attribute__((aligned(16)));
static uint8_t stack_b[4096] __attribute__((aligned(16)));
static uint8_t stack_df[4096] __attribute__((aligned(16)));
static volatile uint32_t ldt_data = 0x1dd7da7a, alt_data = 0xa17da7a;

/* 32-bit paging (SDM Vol. 3A §4.3): both directories map the first 4 MiB
 * 1:1 and TEST_VA to their own frame. */
static uint32_t pd_main[1024] __attribute__((aligned(4096)));
static uint32_t pd_a[1024] __attribute__((aligned(4096)));
static uint32_t pt_low[1024] __attribute__((aligned(4096)));
static uint32_t pt_main[1024] __attribute__((aligned(4096)));
static uint32_t pt_a[1024] __attribute__((aligned(4096)));
static volatile uint32_t frame_main[1024] __attribute__((aligned(4096)));
static volatile uint32_t frame_a[1024] __attribute__((aligned(4096)));

/* The TSS descriptors' types while a task ran: [0] main, [1] A, [2] B, [3] DF. */
static unsigned types_in_a[4], types_in_b[4], types_in_df[4];
static unsigned b_calls, df_count;
static struct trap32_record b_busy_call;
static uint32_t df_resume;

static unsigned tss_type(uint16_t sel)
{
    return DESC_TYPE(((volatile uint64_t *)gdt)[sel / 8]);
}

static void tss_types(unsigned types[4])
{
    types[0] = tss_type(TSS_MAIN);
    types[1] = tss_type(TSS_A);
    types[2] = tss_type(TSS_B);
    types[3] = tss_type(TSS_DF);
}

static uint16_t read_tr(void)
{
    uint16_t tr;

    __asm__ volatile("str %0" : "=r"(tr));
    return tr;
}

static uint16_t read_ldtr(void)
{
    uint16_t ldtr;

    __asm__ volatile("sldt %0" : "=r"(ldtr));
    return ldtr;
}

static void setup_paging(void)
{
    for (unsigned i = 0; i < 1024; i++)
        pt_low[i] = i << 12 | PDE_P | PDE_RW;
    pt_main[0] = (uint32_t)frame_main | PDE_P | PDE_RW;
    pt_a[0] = (uint32_t)frame_a | PDE_P | PDE_RW;
    pd_main[0] = pd_a[0] = (uint32_t)pt_low | PDE_P | PDE_RW;
    pd_main[TEST_VA >> 22] = (uint32_t)pt_main | PDE_P | PDE_RW;
    pd_a[TEST_VA >> 22] = (uint32_t)pt_a | PDE_P | PDE_RW;
    frame_main[0] = 0x11111111;
    frame_a[0] = 0xaaaaaaaa;
    write_cr3((uint32_t)pd_main);
    write_cr0(read_cr0() | CR0_PG);
}

/* A task that starts at eip on its own stack with flat kernel segments. */
static void tss_init(struct tss32 *t, const char *eip, uint8_t *stack, unsigned size)
{
    *t = (struct tss32){
        .cr3 = (uint32_t)pd_main,
        .eip = (uint32_t)eip,
        .eflags = EFLAGS_FIXED,
        .esp = (uint32_t)stack + size,
        .cs = KERNEL_CS,
        .ss = KERNEL_DS,
        .ds = KERNEL_DS,
        .es = KERNEL_DS,
        .fs = KERNEL_DS,
        .gs = KERNEL_DS,
        .iomap_base = sizeof(*t),
    };
}

static uint64_t tss_desc(const struct tss32 *t)
{
    return desc_seg((uint32_t)t, sizeof(*t) - 1, DESC_P | SYS_TSS32, 0);
}

static void setup(void)
{
    tss_main = (struct tss32){.cr3 = (uint32_t)pd_main, .iomap_base = sizeof(tss_main)};
    tss_init(&tss_a, task_a_entry, stack_a, sizeof(stack_a));
    tss_a.cr3 = (uint32_t)pd_a;
    tss_a.ldt = LDT_SEL;
    tss_a.fs = LDT_DS;
    tss_a.eflags = EFLAGS_FIXED | EFLAGS_CF | EFLAGS_PF | EFLAGS_ZF;
    tss_a.eax = 0x0a000001;
    tss_a.ecx = 0x0a000002;
    tss_a.edx = 0x0a000003;
    tss_a.ebx = 0x0a000004;
    tss_a.ebp = 0x0a000005;
    tss_a.esi = 0x0a000006;
    tss_a.edi = 0x0a000007;
    tss_init(&tss_b, task_b_entry, stack_b, sizeof(stack_b));
    tss_init(&tss_df, task_df_entry, stack_df, sizeof(stack_df));

    ldt[0] = desc_seg((uint32_t)&ldt_data, 3, DESC_P | DESC_S | DESC_DATA_RW, DESC_DB);
    gdt[TSS_MAIN / 8] = tss_desc(&tss_main);
    gdt[TSS_A / 8] = tss_desc(&tss_a);
    gdt[TSS_B / 8] = tss_desc(&tss_b);
    gdt[TSS_DF / 8] = tss_desc(&tss_df);
    gdt[LDT_SEL / 8] = desc_seg((uint32_t)ldt, sizeof(ldt) - 1, DESC_P | SYS_LDT, 0);
    gdt[ALT_DS / 8] = desc_seg((uint32_t)&alt_data, 3, DESC_P | DESC_S | DESC_DATA_RW, DESC_DB);
    gdt32_load(gdt, sizeof(gdt) / 8, KERNEL_CS, KERNEL_DS);
    __asm__ volatile("ltr %w0" : : "r"(TSS_MAIN));
    idt32_init(KERNEL_CS);
    setup_paging();
}

void task_a_body(void)
{
    tss_types(types_in_a);
}

/* The main task is busy: calling it again is a #GP(its selector) (SDM
 * Vol. 2A, CALL, "Operation", TASK-GATE/TSS). */
void task_b_body(void)
{
    uint32_t at;

    b_calls++;
    tss_types(types_in_b);
    __asm__ volatile(TRAP32_TRY("lcall $" STR(TSS_MAIN) ", $0") : [at] "=&r"(at) : : "memory");
    b_busy_call = trap32_last;
    b_busy_call.eip -= at; /* 0 if the CALL faulted */
}

/* Puts #DE's gate back and resumes the main task after the division,
 * whose saved EIP is undefined for a #DF (SDM Vol. 3A §6.15, Interrupt 8). */
void task_df_body(void)
{
    df_count++;
    tss_types(types_in_df);
    idt32_set(EXC_DE, idt32_get(EXC_DE) | (uint64_t)DESC_P << 40);
    tss_main.eip = df_resume;
}

static void print_types(const char *when, const unsigned t[4])
{
    printf("  TSS types %s: main %x, A %x, B %x, DF %x\n", when, t[0], t[1], t[2], t[3]);
}

static void check_regs(const uint32_t *seen, const struct tss32 *t)
{
    CHECK(seen[SEEN_EAX] == t->eax);
    CHECK(seen[SEEN_ECX] == t->ecx);
    CHECK(seen[SEEN_EDX] == t->edx);
    CHECK(seen[SEEN_EBX] == t->ebx);
    CHECK(seen[SEEN_EBP] == t->ebp);
    CHECK(seen[SEEN_ESI] == t->esi);
    CHECK(seen[SEEN_EDI] == t->edi);
}

/* Runs JMP TSS_A with ESI and EDI holding known values; task A jumps back. */
__attribute__((noinline)) static void jump_to_a(uint32_t *esi, uint32_t *edi)
{
    __asm__ volatile("ljmp $" STR(TSS_A) ", $0\n.globl main_after_jmp\nmain_after_jmp:"
                     : "+S"(*esi), "+D"(*edi)
                     :
                     : "memory", "cc");
}

static void test_jmp(void)
{
    uint32_t esi = 0x5a5a0001, edi = 0x5a5a0002;
    const uint32_t *a = task_a_seen;
    unsigned types[4];

    jump_to_a(&esi, &edi);
    tss_types(types);

    printf("JMP to task A: it saw eax %x edi %x esp %x eflags %x, tr %x ldtr %x cr3 %x\n",
           a[SEEN_EAX], a[SEEN_EDI], a[SEEN_ESP], a[SEEN_EFLAGS], a[SEEN_TR], a[SEEN_LDTR],
           a[SEEN_CR3]);
    printf("  cs %x ss %x ds %x es %x fs %x gs %x, fs:0 %x, [TEST_VA] %x\n", a[SEEN_CS], a[SEEN_SS],
           a[SEEN_DS], a[SEEN_ES], a[SEEN_FS], a[SEEN_GS], a[SEEN_FS0], a[SEEN_TEST]);
    print_types("in A", types_in_a);
    check_regs(a, &(struct tss32){.eax = 0x0a000001,
                                  .ecx = 0x0a000002,
                                  .edx = 0x0a000003,
                                  .ebx = 0x0a000004,
                                  .ebp = 0x0a000005,
                                  .esi = 0x0a000006,
                                  .edi = 0x0a000007});
    CHECK(a[SEEN_ESP] == (uint32_t)stack_a + sizeof(stack_a));
    CHECK(a[SEEN_EFLAGS] == (EFLAGS_FIXED | EFLAGS_CF | EFLAGS_PF | EFLAGS_ZF));
    CHECK(a[SEEN_CS] == KERNEL_CS && a[SEEN_SS] == KERNEL_DS && a[SEEN_DS] == KERNEL_DS);
    CHECK(a[SEEN_ES] == KERNEL_DS && a[SEEN_GS] == KERNEL_DS);
    CHECK(a[SEEN_FS] == LDT_DS);
    CHECK(a[SEEN_FS0] == 0x1dd7da7a);
    CHECK(a[SEEN_TR] == TSS_A);
    CHECK(a[SEEN_LDTR] == LDT_SEL);
    CHECK(a[SEEN_CR3] == (uint32_t)pd_a);
    CHECK(a[SEEN_TEST] == 0xaaaaaaaa);
    /* JMP: the old task is no longer busy, the new one is. */
    CHECK(types_in_a[0] == SYS_TSS32 && types_in_a[1] == SYS_TSS32_BUSY);

    printf("back in main: tr %x ldtr %x cr3 %lx, [TEST_VA] %x, esi %x edi %x, eflags %lx\n",
           read_tr(), read_ldtr(), read_cr3(), *(volatile uint32_t *)TEST_VA, esi, edi,
           read_flags());
    print_types("back in main", types);
    CHECK(read_tr() == TSS_MAIN);
    CHECK(read_ldtr() == 0);
    CHECK(read_cr3() == (uint32_t)pd_main);
    CHECK(*(volatile uint32_t *)TEST_VA == 0x11111111);
    CHECK(esi == 0x5a5a0001 && edi == 0x5a5a0002);
    CHECK(types[0] == SYS_TSS32_BUSY && types[1] == SYS_TSS32);
    CHECK(!(read_flags() & EFLAGS_NT));

    /* What the switches saved: the main task's state at its JMP, task A's
     * at its JMP back; the link field and the static CR3/LDT fields stay. */
    printf("  TSS main: eip %x esi %x edi %x cs %x; TSS A: eip %x eax %x ebx %x esi %x gs %x "
           "link %x\n",
           tss_main.eip, tss_main.esi, tss_main.edi, tss_main.cs, tss_a.eip, tss_a.eax, tss_a.ebx,
           tss_a.esi, tss_a.gs, tss_a.link);
    CHECK(tss_main.eip == (uint32_t)main_after_jmp);
    CHECK(tss_main.esi == 0x5a5a0001 && tss_main.edi == 0x5a5a0002);
    CHECK(tss_main.cs == KERNEL_CS && tss_main.ss == KERNEL_DS && tss_main.ds == KERNEL_DS);
    CHECK(tss_a.eip == (uint32_t)task_a_resume);
    CHECK(tss_a.eax == A_OUT_EAX && tss_a.ebx == A_OUT_EBX && tss_a.esi == A_OUT_ESI);
    CHECK(tss_a.gs == ALT_DS && tss_a.fs == LDT_DS);
    CHECK(tss_a.esp == (uint32_t)stack_a + sizeof(stack_a));
    CHECK(!(tss_a.eflags & EFLAGS_NT));
    CHECK(tss_a.link == 0);
    CHECK(tss_a.cr3 == (uint32_t)pd_a && tss_a.ldt == LDT_SEL);
}

/* Runs CALL TSS_B; task B returns with IRET. */
__attribute__((noinline)) static void call_b(void)
{
    __asm__ volatile("lcall $" STR(TSS_B) ", $0\n.globl main_after_call\nmain_after_call:"
                     :
                     :
                     : "memory", "cc");
}

static void test_call(void)
{
    const uint32_t *b = task_b_seen;
    unsigned types[4];

    call_b();
    tss_types(types);
    printf("CALL to task B: it saw eflags %x, tr %x; link %x; its #GP calling main: vector %u "
           "error code %x\n",
           b[SEEN_EFLAGS], b[SEEN_TR], tss_b.link, b_busy_call.vector, b_busy_call.error_code);
    print_types("in B", types_in_b);
    print_types("back in main", types);
    CHECK(b_calls == 1);
    CHECK(b[SEEN_EFLAGS] & EFLAGS_NT);
    CHECK(b[SEEN_TR] == TSS_B);
    CHECK(b[SEEN_ESP] == (uint32_t)stack_b + sizeof(stack_b));
    CHECK(tss_b.link == TSS_MAIN);
    /* CALL: both busy; the IRET frees the callee. */
    CHECK(types_in_b[0] == SYS_TSS32_BUSY && types_in_b[2] == SYS_TSS32_BUSY);
    CHECK(b_busy_call.vector == EXC_GP && b_busy_call.error_code == TSS_MAIN);
    CHECK(b_busy_call.eip == 0);
    CHECK(types[0] == SYS_TSS32_BUSY && types[2] == SYS_TSS32);
    CHECK(read_tr() == TSS_MAIN);
    CHECK(!(read_flags() & EFLAGS_NT));
    printf("  TSS main: eip %x; TSS B: eip %x eax %x eflags %x\n", tss_main.eip, tss_b.eip,
           tss_b.eax, tss_b.eflags);
    CHECK(tss_main.eip == (uint32_t)main_after_call);
    CHECK(tss_b.eip == (uint32_t)task_b_resume);
    CHECK(tss_b.eax == B_OUT_EAX);
    CHECK(!(tss_b.eflags & EFLAGS_NT));

    /* Called again, B resumes after its IRET and starts over. */
    call_b();
    printf("second CALL: %u calls, eflags in B %x\n", b_calls, b[SEEN_EFLAGS]);
    CHECK(b_calls == 2);
    CHECK(b[SEEN_EFLAGS] & EFLAGS_NT);
    CHECK(tss_type(TSS_B) == SYS_TSS32);
}

/* JMP to the running task: its TSS is busy (SDM Vol. 2A, JMP). */
static void test_busy_jmp(void)
{
    uint32_t at;

    __asm__ volatile(TRAP32_TRY("ljmp $" STR(TSS_MAIN) ", $0") : [at] "=&r"(at) : : "memory");
    printf("JMP to the running task: vector %u, error code %x\n", trap32_last.vector,
           trap32_last.error_code);
    CHECK(trap32_last.vector == EXC_GP);
    CHECK(trap32_last.error_code == TSS_MAIN);
    CHECK(trap32_last.eip == at);
    CHECK(read_tr() == TSS_MAIN);
}

/* #DE with its gate not present: the #NP that delivery raises is a second
 * contributory exception, so a #DF follows (SDM Vol. 3A §6.15, Table 6-5). */
static void test_double_fault(void)
{
    const uint32_t *d = task_df_seen;
    uint32_t eax = 1, edx = 0;

    idt32_set(EXC_DF, desc_gate(TSS_DF, 0, DESC_P | SYS_TASK_GATE, 0));
    idt32_set(EXC_DE, idt32_get(EXC_DE) & ~((uint64_t)DESC_P << 40));
    __asm__ volatile("movl $1f, %[resume]\n\t"
                     "divl %[zero]\n"
                     "1:"
                     : [resume] "=m"(df_resume), "+a"(eax), "+d"(edx)
                     : [zero] "r"(0u)
                     : "memory", "cc");
    printf("#DF through a task gate: %u, error code %x, tr %x, eflags %x, link %x\n", df_count,
           d[SEEN_ERROR], d[SEEN_TR], d[SEEN_EFLAGS], tss_df.link);
    print_types("in the #DF task", types_in_df);
    CHECK(df_count == 1);
    CHECK(d[SEEN_ERROR] == 0);
    CHECK(d[SEEN_ESP] == (uint32_t)stack_df + sizeof(stack_df) - 4);
    CHECK(d[SEEN_TR] == TSS_DF);
    CHECK(d[SEEN_EFLAGS] & EFLAGS_NT);
    CHECK(tss_df.link == TSS_MAIN);
    CHECK(types_in_df[0] == SYS_TSS32_BUSY && types_in_df[3] == SYS_TSS32_BUSY);
    CHECK(tss_type(TSS_DF) == SYS_TSS32);
    CHECK(tss_df.eip == (uint32_t)task_df_resume);
    CHECK(read_tr() == TSS_MAIN);
    CHECK(eax == 1);
}

int guest_main_multiboot(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    setup();
    test_jmp();
    test_call();
    test_busy_jmp();
    test_double_fault();
    guest_finish();
}
