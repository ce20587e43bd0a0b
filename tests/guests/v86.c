/*
 * Virtual-8086 mode (SDM Vol. 3A chapter 20): enters it with IRET to an
 * EFLAGS image with VM set, runs 16-bit programs there (v86_code.S) and
 * checks what the CPU does in between:
 *   - addresses are selector << 4 + offset, far calls and returns work;
 *   - with IOPL 3, PUSHF, POPF, CLI, STI and INT n work, and INT n goes
 *     through the protected-mode IDT to a CPL-0 handler on the TSS's
 *     SS0:ESP0 stack, with GS, FS, DS, ES, SS, ESP, EFLAGS, CS and EIP of
 *     v86 mode on it and the data segment registers null (§20.3.1.1), and
 *     IRET goes back;
 *   - with IOPL < 3, INT n, PUSHF, POPF, CLI, STI and IRET raise #GP(0)
 *     (§20.2.7);
 *   - IN and OUT obey the TSS's I/O permission bitmap alone (§20.2.8.1);
 *   - every program leaves v86 mode through an interrupt or exception.
 */
#include <stddef.h>

#include "lib/desc32.h"
#include "lib/guest.h"
#include "lib/trap32.h"
#include "v86.h"

#define KERNEL_CS 0x08
#define KERNEL_DS 0x10
#define TSS_SEL   0x18

#define VEC_SERVICE 0x30 /* the v86 programs' "system call" */
#define VEC_EXIT    0x31 /* ends a program */

#define LEFT_BY_EXIT  1 /* what ring32_enter returns */
#define LEFT_BY_FAULT 2

#define PIC1_DATA 0x21
#define PIC2_DATA 0xa1

extern const char v86_code[], v86_code_end[], v86_main[], v86_far_ret[], v86_int30_ret[],
    v86_main_exit[], v86_int[], v86_pushf[], v86_popf[], v86_cli[], v86_sti[], v86_iret[],
    v86_io_ok[], v86_io_ok_hlt[], v86_io_denied[], v86_io_denied_in[], v86_io_word[],
    v86_io_word_in[], v86_io_imm[];

/* A TSS with a full I/O permission bitmap and the byte of ones that must
 * follow it (SDM Vol. 1 §19.5.2). */
static struct __attribute__((packed)) {
    struct tss32 tss;
    uint8_t iomap[8192 + 1];
} task;

static uint64_t gdt[4] = {
    [KERNEL_CS / 8] = 0x00cf9a000000ffffull,
    [KERNEL_DS / 8] = 0x00cf92000000ffffull,
};

static uint8_t kernel_stack[8192] __attribute__((aligned(16)));

/* What the kernel saw of the last program. */
static struct trap_frame32 service_frame, exit_frame;
static struct trap32_record fault;
static uint32_t service_esp, service_cs, service_ss;

static uint16_t off(const char *label)
{
    return (uint16_t)(label - v86_code);
}

static volatile uint16_t *result(unsigned offset)
{
    return (volatile uint16_t *)((V86_DATA_SEG << 4) + offset);
}

static void setup(void)
{
    task.tss.esp0 = (uint32_t)kernel_stack + sizeof(kernel_stack);
    task.tss.ss0 = KERNEL_DS;
    task.tss.iomap_base = offsetof(typeof(task), iomap);
    memset(task.iomap, 0xff, sizeof(task.iomap));
    task.iomap[SCRATCH_PORT / 8] &= (uint8_t) ~(1u << SCRATCH_PORT % 8);
    gdt[TSS_SEL / 8] = desc_seg((uint32_t)&task, sizeof(task) - 1, DESC_P | SYS_TSS32, 0);
    gdt32_load(gdt, sizeof(gdt) / 8, KERNEL_CS, KERNEL_DS);
    __asm__ volatile("ltr %w0" : : "r"(TSS_SEL));
    idt32_init(KERNEL_CS);
    idt32_set_dpl(VEC_SERVICE, 3);
    idt32_set_dpl(VEC_EXIT, 3);
    /* STI in v86 mode must not let the timer in. */
    outb(PIC1_DATA, 0xff);
    outb(PIC2_DATA, 0xff);
    memcpy((void *)(V86_CODE_SEG << 4), v86_code, (unsigned long)(v86_code_end - v86_code));
}

/* INT 0x30: records the frame and returns 0x600d in AX. */
static void service_handler(struct trap_frame32 *f)
{
    service_frame = *f;
    service_esp = (uint32_t)&f->eip;
    service_cs = read_cs();
    __asm__ volatile("mov %%ss, %0" : "=r"(service_ss));
    f->eax = (f->eax & 0xffff0000) | 0x600d;
}

static void exit_handler(struct trap_frame32 *f)
{
    exit_frame = *f;
    ring32_leave(LEFT_BY_EXIT);
}

static void gp_handler(struct trap_frame32 *f)
{
    if (!(f->eflags & EFLAGS_VM))
        trap32_unexpected(f);
    fault = trap32_record_of(f);
    ring32_leave(LEFT_BY_FAULT);
}

/* Runs the program at entry in v86 mode with the given IOPL. */
static uint32_t run(const char *entry, unsigned iopl)
{
    const uint32_t frame[] = {
        off(entry),    V86_CODE_SEG,  EFLAGS_VM | iopl << 12 | EFLAGS_FIXED,
        V86_STACK_TOP, V86_STACK_SEG, V86_DATA_SEG,
        V86_DATA_SEG,  V86_FS,        V86_GS,
    };

    memset((void *)(V86_DATA_SEG << 4), 0, R_SIZE);
    memset(&service_frame, 0, sizeof(service_frame));
    memset(&exit_frame, 0, sizeof(exit_frame));
    fault.vector = TRAP32_NONE;
    return ring32_enter(frame, sizeof(frame) / 4);
}

static void test_main(void)
{
    uint32_t r = run(v86_main, 3);
    const struct trap_frame32 *s = &service_frame;

    printf("IOPL 3: left by %s, fault vector %u at %x:%x\n", r == LEFT_BY_EXIT ? "INT 0x31" : "?",
           fault.vector, fault.cs, fault.eip);
    CHECK(r == LEFT_BY_EXIT);
    CHECK(fault.vector == TRAP32_NONE);

    printf("segments: %x; far call: CS %x, pushed %x:%x, CS after %x\n", *result(R_SEGARITH),
           *result(R_FAR_CS), *result(R_FAR_RETCS), *result(R_FAR_RETIP), *result(R_CS));
    CHECK(*result(R_SEGARITH) == 0xbeef);
    CHECK(*(volatile uint16_t *)0x30100 == 0xbeef);
    CHECK(*result(R_FAR_CS) == V86_CODE_SEG + 1);
    CHECK(*result(R_FAR_RETCS) == V86_CODE_SEG);
    CHECK(*result(R_FAR_RETIP) == off(v86_far_ret));
    CHECK(*result(R_CS) == V86_CODE_SEG);

    printf("flags: pushf %x, after popf %x, sti %x, cli %x, pushfd %x\n", *result(R_FLAGS),
           *result(R_POPF), *result(R_STI), *result(R_CLI), *(volatile uint32_t *)result(R_PUSHFD));
    CHECK((*result(R_FLAGS) & (EFLAGS_IOPL_3 | EFLAGS_FIXED)) == (EFLAGS_IOPL_3 | EFLAGS_FIXED));
    CHECK(*result(R_POPF) & RFLAGS_DF);
    CHECK((*result(R_POPF) & EFLAGS_IOPL_3) == EFLAGS_IOPL_3);
    CHECK(*result(R_STI) & RFLAGS_IF);
    CHECK(!(*result(R_CLI) & RFLAGS_IF));
    CHECK(!(*(volatile uint32_t *)result(R_PUSHFD) & (EFLAGS_VM | EFLAGS_RF)));
    CHECK((*(volatile uint32_t *)result(R_PUSHFD) & EFLAGS_IOPL_3) == EFLAGS_IOPL_3);

    printf("INT 0x30 frame: %x:%x eflags %x, %x:%x, es %x ds %x fs %x gs %x; "
           "at entry ds %x es %x fs %x gs %x, cs %x ss %x, esp %x\n",
           s->cs, s->eip, s->eflags, s->ss, s->esp, s->v86_es, s->v86_ds, s->v86_fs, s->v86_gs,
           s->ds, s->es, s->fs, s->gs, service_cs, service_ss, service_esp);
    CHECK(s->vector == VEC_SERVICE);
    CHECK(s->cs == V86_CODE_SEG);
    CHECK(s->eip == off(v86_int30_ret));
    CHECK(s->eflags & EFLAGS_VM);
    CHECK((s->eflags & EFLAGS_IOPL_3) == EFLAGS_IOPL_3);
    CHECK(s->ss == V86_STACK_SEG);
    CHECK(s->esp == V86_STACK_TOP);
    CHECK(s->v86_es == V86_DATA_SEG + 0x10);
    CHECK(s->v86_ds == V86_DATA_SEG);
    CHECK(s->v86_fs == V86_FS);
    CHECK(s->v86_gs == V86_GS);
    CHECK(s->ds == 0 && s->es == 0 && s->fs == 0 && s->gs == 0);
    CHECK(service_cs == KERNEL_CS);
    CHECK(service_ss == KERNEL_DS);
    /* Nine dwords below ESP0: no error code for INT n. */
    CHECK(service_esp == task.tss.esp0 - 9 * 4);

    printf("after IRET: AX %x, SP %x, ES %x; port %x read %x\n", *result(R_INT), *result(R_SP),
           *result(R_ES), SCRATCH_PORT, *result(R_IO) & 0xff);
    CHECK(*result(R_INT) == 0x600d);
    CHECK(*result(R_SP) == V86_STACK_TOP);
    CHECK(*result(R_ES) == V86_DATA_SEG + 0x10);
    CHECK((*result(R_IO) & 0xff) == 0x5a);
    CHECK(inb(SCRATCH_PORT) == 0x5a);

    printf("INT 0x31 frame: %x:%x eflags %x\n", exit_frame.cs, exit_frame.eip, exit_frame.eflags);
    CHECK(exit_frame.cs == V86_CODE_SEG);
    CHECK(exit_frame.eip == off(v86_main_exit) + 2u);
    CHECK(exit_frame.eflags & EFLAGS_VM);
    CHECK(read_cs() == KERNEL_CS);
    CHECK(!(read_flags() & EFLAGS_VM));
}

/* The program must leave by #GP(0) at at. */
static void check_gp(const char *what, const char *entry, unsigned iopl, const char *at)
{
    uint32_t r = run(entry, iopl);

    printf("%s, IOPL %u: vector %u, error code %x at %x:%x (expected #GP(0) at %x:%x)\n", what,
           iopl, fault.vector, fault.error_code, fault.cs, fault.eip, V86_CODE_SEG, off(at));
    CHECK(r == LEFT_BY_FAULT);
    CHECK(fault.vector == EXC_GP);
    CHECK(fault.error_code == 0);
    CHECK(fault.cs == V86_CODE_SEG);
    CHECK(fault.eip == off(at));
}

static void test_iopl0(void)
{
    check_gp("INT 0x30", v86_int, 0, v86_int);
    CHECK(service_frame.vector == 0);
    check_gp("PUSHF", v86_pushf, 0, v86_pushf);
    check_gp("POPF", v86_popf, 0, v86_popf);
    check_gp("CLI", v86_cli, 0, v86_cli);
    check_gp("STI", v86_sti, 1, v86_sti);
    check_gp("IRET", v86_iret, 2, v86_iret);
}

static void test_io(void)
{
    check_gp("allowed port, then HLT", v86_io_ok, 0, v86_io_ok_hlt);
    printf("allowed port read %x\n", *result(R_IO) & 0xff);
    CHECK((*result(R_IO) & 0xff) == 0xa5);
    CHECK(inb(SCRATCH_PORT) == 0xa5);
    check_gp("denied port", v86_io_denied, 0, v86_io_denied_in);
    check_gp("denied port", v86_io_denied, 3, v86_io_denied_in);
    check_gp("word at the allowed port and a denied one", v86_io_word, 3, v86_io_word_in);
    check_gp("denied port 0x80, immediate", v86_io_imm, 0, v86_io_imm);
}

int guest_main_multiboot(uint32_t magic, uint32_t info)
{
    (void)magic;
    (void)info;
    setup();
    trap32_set_handler(VEC_SERVICE, service_handler);
    trap32_set_handler(VEC_EXIT, exit_handler);
    trap32_set_handler(EXC_GP, gp_handler);
    test_main();
    test_iopl0();
    test_io();
    guest_finish();
}
