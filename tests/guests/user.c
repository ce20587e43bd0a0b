/*
 * User mode: a GDT with user segments and a TSS, a drop to CPL 3 with IRETQ,
 * system calls with SYSCALL/SYSRET and with INT 0x80 through a DPL-3 gate,
 * and the faults that CPL 3 must take: privileged instructions, port I/O
 * with IOPL 0, INT n through a DPL-0 gate, supervisor and read-only pages;
 * and GS after IRETQ to CPL 3 nulls a DPL-0 selector in it (SDM IRET): in
 * 64-bit mode the null GS keeps its base, which GS: accesses still use.
 * Each user program runs by itself from user_enter() until it returns or
 * faults; the kernel checks its result and what the kernel side saw.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"
#include "user.h"

#define STR_(x) #x
#define STR(x)  STR_(x)

/* Above the identity map: a supervisor-only page and a read-only user page. */
#define KERNEL_PAGE  0x40000000
#define USER_RO_PAGE 0x40001000

#define USER_FAULTED (-1000L) /* what user_enter() returns after a fault */

/* A 64-bit TSS (SDM Vol. 3A §8.7, Figure 8-11). */
struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3, iomap_base;
};

/* Code and data descriptors (SDM Vol. 3A §3.4.5): base 0, limit 4 GiB.
 * The TSS descriptor takes two slots, filled at run time. */
static uint64_t gdt[8] __attribute__((aligned(16))) = {
    [KERNEL_CS / 8] = 0x00af9b000000ffffull, /* 64-bit code (L), DPL 0 */
    [KERNEL_DS / 8] = 0x00cf93000000ffffull, /* data, DPL 0 */
    [USER_CS32 / 8] = 0x00cffb000000ffffull, /* 32-bit code, DPL 3: unused */
    [USER_DS / 8] = 0x00cff3000000ffffull,   /* data, DPL 3 */
    [USER_CS / 8] = 0x00affb000000ffffull,   /* 64-bit code (L), DPL 3 */
};

static struct tss64 tss;
static uint8_t kernel_stack[8192] __attribute__((aligned(16)));
static uint8_t user_stack[8192] __attribute__((aligned(16)));
static volatile uint8_t frames[2][4096] __attribute__((aligned(4096)));

/* Used by user_entry.S. */
uint64_t syscall_rsp, syscall_rflags;

long user_enter(long (*prog)(void), void *stack_top);
__attribute__((noreturn)) void user_leave(long value);
void syscall_entry(void);
extern const char user_exit[];

/* What the kernel side saw of the last system call or user fault. */
static struct {
    uint64_t cs, frame_cs, user_rflags;
} seen;
static struct trap_record fault;

static void load_gdt_tss(void)
{
    uint64_t base = (uint64_t)&tss;
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } gdtr = {sizeof(gdt) - 1, (uint64_t)gdt};

    tss.rsp[0] = (uint64_t)kernel_stack + sizeof(kernel_stack);
    /* No I/O permission bitmap: at CPL 3 with IOPL 0 every port faults
     * (SDM Vol. 1 §19.5.2). */
    tss.iomap_base = sizeof(tss);
    /* 64-bit TSS descriptor, type 9 (available), present (SDM Vol. 3A §8.2.3, Figure 8-4). */
    gdt[TSS_SEL / 8] =
        (sizeof(tss) - 1) | (base & 0xffffff) << 16 | 0x89ull << 40 | (base >> 24 & 0xff) << 56;
    gdt[TSS_SEL / 8 + 1] = base >> 32;
    asm volatile("lgdt %[gdtr]\n\t"
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
}

/* SDM Vol. 2B, SYSCALL and SYSRET; Vol. 3A §5.8.8. */
static void setup_syscall(void)
{
    syscall_rsp = (uint64_t)kernel_stack + sizeof(kernel_stack);
    wrmsr(MSR_STAR, (uint64_t)(USER_CS32 & ~3) << 48 | (uint64_t)KERNEL_CS << 32);
    wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
    wrmsr(MSR_SFMASK, RFLAGS_TF | RFLAGS_IF | RFLAGS_DF | RFLAGS_AC);
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
}

/* Everything user-accessible but the two test pages' permissions. */
static void setup_paging(void)
{
    uint64_t *pml4 = pgtable_new();

    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW | PTE_US);
    pgtable_map(pml4, KERNEL_PAGE, (uint64_t)frames[0], PAGE_4K, PTE_P | PTE_RW);
    pgtable_map(pml4, USER_RO_PAGE, (uint64_t)frames[1], PAGE_4K, PTE_P | PTE_US);
    write_cr3((uint64_t)pml4);
}

static long sum(long a, long b, long c, long d)
{
    return a + 10 * b + 100 * c + 1000 * d;
}

long syscall_dispatch(long a, long b, long c, long d, long nr, uint64_t user_rflags)
{
    seen.cs = read_cs();
    seen.user_rflags = user_rflags;
    return nr == SYS_SUM ? sum(a, b, c, d) : 0;
}

static void int80_handler(struct trap_frame *f)
{
    seen.cs = read_cs();
    seen.frame_cs = f->cs;
    if (f->rax == SYS_SUM)
        f->rax = (uint64_t)sum((long)f->rdi, (long)f->rsi, (long)f->rdx, (long)f->r10);
    else
        f->rax = 0;
}

/* #UD, #GP and #PF: a user program's fault ends it, and so does its UD2 at
 * user_exit; a kernel fault ends the test. */
static void fault_handler(struct trap_frame *f)
{
    if (SEL_RPL(f->cs) != 3)
        trap_unexpected(f);
    if (f->vector == EXC_UD && f->rip == (uint64_t)user_exit)
        user_leave((long)f->rax);
    fault = (struct trap_record){
        .vector = f->vector,
        .error_code = f->error_code,
        .rip = f->rip,
        .cs = f->cs,
        .cr2 = f->vector == EXC_PF ? read_cr2() : 0,
    };
    user_leave(USER_FAULTED);
}

static long run(long (*prog)(void))
{
    seen.cs = seen.frame_cs = seen.user_rflags = syscall_rflags = ~0ull;
    fault.vector = TRAP_NONE;
    return user_enter(prog, user_stack + sizeof(user_stack));
}

/* Runs a program that should return; a fault fails the check. */
static long run_returning(const char *what, long (*prog)(void))
{
    long r = run(prog);

    if (fault.vector != TRAP_NONE)
        printf("%s: faulted: vector %lu, error code 0x%lx, rip %lx\n", what, fault.vector,
               fault.error_code, fault.rip);
    CHECK(fault.vector == TRAP_NONE);
    return r;
}

/* ---- user programs: CPL 3 code, no port I/O (so no printf) ---- */

static long do_syscall(long nr, long a, long b, long c, long d)
{
    register long r10 __asm__("r10") = d;
    long ret;

    asm volatile("syscall"
                 : "=a"(ret)
                 : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10)
                 : "rcx", "r11", "memory");
    return ret;
}

static long do_int80(long nr, long a, long b, long c, long d)
{
    register long r10 __asm__("r10") = d;
    long ret;

    asm volatile("int $0x80" : "=a"(ret) : "a"(nr), "D"(a), "S"(b), "d"(c), "r"(r10) : "memory");
    return ret;
}

static long prog_cpl(void)
{
    return SEL_RPL(read_cs());
}

static long prog_syscall(void)
{
    return do_syscall(SYS_SUM, 1, 2, 3, 4);
}

static long prog_int80(void)
{
    return do_int80(SYS_SUM, 5, 6, 7, 8);
}

/* Sets DF around a SYSCALL: SFMASK must clear it for the kernel, SYSRET
 * must restore it from R11. Returns RFLAGS after SYSRET. */
static long prog_sfmask(void)
{
    unsigned long flags;

    asm volatile("std\n\tsyscall\n\tpushf\n\tpop %0\n\tcld"
                 : "=r"(flags)
                 : "a"(SYS_NOP)
                 : "rcx", "r11", "memory");
    return (long)flags;
}

/* Each faults on its first instruction. */
__attribute__((naked)) static long prog_hlt(void)
{
    asm("hlt");
}

__attribute__((naked)) static long prog_cli(void)
{
    asm("cli");
}

__attribute__((naked)) static long prog_outb(void)
{
    asm("outb %al, $0x80");
}

__attribute__((naked)) static long prog_int81(void)
{
    asm("int $0x81");
}

__attribute__((naked)) static long prog_read_kernel(void)
{
    asm("movb " STR(KERNEL_PAGE) " + 0x10, %al");
}

__attribute__((naked)) static long prog_write_ro(void)
{
    asm("movb $1, " STR(USER_RO_PAGE) " + 0x20");
}

#define CR4_UMIP     (1ul << 11)
#define CPUID_7_UMIP (1u << 2) /* ECX */

/* User-mode instruction prevention's instructions, each storing a value
 * that depends on its system register, and returning it. */
__attribute__((naked)) static long prog_smsw(void)
{
    asm("smsw %eax\n\tmovzwl %ax, %eax\n\tret");
}

__attribute__((naked)) static long prog_sgdt(void)
{
    asm("sgdt -16(%rsp)\n\tmovzwl -16(%rsp), %eax\n\tret");
}

__attribute__((naked)) static long prog_sidt(void)
{
    asm("sidt -16(%rsp)\n\tmovzwl -16(%rsp), %eax\n\tret");
}

__attribute__((naked)) static long prog_str(void)
{
    asm("str %ax\n\tmovzwl %ax, %eax\n\tret");
}

__attribute__((naked)) static long prog_sldt(void)
{
    asm("sldt %ax\n\tmovzwl %ax, %eax\n\tret");
}

#define CR4_TSD          (1ul << 2)
#define MSR_TSC_AUX      0xc0000103u
#define CPUID_81_RDTSCP  (1u << 27) /* EDX of 0x80000001 */

/* RDTSC's 64-bit count; RDTSCP's TSC_AUX (ECX), with a PAUSE before each
 * (the three have handlers of their own in the emu engine). */
__attribute__((naked)) static long prog_rdtsc(void)
{
    asm("pause\n\trdtsc\n\tshl $32, %rdx\n\tor %rdx, %rax\n\tret");
}

__attribute__((naked)) static long prog_rdtscp(void)
{
    asm("pause\n\trdtscp\n\tmov %ecx, %eax\n\tret");
}

/* ---- the kernel's checks ---- */

static void test_programs(void)
{
    long r;

    r = run_returning("CPL", prog_cpl);
    printf("CPL in user mode: %ld (kernel: %u)\n", r, SEL_RPL(read_cs()));
    CHECK(r == 3);
    CHECK(read_cs() == KERNEL_CS);

    r = run_returning("SYSCALL", prog_syscall);
    printf("SYSCALL: result %ld, kernel CS %lx\n", r, seen.cs);
    CHECK(r == 4321);
    CHECK(seen.cs == KERNEL_CS);

    r = run_returning("INT 0x80", prog_int80);
    printf("INT 0x80: result %ld, kernel CS %lx, frame CS %lx\n", r, seen.cs, seen.frame_cs);
    CHECK(r == 8765);
    CHECK(seen.cs == KERNEL_CS);
    CHECK(seen.frame_cs == USER_CS);

    r = run_returning("SFMASK", prog_sfmask);
    printf("SFMASK: kernel RFLAGS %lx, R11 %lx, user RFLAGS after SYSRET %lx\n", syscall_rflags,
           seen.user_rflags, (uint64_t)r);
    CHECK(!(syscall_rflags & RFLAGS_DF));
    CHECK(seen.user_rflags & RFLAGS_DF);
    CHECK(r & RFLAGS_DF);
}

#define MSR_GS_BASE 0xc0000101u
#define GS_MAGIC    0x6773626173650001L

static const long gs_target = GS_MAGIC;

static long prog_gs_read(void)
{
    long v;

    asm volatile("mov %%gs:0, %0" : "=r"(v));
    return v;
}

static long prog_gs_selector(void)
{
    uint16_t v;

    asm volatile("mov %%gs, %0" : "=r"(v));
    return v;
}

/* Leaves GS null with base 0. */
static void test_iret_null_gs(void)
{
    long r;

    asm volatile("mov %0, %%gs" : : "r"(KERNEL_DS));
    wrmsr(MSR_GS_BASE, (uint64_t)&gs_target);
    r = run_returning("GS after IRETQ to CPL 3", prog_gs_selector);
    printf("GS holding a DPL-0 selector after IRETQ to CPL 3: %lx\n", r);
    CHECK(r == 0);
    asm volatile("mov %0, %%gs" : : "r"(KERNEL_DS));
    wrmsr(MSR_GS_BASE, (uint64_t)&gs_target);
    r = run_returning("GS: read after IRETQ to CPL 3", prog_gs_read);
    printf("GS: read through the nulled GS: %lx\n", r);
    CHECK(r == GS_MAGIC);
    asm volatile("mov %0, %%gs" : : "r"(0));
    wrmsr(MSR_GS_BASE, 0);
}

static void check_fault(const char *what, long r, uint64_t vector, uint64_t error_code,
                        long (*prog)(void))
{
    printf("%s: vector %lu, error code 0x%lx, rip %lx, cs %lx\n", what, fault.vector,
           fault.error_code, fault.rip, fault.cs);
    CHECK(r == USER_FAULTED);
    CHECK(fault.vector == vector);
    CHECK(fault.error_code == error_code);
    CHECK(fault.rip == (uint64_t)prog);
    CHECK(fault.cs == USER_CS);
}

static void test_faults(void)
{
    long r;

    r = run(prog_hlt);
    check_fault("HLT at CPL 3", r, EXC_GP, 0, prog_hlt);
    r = run(prog_cli);
    check_fault("CLI at CPL 3, IOPL 0", r, EXC_GP, 0, prog_cli);
    r = run(prog_outb);
    check_fault("OUT at CPL 3, IOPL 0", r, EXC_GP, 0, prog_outb);
    /* Error code: the gate's index with the IDT bit (SDM Vol. 3A §6.13). */
    r = run(prog_int81);
    check_fault("INT 0x81 through a DPL-0 gate", r, EXC_GP, 0x81 << 3 | 2, prog_int81);
    r = run(prog_read_kernel);
    check_fault("read of a supervisor page", r, EXC_PF, PF_P | PF_U, prog_read_kernel);
    CHECK(fault.cr2 == KERNEL_PAGE + 0x10);
    r = run(prog_write_ro);
    check_fault("write to a read-only page", r, EXC_PF, PF_P | PF_W | PF_U, prog_write_ro);
    CHECK(fault.cr2 == USER_RO_PAGE + 0x20);
    CHECK(frames[1][0x20] == 0);
}

/* CR4.UMIP (SDM Vol. 3A §2.5): at CPL 3 SGDT, SIDT, SLDT, SMSW and STR
 * work while it is clear and raise #GP(0) while it is set. */
static void test_umip(void)
{
    static const struct {
        const char *name;
        long (*prog)(void);
    } progs[] = {{"SMSW at CPL 3, CR4.UMIP set", prog_smsw},
                 {"SGDT at CPL 3, CR4.UMIP set", prog_sgdt},
                 {"SIDT at CPL 3, CR4.UMIP set", prog_sidt},
                 {"STR at CPL 3, CR4.UMIP set", prog_str},
                 {"SLDT at CPL 3, CR4.UMIP set", prog_sldt}};
    uint32_t r[4];

    cpuid(7, 0, r);
    if (!(r[2] & CPUID_7_UMIP)) {
        printf("SKIP UMIP: not in CPUID.07H:ECX\n");
        return;
    }
    CHECK(run_returning("SMSW at CPL 3", prog_smsw) == (long)(read_cr0() & 0xffff));
    CHECK(run_returning("SGDT at CPL 3", prog_sgdt) == (long)(sizeof(gdt) - 1));
    CHECK(run_returning("STR at CPL 3", prog_str) == TSS_SEL);
    CHECK(run_returning("SLDT at CPL 3", prog_sldt) == 0);
    run_returning("SIDT at CPL 3", prog_sidt);
    write_cr4(read_cr4() | CR4_UMIP);
    for (unsigned i = 0; i < sizeof(progs) / sizeof(progs[0]); i++) {
        long ret = run(progs[i].prog);

        check_fault(progs[i].name, ret, EXC_GP, 0, progs[i].prog);
    }
    write_cr4(read_cr4() & ~CR4_UMIP);
}

/* CR4.TSD (SDM Vol. 3A §2.5): RDTSC and RDTSCP at CPL 3 raise #GP(0) while
 * it is set. Each runs 40 times, so that the translator's code runs them
 * too (it translates a block after 16 runs). */
static void test_tsd(void)
{
    uint32_t r[4];
    int rdtscp;
    long prev = 0;

    cpuid(0x80000001, 0, r);
    rdtscp = (r[3] & CPUID_81_RDTSCP) != 0;
    if (rdtscp)
        wrmsr(MSR_TSC_AUX, 0x1234);
    for (unsigned i = 0; i < 40; i++) {
        long t = run_returning("RDTSC at CPL 3", prog_rdtsc);

        CHECK(t > prev);
        prev = t;
        if (rdtscp)
            CHECK(run_returning("RDTSCP at CPL 3", prog_rdtscp) == 0x1234);
    }
    write_cr4(read_cr4() | CR4_TSD);
    for (unsigned i = 0; i < 40; i++) {
        long ret = run(prog_rdtsc);

        /* PAUSE comes first: the fault is the next instruction's. */
        CHECK(ret == USER_FAULTED && fault.vector == EXC_GP && fault.error_code == 0 &&
              fault.rip == (uint64_t)prog_rdtsc + 2);
        if (rdtscp) {
            ret = run(prog_rdtscp);
            CHECK(ret == USER_FAULTED && fault.vector == EXC_GP &&
                  fault.rip == (uint64_t)prog_rdtscp + 2);
        }
    }
    write_cr4(read_cr4() & ~CR4_TSD);
    printf("CR4.TSD: RDTSC%s at CPL 3 run while clear, #GP(0) while set\n",
           rdtscp ? " and RDTSCP" : "");
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    load_gdt_tss();
    idt_init();
    idt_set_dpl(0x80, 3);
    trap_set_handler(0x80, int80_handler);
    trap_set_handler(EXC_UD, fault_handler);
    trap_set_handler(EXC_GP, fault_handler);
    trap_set_handler(EXC_PF, fault_handler);
    setup_syscall();
    setup_paging();
    test_programs();
    test_iret_null_gs();
    test_faults();
    test_umip();
    test_tsd();
    guest_finish();
}
