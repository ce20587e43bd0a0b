/*
 * The VM that a fuzz target of the emu engine reuses (emu_vm.h).
 *
 * One VM (2 MiB of RAM, the platform devices) and its vCPU serve every
 * input, so that no input pays for mmap, thread creation or fresh pages
 * (each costs microseconds on a virtualized host). Between inputs, all an
 * input can change is put back as a fresh VM has it:
 *
 *   - RAM: the pages the last input stored to go back to what they held
 *     after fz_init(): zero, but for the GDT, TSS and page tables of
 *     boot_write_gdt and cpu_state_long64 (written once). The engine
 *     bumps a page's code generation on the first store to a line marked as
 *     holding code (emu_code_written, vm_mem_written for device DMA); every
 *     line of every page is marked before each input, so a generation that
 *     moved is a page that was written. The bump also drops what the decode and block
 *     caches hold for the page. Two writers do not tell the engine: the
 *     CPU's accessed and dirty bits in paging structures, which can only
 *     be in pages with non-zero content (the boot tables, always put back,
 *     or pages the input wrote), and kvmclock, whose structures (at the
 *     last addresses the MSRs were given) count as written.
 *   - The vCPU: every field of struct emu_cpu as it was after creation (its
 *     lock and condition variable aside; the TLBs emptied, not copied),
 *     then the input's registers through set_state; map_epoch and
 *     global_epoch only move forward, so that no block link of an earlier
 *     input is followed.
 *   - The devices: the platform's (pc.c), the interrupt controllers and the
 *     virtio devices are made again on fresh buses (they only allocate),
 *     if the last input reached any of them: the engine's calls into the
 *     buses and the LAPICs are wrapped (ld --wrap, set by scripts/fuzz-run
 *     and meson.build) to tell. quiet.c stands in for the console's
 *     write(2) per byte and for virtio-rng's getrandom.
 *
 * Each input runs for at most the passes its target gives of the engine's
 * run loop (cpu->pass_limit: up to EMU_LIMITED_PASS instructions, one
 * exception or one event poll each), until it
 * triple-faults, stops the VM (debug exit, ACPI, i8042 reset) or halts
 * with no timer left to wake it. Time is virtual: the interrupt
 * controllers' clock and the ACPI PM timer advance NS_PER_PASS per pass,
 * and a halted vCPU skips to its next timer deadline; the RTC's and
 * kvmclock's wall clock count the same time from a fixed date. So an input
 * runs the same whatever ran before, except what reads the host's clock
 * itself: RDTSC, RDMSR of the TSC and kvmclock's system time (fuzz_jit.c
 * wraps those too).
 */
#include <errno.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "boot/boot.h"
#include "boot/layout.h"
#include "emu_vm.h"
#include "hw/irqchip/irqchip.h"
#include "hw/pc.h"
#include "virtio/devices.h"

#define RAM_SIZE    FZ_RAM_SIZE
#define RAM_PAGES   FZ_RAM_PAGES
#define ENTRY       FZ_ENTRY
#define REAL_SEG    0x1000 /* real mode: 1000:0000 */
#define IDT_BASE    FZ_IDT_BASE
#define STACK_TOP   FZ_STACK_TOP
#define TABLE_PAGES FZ_TABLE_PAGES
#define NS_PER_PASS 1000
#define F_DF        (1ULL << 10)
#define F_IF        (1ULL << 9)
#define F_STATUS    0xd5ULL

struct vm fz_vm;
struct emu_cpu *fz_cpu;
static struct emu_cpu fresh;             /* the vCPU as created */
static uint8_t *pristine;                /* RAM as every input starts with it */
static struct cpu_state entry_state[4];  /* by mode, see setup() */
static uint32_t gen_at_start[RAM_PAGES]; /* code generations when the input began */
static uint64_t skipped_ns;              /* virtual time skipped while halted */

/* The skipped range of emu_cpu: its lock and condition variable, which
 * stay as they are (unlocked, no waiter: the target has one thread). */
#define KEEP_FROM offsetof(struct emu_cpu, lock)
#define KEEP_TO   (offsetof(struct emu_cpu, wake_cond) + sizeof(pthread_cond_t))
_Static_assert(offsetof(struct emu_cpu, wake_cond) == KEEP_FROM + sizeof(pthread_mutex_t),
               "emu_cpu: lock and wake_cond must be adjacent");
/* The TLBs, which cpu_reset empties rather than copies. */
#define TLB_FROM offsetof(struct emu_cpu, tlb)
#define TLB_TO   (offsetof(struct emu_cpu, tlb_global) + sizeof(struct emu_tlb_ctx))
_Static_assert(TLB_FROM + TLB_CONTEXTS * sizeof(struct emu_tlb_ctx) ==
                       offsetof(struct emu_cpu, tlb_global) &&
                   TLB_TO <= KEEP_FROM && offsetof(struct emu_tlb_ctx, e) == 0,
               "emu_cpu: the TLBs must be together, before lock, entries first");

uint64_t fz_virtual_ns(void)
{
    return skipped_ns + fz_cpu->passes * NS_PER_PASS;
}

static uint64_t virtual_tsc(void *opaque, int index)
{
    (void)opaque, (void)index;
    return fz_virtual_ns(); /* EMU_TSC_HZ is 1 GHz */
}

/* The irqchip's "look again": one thread, so no lock to take. */
static void wake(void *opaque, int index)
{
    (void)opaque, (void)index;
    atomic_store(&fz_cpu->wake, true);
}

/*
 * Whether the devices may have changed since they were made: the engine
 * reaches them only through these calls (the irqchip's timers and
 * interrupts start from them too). A bus access that hits no device
 * changes nothing.
 */
static bool touched = true;

uint64_t __real_bus_read(const struct bus *bus, uint64_t addr, unsigned size);
void __real_bus_write(const struct bus *bus, uint64_t addr, unsigned size, uint64_t value);
uint32_t __real_lapic_mmio_read(struct irqchip *c, int index, uint32_t offset);
void __real_lapic_mmio_write(struct irqchip *c, int index, uint32_t offset, uint32_t value);
int __real_lapic_msr_read(struct irqchip *c, int index, uint32_t msr, uint64_t *value);
int __real_lapic_msr_write(struct irqchip *c, int index, uint32_t msr, uint64_t value);
void __real_lapic_set_cr8(struct irqchip *c, int index, uint64_t cr8);
void __real_lapic_set_base(struct irqchip *c, int index, uint64_t base);
uint64_t __wrap_bus_read(const struct bus *bus, uint64_t addr, unsigned size);
void __wrap_bus_write(const struct bus *bus, uint64_t addr, unsigned size, uint64_t value);
uint32_t __wrap_lapic_mmio_read(struct irqchip *c, int index, uint32_t offset);
void __wrap_lapic_mmio_write(struct irqchip *c, int index, uint32_t offset, uint32_t value);
int __wrap_lapic_msr_read(struct irqchip *c, int index, uint32_t msr, uint64_t *value);
int __wrap_lapic_msr_write(struct irqchip *c, int index, uint32_t msr, uint64_t value);
void __wrap_lapic_set_cr8(struct irqchip *c, int index, uint64_t cr8);
void __wrap_lapic_set_base(struct irqchip *c, int index, uint64_t base);

static void note(const struct bus *bus, uint64_t addr, unsigned size)
{
    if (bus_find(bus, addr) || bus_find(bus, addr + size - 1))
        touched = true;
}

uint64_t __wrap_bus_read(const struct bus *bus, uint64_t addr, unsigned size)
{
    note(bus, addr, size);
    return __real_bus_read(bus, addr, size);
}

void __wrap_bus_write(const struct bus *bus, uint64_t addr, unsigned size, uint64_t value)
{
    note(bus, addr, size);
    __real_bus_write(bus, addr, size, value);
}

uint32_t __wrap_lapic_mmio_read(struct irqchip *c, int index, uint32_t offset)
{
    touched = true;
    return __real_lapic_mmio_read(c, index, offset);
}

void __wrap_lapic_mmio_write(struct irqchip *c, int index, uint32_t offset, uint32_t value)
{
    touched = true;
    __real_lapic_mmio_write(c, index, offset, value);
}

int __wrap_lapic_msr_read(struct irqchip *c, int index, uint32_t msr, uint64_t *value)
{
    touched = true;
    return __real_lapic_msr_read(c, index, msr, value);
}

int __wrap_lapic_msr_write(struct irqchip *c, int index, uint32_t msr, uint64_t value)
{
    touched = true;
    return __real_lapic_msr_write(c, index, msr, value);
}

void __wrap_lapic_set_cr8(struct irqchip *c, int index, uint64_t cr8)
{
    touched = true;
    __real_lapic_set_cr8(c, index, cr8);
}

void __wrap_lapic_set_base(struct irqchip *c, int index, uint64_t base)
{
    touched = true;
    __real_lapic_set_base(c, index, base);
}

/* The wall clock of the RTC and of kvmclock: virtual time from a fixed
 * date (2026-01-01), so that an input reading them runs the same twice. */
#define WALL_EPOCH 1767225600ULL

static void virtual_wall(struct timespec *ts)
{
    uint64_t ns = fz_virtual_ns();

    ts->tv_sec = (time_t)(WALL_EPOCH + ns / 1000000000ULL);
    ts->tv_nsec = (long)(ns % 1000000000ULL);
}

void __wrap_emu_kvmclock_wall(struct emu_cpu *cpu, uint64_t gpa);

/* emu_kvmclock_wall with virtual_wall's time at kvmclock's zero. */
void __wrap_emu_kvmclock_wall(struct emu_cpu *cpu, uint64_t gpa)
{
    uint32_t w[3] = {2, (uint32_t)WALL_EPOCH, 0}; /* version, sec, nsec */

    (void)cpu;
    mem_write(&fz_vm.mem, gpa, w, sizeof(w));
}

/* The devices, made again on empty buses, in vm_create's order. */
static int devices_reset(void)
{
    struct emu_vm *e = fz_vm.accel_vm;

    virtio_devices_destroy(&fz_vm);
    pc_destroy(&fz_vm);
    irqchip_destroy(e->chip);
    e->chip = NULL;
    bus_destroy(&fz_vm.pio);
    bus_destroy(&fz_vm.mmio);
    bus_init(&fz_vm.pio, "pio");
    bus_init(&fz_vm.mmio, "mmio");
    if (pc_init(&fz_vm))
        return -1;
    fz_vm.pc->acpi_pm.clock_ns = fz_virtual_ns;
    fz_vm.pc->rtc.now = virtual_wall;
    e->chip = irqchip_create(&fz_vm, 1, EMU_TSC_HZ, virtual_tsc, wake, NULL);
    if (!e->chip)
        return -1;
    irqchip_set_clock(e->chip, fz_virtual_ns);
    return virtio_devices_create(&fz_vm);
}

/* Restores the pages written since gen_at_start (vm_mem_written drops what
 * the decode caches hold for them), then marks every page as holding code
 * so that the first store to it shows. */
static void ram_reset(void)
{
    struct emu_vm *e = fz_vm.accel_vm;

    for (uint64_t p = 0; p < RAM_PAGES; p++)
        if (p < TABLE_PAGES ||
            atomic_load_explicit(&e->gen[p], memory_order_relaxed) != gen_at_start[p]) {
            memcpy(fz_vm.mem.base + (p << 12), pristine + (p << 12), 4096);
            vm_mem_written(&fz_vm, p << 12, 4096);
        }
    /* One thread: plain copies of the flags and generations will do. */
    memset((void *)e->code, 0xff, RAM_PAGES * sizeof(*e->code));
    memcpy(gen_at_start, (const void *)e->gen, sizeof(gen_at_start));
}

/* The vCPU as created, with the input's registers; see the top. */
static void cpu_reset(const struct cpu_state *s, uint64_t passes)
{
    uint64_t epoch = fz_cpu->map_epoch, global_epoch = fz_cpu->global_epoch;

    /* The TLBs' entries, most of emu_cpu's size, are emptied instead of
     * copied: the input may have filled any of its contexts. */
    emu_tlb_flush(fz_cpu, true);
    memcpy(fz_cpu, &fresh, TLB_FROM);
    for (int i = 0; i <= TLB_CONTEXTS; i++) {
        struct emu_tlb_ctx *c = i < TLB_CONTEXTS ? &fz_cpu->tlb[i] : &fz_cpu->tlb_global;
        const struct emu_tlb_ctx *f = i < TLB_CONTEXTS ? &fresh.tlb[i] : &fresh.tlb_global;

        memcpy((char *)c + sizeof(c->e), (const char *)f + sizeof(f->e), sizeof(*c) - sizeof(c->e));
    }
    memcpy((char *)fz_cpu + TLB_TO, (const char *)&fresh + TLB_TO, KEEP_FROM - TLB_TO);
    memcpy((char *)fz_cpu + KEEP_TO, (const char *)&fresh + KEEP_TO, sizeof(fresh) - KEEP_TO);
    fz_cpu->map_epoch = epoch + 1;
    fz_cpu->global_epoch = global_epoch + 1;
    fz_cpu->pass_limit = passes;
    fz_vm.accel->set_state(fz_vm.vcpus[0].accel, s);
}

static void fail(const char *why)
{
    fprintf(stderr, "emu_vm: %s\n", why);
    abort();
}

/* The VM and its vCPU, once; the state they are created in is what every
 * input starts from. */
void fz_init(bool jit_off, bool jit_eager)
{
    struct vm_config cfg = {.cmdline = "",
                            .serial = "stdio",
                            .mem_size = RAM_SIZE,
                            .cpus = 1,
                            .engine = ENGINE_EMU,
                            .jit_off = jit_off,
                            .jit_eager = jit_eager};
    struct cpu_state s;

    cpu_state_real(&s, REAL_SEG, 0, 0xfff0);
    if (vm_create(&fz_vm, &cfg, &accel_emu_ops) || vm_create_vcpus(&fz_vm, &s))
        fail("cannot create the VM");
    fz_cpu = (struct emu_cpu *)fz_vm.vcpus[0].accel;
    fresh = *fz_cpu;
    /* The entry states by mode, and the tables they need, in every input's RAM. */
    cpu_state_real(&entry_state[0], REAL_SEG, 0, 0xfff0);
    cpu_state_protected32(&entry_state[1], ENTRY);
    if (boot_write_gdt(&fz_vm.mem) || cpu_state_long64(&fz_vm.mem, &entry_state[2], ENTRY))
        fail("cannot write the boot tables");
    entry_state[3] = entry_state[2];
    entry_state[3].cs.selector = SEL_CODE32;
    entry_state[3].cs.l = 0;
    entry_state[3].cs.db = 1;
    pristine = malloc(RAM_SIZE);
    if (!pristine)
        fail("out of memory");
    memcpy(pristine, fz_vm.mem.base, RAM_SIZE);
}

/* splitmix64 */
static uint64_t next(uint64_t *s)
{
    uint64_t z = (*s += 0x9e3779b97f4a7c15ULL);

    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
    z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
    return z ^ (z >> 31);
}

/* Every vector to the entry point: interrupt gates (SDM Vol. 3A §6.11,
 * §6.14.1), or the real-mode IVT. */
static void write_idt(struct cpu_state *s, int mode)
{
    uint8_t *idt = mem_ptr(&fz_vm.mem, mode == 0 ? 0 : IDT_BASE, 256 * 16);

    for (int v = 0; v < 256; v++) {
        if (mode == 0) {
            uint32_t ivt = (uint32_t)REAL_SEG << 16;

            memcpy(mem_ptr(&fz_vm.mem, (uint64_t)v * 4, 4), &ivt, 4);
        } else if (mode == 1) {
            uint64_t gate = (ENTRY & 0xffff) | (uint64_t)SEL_CODE32 << 16 | 0x8eULL << 40 |
                            (uint64_t)(ENTRY >> 16) << 48;

            memcpy(idt + v * 8, &gate, 8);
        } else {
            uint64_t lo = (ENTRY & 0xffff) | (uint64_t)SEL_CODE64 << 16 | 0x8eULL << 40 |
                          (uint64_t)((ENTRY >> 16) & 0xffff) << 48,
                     hi = 0;

            memcpy(idt + v * 16, &lo, 8);
            memcpy(idt + v * 16 + 8, &hi, 8);
        }
    }
    if (mode != 0)
        s->idt =
            (struct cpu_dtable){.base = IDT_BASE, .limit = mode == 1 ? 256 * 8 - 1 : 256 * 16 - 1};
}

/* Writes the input's code and tables into RAM, each write counted as the
 * input's (vm_mem_written), and its registers into *s. */
static int setup(struct cpu_state *s, const uint8_t *data, size_t size, int mode)
{
    uint64_t seed, entry = mode == 0 ? (uint64_t)REAL_SEG << 4 : ENTRY, *gpr = &s->rax;
    size_t code = size - FZ_HEADER < FZ_CODE_MAX ? size - FZ_HEADER : FZ_CODE_MAX;

    memcpy(&seed, data + 2, 8);
    *s = entry_state[mode];
    if (mem_write(&fz_vm.mem, entry, data + FZ_HEADER, code))
        return -EINVAL;
    vm_mem_written(&fz_vm, entry, code);
    if (data[0] & 4) {
        write_idt(s, mode);
        vm_mem_written(&fz_vm, mode == 0 ? 0 : IDT_BASE, 256 * 16);
    }
    /* rax rbx rcx rdx rsi rdi rsp rbp r8..r15 */
    for (int i = 0; i < 16; i++) {
        uint64_t v = next(&seed);

        switch (v & 3) {
        case 0:
            gpr[i] = (v >> 8) % RAM_SIZE;
            break;
        case 1:
            gpr[i] = (v >> 8) & 0xffff;
            break;
        case 2:
            gpr[i] = (v >> 8) & 0xff;
            break;
        default:
            gpr[i] = next(&seed);
            break;
        }
    }
    s->rsp = mode == 0 ? 0xfff0 : STACK_TOP;
    s->rflags = 2 | (data[1] & F_STATUS) | (data[1] & 8 ? F_DF : 0) | (data[1] & 0x20 ? F_IF : 0);
    return 0;
}

int fz_start(const uint8_t *data, size_t size, int mode, uint64_t passes)
{
    struct cpu_state s;

    ram_reset();
    if (touched && devices_reset())
        fail("cannot make the devices again");
    touched = false;
    atomic_store(&fz_vm.stopping, false);
    fz_vm.status = 0;
    fz_vm.reset = false;
    skipped_ns = 0;
    if (setup(&s, data, size, mode))
        return -EINVAL;
    cpu_reset(&s, passes);
    return 0;
}

void fz_run(void)
{
    struct accel_exit exit;

    for (;;) {
        uint64_t now;

        memset(&exit, 0, sizeof(exit));
        if (fz_vm.accel->vcpu_run(fz_vm.vcpus[0].accel, &exit) || exit.reason != ACCEL_EXIT_INTR ||
            atomic_load(&fz_vm.stopping) || fz_cpu->passes >= fz_cpu->pass_limit)
            break;
        /* Halted (or waiting for a start-up IPI): on to the next timer
         * event, if there is one. Each run takes a pass, so this ends. */
        now = fz_virtual_ns();
        if (fz_cpu->deadline == UINT64_MAX)
            break;
        if (fz_cpu->deadline > now)
            skipped_ns += fz_cpu->deadline - now;
    }
    vm_mem_written(&fz_vm, fz_cpu->msr.kvm_system_time & ~1ULL, 32);
    vm_mem_written(&fz_vm, fz_cpu->msr.kvm_wall_clock, 12);
}

bool fz_page_written(uint64_t page)
{
    const struct emu_vm *e = fz_vm.accel_vm;

    return atomic_load_explicit(&e->gen[page], memory_order_relaxed) != gen_at_start[page];
}

const uint8_t *fz_pristine(uint64_t page)
{
    return pristine + (page << 12);
}
