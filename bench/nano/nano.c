/*
 * The nanobenchmarks of Adams & Agesen, "A Comparison of Software and
 * Hardware Techniques for x86 Virtualization" (ASPLOS 2006, §6.1), as one
 * multiboot guest. The command line picks one benchmark and the iteration
 * count, "bench=NAME iters=N"; the guest runs it once with N/10 iterations
 * to warm up, then N times between two RDTSCs, and prints
 *
 *     nb tsc_hz HZ            (0 when CPUID 0x15/0x16 do not say)
 *     nb NAME CYCLES ITERS    (the TSC delta of the timed pass)
 *
 * then writes 0 to the debug-exit port. bench=idle prints "nb idle" and
 * halts with interrupts off, for the host to measure the VMM at rest.
 * An unexpected exception prints "nb fault ..." and exits with status 3; a
 * loop whose handler did not run once per iteration prints "nb invalid ..."
 * and exits with status 4.
 */
#include "lib/guest.h"

#define KERNEL_CS 0x08
#define TSS_SEL   0x30
#define USER_CS32 0x1b

#define GATE_INTR64 0x8e /* present 64-bit interrupt gate, DPL 0 (SDM Vol. 3A §6.14.1) */
#define GATE_DPL3   0x60

#define PGFAULT_VA 0x40000000ul /* a not-present 4 KiB page */
#define PTEMOD_VA  0x40001000ul /* a 4 KiB page whose frame alternates */

#define MBI_CMDLINE (1u << 2)

struct idt_gate {
    uint16_t offset_lo, selector;
    uint8_t ist, type_attr;
    uint16_t offset_mid;
    uint32_t offset_hi, reserved;
};

struct __attribute__((packed)) tss64 {
    uint32_t reserved0;
    uint64_t rsp[3];
    uint64_t reserved1;
    uint64_t ist[7];
    uint64_t reserved2;
    uint16_t reserved3, iomap_base;
};

extern uint64_t gdt[], pdpt[];
extern volatile uint64_t handled;
extern const char isr_stubs[];
void de_entry(void), pf_entry(void), ud_entry(void), int80_entry(void), syscall_entry(void);
void user_syscall_loop(uint64_t n), user_int80_loop(uint64_t n);
uint64_t user_run(void (*prog)(uint64_t), uint64_t n, void *stack_top);
uint64_t nb_loop(uint64_t n), nb_callret(uint64_t n), nb_in(uint64_t n), nb_out(uint64_t n);
uint64_t nb_cr8wr(uint64_t n), nb_divzero(uint64_t n);
uint64_t nb_pgfault(uint64_t n, volatile void *unmapped);
uint64_t nb_ptemod(uint64_t n, volatile void *page, uint64_t *pte, uint64_t flip);

static struct idt_gate idt[256] __attribute__((aligned(16)));
static struct tss64 tss;
static uint8_t kernel_stack[8192] __attribute__((aligned(16)));
static uint8_t user_stack[8192] __attribute__((aligned(16)));
static uint64_t pd_high[512] __attribute__((aligned(4096)));
static uint64_t pt_high[512] __attribute__((aligned(4096)));
static uint8_t frames[2][4096] __attribute__((aligned(4096)));

static void set_gate(unsigned v, void (*fn)(void), uint8_t attr)
{
    uint64_t a = (uint64_t)fn;

    idt[v] = (struct idt_gate){.offset_lo = (uint16_t)a,
                               .selector = KERNEL_CS,
                               .type_attr = attr,
                               .offset_mid = (uint16_t)(a >> 16),
                               .offset_hi = (uint32_t)(a >> 32)};
}

static void setup_cpu(void)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = {sizeof(idt) - 1, (uint64_t)idt};
    uint64_t base = (uint64_t)&tss;

    for (unsigned v = 0; v < 32; v++)
        set_gate(v, (void (*)(void))(isr_stubs + 16 * v), GATE_INTR64);
    set_gate(0, de_entry, GATE_INTR64);
    set_gate(6, ud_entry, GATE_INTR64);
    set_gate(14, pf_entry, GATE_INTR64);
    set_gate(0x80, int80_entry, GATE_INTR64 | GATE_DPL3);
    __asm__ volatile("lidt %0" : : "m"(idtr));

    /* 64-bit TSS, no I/O bitmap (SDM Vol. 3A §8.7, §8.2.3). */
    tss.rsp[0] = (uint64_t)kernel_stack + sizeof(kernel_stack);
    tss.iomap_base = sizeof(tss);
    gdt[TSS_SEL / 8] =
        (sizeof(tss) - 1) | (base & 0xffffff) << 16 | 0x89ull << 40 | (base >> 24 & 0xff) << 56;
    gdt[TSS_SEL / 8 + 1] = base >> 32;
    __asm__ volatile("ltr %w0" : : "r"(TSS_SEL));

    /* SYSCALL/SYSRET (SDM Vol. 2B); EFER.SCE is set by entry.S. */
    wrmsr(MSR_STAR, (uint64_t)(USER_CS32 & ~3) << 48 | (uint64_t)KERNEL_CS << 32);
    wrmsr(MSR_LSTAR, (uint64_t)syscall_entry);
    wrmsr(MSR_SFMASK, RFLAGS_TF | RFLAGS_IF | RFLAGS_DF | RFLAGS_AC);

    /* 1 GiB up: one page table, PGFAULT_VA not present, PTEMOD_VA on frames[0]. */
    pdpt[1] = (uint64_t)pd_high | 7;
    pd_high[0] = (uint64_t)pt_high | 7;
    pt_high[1] = (uint64_t)frames[0] | 3;
    write_cr3(read_cr3());
}

/* The TSC frequency CPUID states (SDM Vol. 2A, CPUID leaves 0x15 and 0x16), or 0. */
static uint64_t tsc_hz(void)
{
    uint32_t r[4];
    uint32_t max;

    cpuid(0, 0, r);
    max = r[0];
    if (max >= 0x15) {
        cpuid(0x15, 0, r);
        if (r[0] && r[1] && r[2])
            return (uint64_t)r[2] * r[1] / r[0];
    }
    if (max >= 0x16) {
        cpuid(0x16, 0, r);
        if (r[0] & 0xffff)
            return (uint64_t)(r[0] & 0xffff) * 1000000;
    }
    return 0;
}

static uint64_t run(const char *name, uint64_t n)
{
    if (!strcmp(name, "loop"))
        return nb_loop(n);
    if (!strcmp(name, "callret"))
        return nb_callret(n);
    if (!strcmp(name, "in"))
        return nb_in(n);
    if (!strcmp(name, "out"))
        return nb_out(n);
    if (!strcmp(name, "cr8wr"))
        return nb_cr8wr(n);
    if (!strcmp(name, "divzero"))
        return nb_divzero(n);
    if (!strcmp(name, "pgfault"))
        return nb_pgfault(n, (volatile void *)PGFAULT_VA);
    if (!strcmp(name, "ptemod"))
        return nb_ptemod(n, (volatile void *)PTEMOD_VA, &pt_high[1],
                         (uint64_t)frames[0] ^ (uint64_t)frames[1]);
    if (!strcmp(name, "syscall"))
        return user_run(user_syscall_loop, n, user_stack + sizeof(user_stack));
    if (!strcmp(name, "int80"))
        return user_run(user_int80_loop, n, user_stack + sizeof(user_stack));
    return 0;
}

static int expects_handler(const char *name)
{
    return !strcmp(name, "divzero") || !strcmp(name, "pgfault") || !strcmp(name, "syscall") ||
           !strcmp(name, "int80");
}

/* Copies the value of key= in cmdline into buf (empty if absent). */
static void arg(const char *cmdline, const char *key, char *buf, unsigned size)
{
    unsigned klen = 0;

    while (key[klen])
        klen++;
    buf[0] = 0;
    for (const char *p = cmdline; *p; p++) {
        unsigned i = 0;

        if (p != cmdline && p[-1] != ' ')
            continue;
        while (i < klen && p[i] == key[i])
            i++;
        if (i < klen || p[i] != '=')
            continue;
        p += klen + 1;
        for (i = 0; i + 1 < size && p[i] && p[i] != ' '; i++)
            buf[i] = p[i];
        buf[i] = 0;
        return;
    }
}

static uint64_t parse_u64(const char *s)
{
    uint64_t v = 0;

    while (*s >= '0' && *s <= '9')
        v = v * 10 + (uint64_t)(*s++ - '0');
    return v;
}

void nano_unexpected(const uint64_t *f)
{
    printf("nb fault vector %lu error 0x%lx rip 0x%lx cs 0x%lx cr2 0x%lx\n", f[0], f[1], f[2], f[3],
           read_cr2());
    guest_exit(3);
}

int nano_main(uint32_t magic, uint32_t info)
{
    const uint32_t *mbi = (const uint32_t *)(uint64_t)info;
    const char *cmdline = "";
    char name[32], iters[24];
    uint64_t n, cycles;

    if (magic == 0x2badb002 && (mbi[0] & MBI_CMDLINE))
        cmdline = (const char *)(uint64_t)mbi[4];
    arg(cmdline, "bench", name, sizeof(name));
    arg(cmdline, "iters", iters, sizeof(iters));
    n = parse_u64(iters);
    if (!n)
        n = 10000;
    setup_cpu();
    printf("nb tsc_hz %lu\n", tsc_hz());
    if (!strcmp(name, "idle")) {
        printf("nb idle\n");
        for (;;)
            __asm__ volatile("cli; hlt");
    }
    if (!run(name, n / 10 + 1)) {
        printf("nb unknown benchmark '%s'\n", name);
        return 2;
    }
    handled = 0;
    cycles = run(name, n);
    /* The loops that go through a handler must enter it once per iteration;
     * an engine that skips or merges them does not get a number. */
    if (handled && handled != n) {
        printf("nb invalid %s: %lu handler entries for %lu iterations\n", name, handled, n);
        return 4;
    }
    if (!handled && expects_handler(name)) {
        printf("nb invalid %s: the handler never ran\n", name);
        return 4;
    }
    printf("nb %s %lu %lu\n", name, cycles, n);
    return 0;
}
