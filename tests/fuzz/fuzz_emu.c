/*
 * libFuzzer target for the emu engine: arbitrary bytes run as guest code.
 *
 * Input: byte 0 picks the mode and options, byte 1 the flags, bytes 2-9
 * seed the GPRs, the rest is code, loaded at the entry point:
 *
 *   byte 0 bits 0-1  0 real mode (entry 1000:0000), 1 32-bit protected mode
 *                    (flat, paging off), 2 64-bit long mode, 3 compatibility
 *                    mode (long mode, 32-bit code); entry 0x100000 but real
 *          bit 2     an IDT (IVT) whose every vector enters the code again
 *   byte 1           RFLAGS: CF PF AF ZF SF as given, bit 3 DF, bit 5 IF
 *   bytes 2-9        a seed: each GPR is random, small, or an address in RAM
 *
 * Each input gets its own VM (4 MiB of RAM, the platform devices), runs
 * until it stops, shuts down or runs out of time - a watchdog thread stops
 * the VM after RUN_NS, which the engine sees within 4096 instructions - and
 * is destroyed. The target must not crash, hang or touch memory outside
 * guest RAM; the sanitizers check the last.
 */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <string.h>
#include <time.h>

#include "accel/accel.h"
#include "boot/boot.h"
#include "boot/layout.h"
#include "vm/vm.h"

#define RAM_SIZE  (4ULL << 20)
#define HEADER    10
#define CODE_MAX  16384
#define ENTRY     0x100000 /* protected and long mode */
#define REAL_SEG  0x1000   /* real mode: 1000:0000 */
#define IDT_BASE  0x8000   /* up to 256 16-byte gates */
#define STACK_TOP 0x90000
#define RUN_NS    500000L
#define F_DF      (1ULL << 10)
#define F_IF      (1ULL << 9)
#define F_STATUS  0xd5ULL

/* The watchdog: stops the VM of the run in progress once its time is up. */
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond = PTHREAD_COND_INITIALIZER;
static struct vm *wd_vm; /* armed: the VM running now */
static struct timespec wd_deadline;

static bool passed(const struct timespec *t)
{
    struct timespec now;

    clock_gettime(CLOCK_MONOTONIC, &now);
    return now.tv_sec > t->tv_sec || (now.tv_sec == t->tv_sec && now.tv_nsec >= t->tv_nsec);
}

static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wd_lock);
    for (;;) {
        while (!wd_vm)
            pthread_cond_wait(&wd_cond, &wd_lock);
        pthread_cond_timedwait(&wd_cond, &wd_lock, &wd_deadline);
        if (wd_vm && passed(&wd_deadline)) {
            vm_stop(wd_vm, 0, NULL);
            wd_vm = NULL;
        }
    }
    return NULL;
}

static pthread_condattr_t wd_attr;

static void watchdog_start(void)
{
    pthread_t t;

    pthread_condattr_init(&wd_attr);
    pthread_condattr_setclock(&wd_attr, CLOCK_MONOTONIC);
    pthread_cond_destroy(&wd_cond);
    pthread_cond_init(&wd_cond, &wd_attr);
    if (pthread_create(&t, NULL, watchdog_main, NULL) == 0)
        pthread_detach(t);
}

static void watchdog_arm(struct vm *vm)
{
    pthread_mutex_lock(&wd_lock);
    clock_gettime(CLOCK_MONOTONIC, &wd_deadline);
    wd_deadline.tv_nsec += RUN_NS;
    if (wd_deadline.tv_nsec >= 1000000000L) {
        wd_deadline.tv_sec++;
        wd_deadline.tv_nsec -= 1000000000L;
    }
    wd_vm = vm;
    pthread_cond_signal(&wd_cond);
    pthread_mutex_unlock(&wd_lock);
}

static void watchdog_disarm(void)
{
    pthread_mutex_lock(&wd_lock);
    wd_vm = NULL;
    pthread_cond_signal(&wd_cond);
    pthread_mutex_unlock(&wd_lock);
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
static void write_idt(struct vm *vm, struct cpu_state *s, int mode)
{
    uint8_t *idt = mem_ptr(&vm->mem, mode == 0 ? 0 : IDT_BASE, 256 * 16);

    for (int v = 0; v < 256; v++) {
        if (mode == 0) {
            uint32_t ivt = (uint32_t)REAL_SEG << 16;

            memcpy(mem_ptr(&vm->mem, (uint64_t)v * 4, 4), &ivt, 4);
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

static int setup(struct vm *vm, struct cpu_state *s, const uint8_t *data, size_t size)
{
    int mode = data[0] & 3, err = 0;
    uint64_t seed, entry = mode == 0 ? (uint64_t)REAL_SEG << 4 : ENTRY, *gpr = &s->rax;
    size_t code = size - HEADER < CODE_MAX ? size - HEADER : CODE_MAX;

    memcpy(&seed, data + 2, 8);
    if (mode == 0) {
        cpu_state_real(s, REAL_SEG, 0, 0xfff0);
    } else if (mode == 1) {
        cpu_state_protected32(s, ENTRY);
        err = boot_write_gdt(&vm->mem);
    } else {
        err = cpu_state_long64(&vm->mem, s, ENTRY);
        if (mode == 3) {
            s->cs.selector = SEL_CODE32;
            s->cs.l = 0;
            s->cs.db = 1;
        }
    }
    if (err || mem_write(&vm->mem, entry, data + HEADER, code))
        return -EINVAL;
    if (data[0] & 4)
        write_idt(vm, s, mode);
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

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static pthread_once_t once = PTHREAD_ONCE_INIT;
    struct vm_config cfg = {
        .cmdline = "", .serial = "stdio", .mem_size = RAM_SIZE, .cpus = 1, .engine = ENGINE_EMU};
    struct vm vm;
    struct cpu_state s;
    struct accel_exit exit;

    if (size < HEADER)
        return 0;
    pthread_once(&once, watchdog_start);
    memset(&vm, 0, sizeof(vm));
    if (vm_create(&vm, &cfg, &accel_emu_ops) || setup(&vm, &s, data, size) ||
        vm_create_vcpus(&vm, &s))
        goto out;
    watchdog_arm(&vm);
    do {
        memset(&exit, 0, sizeof(exit));
        if (vm.accel->vcpu_run(vm.vcpus[0].accel, &exit))
            break;
    } while (exit.reason == ACCEL_EXIT_INTR && !atomic_load(&vm.stopping));
    watchdog_disarm();
out:
    vm_destroy(&vm);
    return 0;
}
