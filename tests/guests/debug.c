/*
 * Debug exceptions (SDM Vol. 3B ch. 17): single-step with RFLAGS.TF and its
 * special cases, DR0-DR3 instruction, data and I/O breakpoints, what DR6
 * and DR7 read back, DR4/DR5, general detect, ICEBP, and RF in the frames
 * of faults, traps and instruction breakpoints.
 *
 * Every #DB goes to on_db, which records where it returned to, DR6 and RCX;
 * each test clears the record, runs a short asm sequence and compares.
 */
#include <stdbool.h>

#include "lib/guest.h"
#include "lib/trap.h"

#define TF     RFLAGS_TF
#define EXC_DB 1
#define RF     (1ul << 16)

#define DR6_FIXED1 0xffff0ff0ul /* bits 4-11 and 16-31 read as 1 (SDM Vol. 3B §17.2.3) */
#define DR6_BD     (1ul << 13)
#define DR6_BS     (1ul << 14)
#define DR7_FIXED1 (1ul << 10)
#define DR7_GD     (1ul << 13)
#define CR4_DE     (1ul << 3)

#define VEC_SOFT 0x40 /* INT n in these tests */
#define MAX_DB   16

#define DR_ACCESSORS(n)                                                                            \
    static inline unsigned long read_dr##n(void)                                                   \
    {                                                                                              \
        unsigned long v;                                                                           \
        __asm__ volatile("mov %%dr" #n ", %0" : "=r"(v));                                          \
        return v;                                                                                  \
    }                                                                                              \
    static inline void write_dr##n(unsigned long v)                                                \
    {                                                                                              \
        __asm__ volatile("mov %0, %%dr" #n : : "r"(v));                                            \
    }
DR_ACCESSORS(0)
DR_ACCESSORS(1)
DR_ACCESSORS(3)
DR_ACCESSORS(4)
DR_ACCESSORS(5)
DR_ACCESSORS(6)
DR_ACCESSORS(7)

static volatile unsigned db_count, soft_count;
static volatile uint64_t db_rip[MAX_DB], db_dr6[MAX_DB], db_rcx[MAX_DB], db_rflags[MAX_DB];
static volatile uint64_t fault_rflags;

static void on_db(struct trap_frame *f)
{
    unsigned n = db_count++;

    if (n < MAX_DB) {
        db_rip[n] = f->rip;
        db_dr6[n] = read_dr6();
        db_rcx[n] = f->rcx;
        db_rflags[n] = f->rflags;
    }
    /* An instruction breakpoint returns with RF set, as a debugger does. */
    if (read_dr6() & 0xf && db_count < MAX_DB)
        f->rflags |= RF;
    if (db_count >= MAX_DB) { /* runaway: stop whatever keeps trapping */
        f->rflags &= ~TF;
        write_dr7(DR7_FIXED1);
    }
}

static void on_soft(struct trap_frame *f)
{
    (void)f;
    soft_count++;
}

static void on_ud(struct trap_frame *f)
{
    fault_rflags = f->rflags;
    f->rip += 2; /* past UD2 */
}

static void reset(void)
{
    db_count = soft_count = 0;
    write_dr6(0);
}

/* n #DBs, the i-th returning to rip[i] with DR6 dr6[i]. */
static void expect(const char *what, unsigned n, const uint64_t *rip, const uint64_t *dr6)
{
    bool ok = db_count == n;

    for (unsigned i = 0; ok && i < n; i++)
        ok = db_rip[i] == rip[i] && db_dr6[i] == dr6[i];
    printf("%s: %u #DB (expected %u)", what, db_count, n);
    for (unsigned i = 0; i < db_count && i < MAX_DB; i++)
        printf(" %lx/%lx", db_rip[i], db_dr6[i]);
    printf("\n");
    CHECK(ok);
}

/* TF set by POPF traps only after the next instruction; then one trap after
 * every instruction, up to and including the POPF that clears TF. */
static void test_single_step(void)
{
    uint64_t l[5], bs = DR6_FIXED1 | DR6_BS;

    reset();
    asm volatile("pushfq\n\t"
                 "orq $0x100, (%%rsp)\n\t"
                 "popfq\n"
                 "1:\tnop\n"
                 "2:\tpushfq\n"
                 "3:\tandq $~0x100, (%%rsp)\n"
                 "4:\tpopfq\n"
                 "5:\n\t"
                 "lea 1b(%%rip), %0\n\t"
                 "lea 2b(%%rip), %1\n\t"
                 "lea 3b(%%rip), %2\n\t"
                 "lea 4b(%%rip), %3\n\t"
                 "lea 5b(%%rip), %4"
                 : "=r"(l[0]), "=r"(l[1]), "=r"(l[2]), "=r"(l[3]), "=r"(l[4])
                 :
                 : "memory", "cc");
    expect("single-step", 4, (uint64_t[]){l[1], l[2], l[3], l[4]}, (uint64_t[]){bs, bs, bs, bs});
    CHECK(!(db_rflags[0] & RF)); /* a trap's frame has RF clear */
}

/* MOV SS holds the trap of its own step back to after the next
 * instruction (SDM Vol. 3A §6.8.3): one trap for both. */
static void test_mov_ss(void)
{
    uint64_t l[4], bs = DR6_FIXED1 | DR6_BS;

    reset();
    asm volatile("mov %%ss, %%eax\n\t"
                 "pushfq\n\t"
                 "orq $0x100, (%%rsp)\n\t"
                 "popfq\n\t"
                 "mov %%eax, %%ss\n\t"
                 "nop\n"
                 "1:\tpushfq\n"
                 "2:\tandq $~0x100, (%%rsp)\n"
                 "3:\tpopfq\n"
                 "4:\n\t"
                 "lea 1b(%%rip), %0\n\t"
                 "lea 2b(%%rip), %1\n\t"
                 "lea 3b(%%rip), %2\n\t"
                 "lea 4b(%%rip), %3"
                 : "=r"(l[0]), "=r"(l[1]), "=r"(l[2]), "=r"(l[3])
                 :
                 : "rax", "memory", "cc");
    expect("single-step over MOV SS", 4, l, (uint64_t[]){bs, bs, bs, bs});
}

/* INT n does not trap: its handler runs with TF clear, and the IRET that
 * sets TF again traps only after the instruction it returns to. */
static void test_int_n(void)
{
    uint64_t l[4], bs = DR6_FIXED1 | DR6_BS;

    reset();
    asm volatile("pushfq\n\t"
                 "orq $0x100, (%%rsp)\n\t"
                 "popfq\n\t"
                 "int $0x40\n\t"
                 "nop\n"
                 "1:\tpushfq\n"
                 "2:\tandq $~0x100, (%%rsp)\n"
                 "3:\tpopfq\n"
                 "4:\n\t"
                 "lea 1b(%%rip), %0\n\t"
                 "lea 2b(%%rip), %1\n\t"
                 "lea 3b(%%rip), %2\n\t"
                 "lea 4b(%%rip), %3"
                 : "=r"(l[0]), "=r"(l[1]), "=r"(l[2]), "=r"(l[3])
                 :
                 : "memory", "cc");
    CHECK(soft_count == 1);
    expect("single-step over INT n", 4, l, (uint64_t[]){bs, bs, bs, bs});
}

/* REP MOVSB traps after every element, at the instruction itself until
 * the count is done (SDM Vol. 3B §17.3.1.4). */
static void test_rep(void)
{
    static volatile uint8_t src[4] = {1, 2, 3, 4}, dst[4];
    uint64_t l[2];

    reset();
    asm volatile("pushfq\n\t"
                 "orq $0x100, (%%rsp)\n\t"
                 "popfq\n"
                 "1:\trep movsb\n"
                 "2:\tpushfq\n\t"
                 "andq $~0x100, (%%rsp)\n\t"
                 "popfq\n\t"
                 "lea 1b(%%rip), %0\n\t"
                 "lea 2b(%%rip), %1"
                 : "=r"(l[0]), "=r"(l[1])
                 : "S"(src), "D"(dst), "c"(3ul)
                 : "memory", "cc");
    printf("rep movsb: %u #DB, rcx %lu %lu %lu\n", db_count, db_rcx[0], db_rcx[1], db_rcx[2]);
    CHECK(db_count == 6);
    CHECK(db_rip[0] == l[0] && db_rcx[0] == 2);
    CHECK(db_rip[1] == l[0] && db_rcx[1] == 1);
    CHECK(db_rip[2] == l[1] && db_rcx[2] == 0);
    CHECK(dst[0] == 1 && dst[2] == 3 && dst[3] == 0);
}

/* SYSCALL at CPL 0 to a stub that restores RFLAGS from R11 and jumps back
 * (TF set by POPF traps only after the JMP, at the return address). */
extern const char syscall_stub[];
asm(".text\n"
    "syscall_stub:\n\t"
    "push %r11\n\t"
    "popfq\n\t"
    "jmp *%rcx\n");

static uint64_t syscall_with_tf(void)
{
    uint64_t after;

    asm volatile("pushfq\n\t"
                 "orq $0x100, (%%rsp)\n\t"
                 "popfq\n\t"
                 "syscall\n"
                 "1:\tpushfq\n\t"
                 "andq $~0x100, (%%rsp)\n\t"
                 "popfq\n\t"
                 "lea 1b(%%rip), %0"
                 : "=r"(after)
                 :
                 : "rcx", "r11", "memory", "cc");
    return after;
}

static void test_syscall(void)
{
    uint16_t ss;
    uint64_t after;

    asm volatile("mov %%ss, %0" : "=r"(ss));
    wrmsr(MSR_EFER, rdmsr(MSR_EFER) | EFER_SCE);
    wrmsr(MSR_STAR, (uint64_t)read_cs() << 32);
    wrmsr(MSR_LSTAR, (uint64_t)syscall_stub);

    /* FMASK clears TF: no trap in the stub; the first is after its JMP. */
    wrmsr(MSR_SFMASK, TF);
    reset();
    after = syscall_with_tf();
    printf("syscall, TF masked: %u #DB, first at %lx (expected %lx)\n", db_count, db_rip[0], after);
    CHECK(db_count == 4 && db_rip[0] == after);

    /* TF kept: the trap after SYSCALL is at the stub's first instruction. */
    wrmsr(MSR_SFMASK, 0);
    reset();
    after = syscall_with_tf();
    printf("syscall, TF kept: %u #DB, first at %lx (expected %lx)\n", db_count, db_rip[0],
           (uint64_t)syscall_stub);
    CHECK(db_count == 7 && db_rip[0] == (uint64_t)syscall_stub && db_rip[3] == after);
    asm volatile("mov %0, %%ss" : : "r"(ss));
}

/* ICEBP (F1) is a #DB trap that leaves DR6 alone, not #UD. */
static void test_icebp(void)
{
    uint64_t after;

    reset();
    asm volatile(".byte 0xf1\n"
                 "1:\tlea 1b(%%rip), %0"
                 : "=r"(after)
                 :
                 : "memory");
    expect("icebp", 1, (uint64_t[]){after}, (uint64_t[]){DR6_FIXED1});
}

/* A fault's frame has RF set; a software interrupt's (a trap) has it clear. */
static void test_rf_in_frames(void)
{
    fault_rflags = 0;
    asm volatile("ud2" ::: "memory");
    printf("#UD frame rflags %lx\n", fault_rflags);
    CHECK(fault_rflags & RF);
}

/* An instruction breakpoint faults before the instruction with B0 in DR6
 * and RF clear in its frame; the handler's RF lets the instruction run,
 * and RF clears once it did, so the next pass faults again. */
static void test_instruction_breakpoint(void)
{
    uint64_t at, b0 = DR6_FIXED1 | 1;

    reset();
    asm volatile("lea 1f(%%rip), %0\n\t"
                 "mov %0, %%dr0\n\t"
                 "mov $0x401, %%eax\n\t" /* L0, R/W0 = 00: execution */
                 "mov %%rax, %%dr7\n\t"
                 "mov $2, %%ecx\n"
                 "1:\tnop\n\t"
                 "dec %%ecx\n\t"
                 "jnz 1b\n\t"
                 "mov $0x400, %%eax\n\t"
                 "mov %%rax, %%dr7"
                 : "=&r"(at)
                 :
                 : "rax", "rcx", "memory", "cc");
    expect("instruction breakpoint", 2, (uint64_t[]){at, at}, (uint64_t[]){b0, b0});
    CHECK(!(db_rflags[0] & RF));

    /* Intel CPUs report no instruction breakpoint on the instruction after
     * MOV SS (SDM Vol. 3A §6.8.3); the vx86 CPU model is Intel's. */
    reset();
    asm volatile("lea 1f(%%rip), %0\n\t"
                 "mov %0, %%dr0\n\t"
                 "mov $0x401, %%eax\n\t"
                 "mov %%rax, %%dr7\n\t"
                 "mov %%ss, %%eax\n\t"
                 "mov %%eax, %%ss\n"
                 "1:\tnop\n\t"
                 "mov $0x400, %%eax\n\t"
                 "mov %%rax, %%dr7"
                 : "=&r"(at)
                 :
                 : "rax", "memory", "cc");
    expect("instruction breakpoint after MOV SS", 0, (uint64_t[]){0}, (uint64_t[]){0});
}

static volatile uint64_t watched[2] __attribute__((aligned(16)));

/* One access of size bytes at p; returns the address after the instruction. */
static uint64_t access(volatile void *p, unsigned size, bool write)
{
    uint64_t after;

#define ONE(insn)                                                                                  \
    asm volatile(insn "\n1:\tlea 1b(%%rip), %0" : "=r"(after) : "r"(p) : "rax", "memory")
    if (write) {
        switch (size) {
        case 1:
            ONE("movb %%al, (%1)");
            break;
        case 2:
            ONE("movw %%ax, (%1)");
            break;
        case 4:
            ONE("movl %%eax, (%1)");
            break;
        default:
            ONE("movq %%rax, (%1)");
            break;
        }
    } else {
        switch (size) {
        case 1:
            ONE("movb (%1), %%al");
            break;
        case 2:
            ONE("movw (%1), %%ax");
            break;
        case 4:
            ONE("movl (%1), %%eax");
            break;
        default:
            ONE("movq (%1), %%rax");
            break;
        }
    }
#undef ONE
    return after;
}

/* DR1 at watched + bp_off, with R/W1 rw and LEN1 len (SDM Vol. 3B §17.2.4);
 * then an access at watched + off: a trap after it, or none. */
static void data_case(unsigned rw, unsigned len, unsigned bp_off, unsigned off, unsigned size,
                      bool write, bool hit)
{
    volatile uint8_t *base = (volatile uint8_t *)watched;
    uint64_t after;

    write_dr1((uint64_t)(base + bp_off));
    write_dr7(DR7_FIXED1 | 1ul << 3 /* G1 */ | (uint64_t)rw << 20 | (uint64_t)len << 22);
    reset();
    after = access(base + off, size, write);
    write_dr7(DR7_FIXED1);
    printf("DR1 +%u rw %u len %u, %s %u at +%u: ", bp_off, rw, len, write ? "write" : "read", size,
           off);
    if (hit)
        expect("hit", 1, (uint64_t[]){after}, (uint64_t[]){DR6_FIXED1 | 2});
    else
        expect("no hit", 0, (uint64_t[]){0}, (uint64_t[]){0});
}

static void test_data_breakpoints(void)
{
    /* LEN encodings: 0 one byte, 1 two, 3 four, 2 eight. R/W: 1 write, 3 read or write. */
    data_case(1, 3, 4, 5, 1, true, true);   /* inside a 4-byte range */
    data_case(1, 3, 4, 3, 1, true, false);  /* just below it */
    data_case(1, 3, 4, 0, 8, true, true);   /* a wider store over it */
    data_case(1, 3, 4, 4, 4, false, false); /* write-only: a read does not hit */
    data_case(3, 2, 3, 7, 1, false, true);  /* 8 bytes, address aligned down to +0 */
    data_case(3, 2, 3, 8, 1, false, false); /* past them */
    data_case(1, 1, 2, 0, 4, true, true);   /* 2 bytes at +2 */
    data_case(1, 1, 2, 4, 2, true, false);
    data_case(3, 0, 1, 1, 1, false, true); /* one byte */
    data_case(3, 0, 1, 2, 1, false, false);
}

/* x87 and SSE accesses report too: FSTP stores eight bytes. */
static void test_data_breakpoint_x87(void)
{
    volatile uint8_t *base = (volatile uint8_t *)watched;
    uint64_t after;

    write_dr1((uint64_t)(base + 4));
    write_dr7(DR7_FIXED1 | 1ul << 3 | 1ul << 20 | 3ul << 22); /* G1, write, 4 bytes */
    reset();
    asm volatile("fldz\n\t"
                 "fstpl (%1)\n"
                 "1:\tlea 1b(%%rip), %0"
                 : "=r"(after)
                 : "r"(base)
                 : "memory");
    write_dr7(DR7_FIXED1);
    expect("FSTP under a write breakpoint", 1, (uint64_t[]){after}, (uint64_t[]){DR6_FIXED1 | 2});
}

/* An I/O breakpoint (R/W = 10) needs CR4.DE: a trap after OUT to its port. */
/* A locked read-modify-write reports too: it is a write (the emu engine
 * runs it as a host atomic, apart from plain stores). */
static void test_data_breakpoint_locked(void)
{
    volatile uint8_t *base = (volatile uint8_t *)watched;
    uint64_t after;

    write_dr1((uint64_t)(base + 4));
    write_dr7(DR7_FIXED1 | 1ul << 3 | 1ul << 20 | 3ul << 22); /* G1, write, 4 bytes */
    reset();
    asm volatile("lock incl 4(%1)\n"
                 "1:\tlea 1b(%%rip), %0"
                 : "=r"(after)
                 : "r"(base)
                 : "memory");
    write_dr7(DR7_FIXED1);
    expect("LOCK INC under a write breakpoint", 1, (uint64_t[]){after},
           (uint64_t[]){DR6_FIXED1 | 2});
}

static void test_io_breakpoint(void)
{
    uint64_t after;

    write_cr4(read_cr4() | CR4_DE);
    write_dr3(0x80);
    write_dr7(DR7_FIXED1 | 1ul << 7 /* G3 */ | 2ul << 28 /* R/W3 = I/O */);
    reset();
    asm volatile("outb %%al, $0x80\n"
                 "1:\tinb $0x81, %%al\n\t"
                 "lea 1b(%%rip), %0"
                 : "=r"(after)
                 :
                 : "rax", "memory");
    write_dr7(DR7_FIXED1);
    write_cr4(read_cr4() & ~CR4_DE);
    expect("I/O breakpoint", 1, (uint64_t[]){after}, (uint64_t[]){DR6_FIXED1 | 8});
}

static void test_registers(void)
{
    uint64_t at;

    write_dr6(0);
    CHECK(read_dr6() == DR6_FIXED1);
    write_dr6(0xffffffff);
    printf("DR6 after writing ones: %lx\n", read_dr6());
    CHECK(read_dr6() == 0xffffeffful);
    write_dr7(1ul << 12 | 1ul << 14 | 1ul << 15); /* reserved (bit 11 is RTM where there is RTM) */
    CHECK(read_dr7() == DR7_FIXED1);
    write_dr0(0x123456789abcul);
    CHECK(read_dr0() == 0x123456789abcul);
    write_dr0(0);

    /* The upper half of DR6/DR7 is reserved: #GP(0). */
    asm volatile(TRAP_TRY("mov %[v], %%dr6") : [at] "=&r"(at) : [v] "r"(1ul << 32) : "memory");
    CHECK(trap_last.vector == EXC_GP && trap_last.rip == at);

    /* Without CR4.DE, DR4 and DR5 are DR6 and DR7; with it, #UD. */
    write_cr4(read_cr4() & ~CR4_DE);
    write_dr4(DR6_BS | 1);
    CHECK(read_dr6() == (DR6_FIXED1 | DR6_BS | 1));
    CHECK(read_dr5() == read_dr7());
    write_cr4(read_cr4() | CR4_DE);
    asm volatile(TRAP_TRY("mov %%dr4, %%rax") : [at] "=&r"(at) : : "rax", "memory");
    CHECK(trap_last.vector == EXC_UD && trap_last.rip == at);
    write_cr4(read_cr4() & ~CR4_DE);

    /* General detect: MOV DR faults with DR6.BD, and GD clears for the handler. */
    write_dr6(0);
    write_dr7(DR7_FIXED1 | DR7_GD);
    asm volatile(TRAP_TRY("mov %%dr0, %%rax") : [at] "=&r"(at) : : "rax", "memory");
    CHECK(trap_last.vector == EXC_DB && trap_last.rip == at);
    CHECK(read_dr6() == (DR6_FIXED1 | DR6_BD));
    CHECK(read_dr7() == DR7_FIXED1);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline, (void)mem_size;
    idt_init();
    trap_set_handler(EXC_DB, on_db);
    trap_set_handler(EXC_UD, on_ud);
    trap_set_handler(VEC_SOFT, on_soft);

    test_registers();
    test_single_step();
    test_mov_ss();
    test_int_n();
    test_rep();
    test_syscall();
    test_icebp();
    test_rf_in_frames();
    test_instruction_breakpoint();
    test_data_breakpoints();
    test_data_breakpoint_x87();
    test_data_breakpoint_locked();
    test_io_breakpoint();
    guest_finish();
}
