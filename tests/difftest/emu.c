/*
 * The interpreter side: one VM with the emu engine in long mode at CPL 0,
 * reused for every case: 64-bit mode, or compatibility mode with a flat
 * 32-bit code segment or the 16-bit segments of difftest.h. The instruction at DT_INSN is followed
 * by
 *
 *   out %al, $0xf4    the debug-exit port: vm_stop kicks the vCPU, and the
 *                     engine stops right after it (STOP_AT bytes in)
 *   hlt               in case it ran on
 *
 * (also at a branch's target), and an IDT sends every exception to a stub
 * of these two at EXC_STUBS + 16 * vector (on an IST stack, so the data page stays as
 * the instruction left it); where RIP ends tells which way the case went.
 *
 * With the translator (-J), the case's block (the instruction, OUT, HLT) is
 * translated at its first run, as is every stub's; the code page's
 * generation, bumped for each case, makes the engine translate it anew.
 *
 * This file reaches into the engine (accel/emu/cpu/cpu.h) for what the engine
 * contract does not offer: clearing the halted and shutdown states that
 * set_state keeps, telling the decode cache that the host rewrote the
 * code page, seeing that the translator is there, and the vector state of
 * a VEX case (the FXSAVE image, the YMM upper halves, XCR0), which runs
 * with the CR4 bits and XCR0 of a Linux process: OSFXSR, OSXMMEXCPT,
 * OSXSAVE, and x87 | SSE | AVX.
 */
#include <errno.h>
#include <inttypes.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "accel/emu/cpu/cpu.h"
#include "boot/boot.h"
#include "boot/layout.h"
#include "difftest.h"
#include "vm/vm.h"

#define GUEST_RAM   (8ULL << 20)
#define IDT_BASE    0x20000
#define EXC_STUBS   0x21000
#define IST_TOP     0x30000
#define SENTINEL    "\xe6\xf4\xf4" /* out %al, $0xf4; hlt */
#define SENTINEL_SZ 3
#define STOP_AT     2 /* where RIP ends: after the OUT */
#define CR4_VEC     (1ULL << 9 | 1ULL << 10 | 1ULL << 18) /* OSFXSR OSXMMEXCPT OSXSAVE */
#define FX_MXCSR    24
#define FX_XMM(i)   (160 + 16 * (i))

static struct vm vm;
static struct cpu_state boot_state;
static struct accel_vcpu *vcpu;

/* A watchdog kicks a case that runs for more than a second (an
 * interpreter that loops), so the test reports it instead of hanging. */
static pthread_t watchdog;
static pthread_mutex_t wd_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t wd_cond = PTHREAD_COND_INITIALIZER;
static uint64_t wd_case;
static bool wd_running, wd_quit;

static void *watchdog_main(void *arg)
{
    (void)arg;
    pthread_mutex_lock(&wd_lock);
    while (!wd_quit) {
        uint64_t seen = wd_case;
        bool was_running = wd_running;
        struct timespec t;

        clock_gettime(CLOCK_REALTIME, &t);
        t.tv_sec += 1;
        pthread_cond_timedwait(&wd_cond, &wd_lock, &t);
        if (!wd_quit && was_running && wd_running && wd_case == seen)
            vm.accel->vcpu_kick(vcpu);
    }
    pthread_mutex_unlock(&wd_lock);
    return NULL;
}

static void put_gate(uint8_t *idt, int vector, uint64_t handler)
{
    uint64_t lo = (handler & 0xffff) | ((uint64_t)SEL_CODE64 << 16) | (1ULL << 32) /* IST1 */ |
                  (0xeULL << 40) /* 64-bit interrupt gate */ | (1ULL << 47) /* present */ |
                  ((handler >> 16) & 0xffff) << 48;
    uint64_t hi = handler >> 32;

    memcpy(idt + vector * 16, &lo, 8);
    memcpy(idt + vector * 16 + 8, &hi, 8);
}

int emu_side_init(bool jit)
{
    struct vm_config cfg = {.cmdline = "",
                            .serial = "stdio",
                            .mem_size = GUEST_RAM,
                            .cpus = 1,
                            .engine = ENGINE_EMU,
                            .jit_off = !jit,
                            .jit_eager = jit};
    uint8_t *idt, *stubs;
    uint64_t ist = IST_TOP;
    int err;

    err = vm_create(&vm, &cfg, &accel_emu_ops);
    if (!err)
        err = cpu_state_long64(&vm.mem, &boot_state, DT_INSN);
    if (err)
        return err;
    idt = mem_ptr(&vm.mem, IDT_BASE, 32 * 16);
    stubs = mem_ptr(&vm.mem, EXC_STUBS, 32 * 16);
    for (int v = 0; v < 32; v++) {
        put_gate(idt, v, EXC_STUBS + 16 * (uint64_t)v);
        memcpy(stubs + 16 * v, SENTINEL, SENTINEL_SZ);
    }
    /* IST1 of the 64-bit TSS (SDM Vol. 3A Figure 8-11). */
    mem_write(&vm.mem, BOOT_TSS + 0x24, &ist, sizeof(ist));
    boot_state.idt = (struct cpu_dtable){.base = IDT_BASE, .limit = 32 * 16 - 1};
    err = vm_create_vcpus(&vm, &boot_state);
    if (err)
        return err;
    vcpu = vm.vcpus[0].accel;
    if (jit && !((struct emu_cpu *)vcpu)->jit) {
        vm_destroy(&vm);
        return -ENOTSUP;
    }
    return -pthread_create(&watchdog, NULL, watchdog_main, NULL);
}

void emu_side_exit(void)
{
    pthread_mutex_lock(&wd_lock);
    wd_quit = true;
    pthread_cond_signal(&wd_cond);
    pthread_mutex_unlock(&wd_lock);
    pthread_join(watchdog, NULL);
    vm_destroy(&vm);
}

/* The native side's GS (difftest.h): an LDT data segment with base
 * DT_DATA, the flat user data segment, or a null selector with a base. */
static struct cpu_segment case_gs(const struct dt_case *c)
{
    if (c->gs_sel == 0)
        return (struct cpu_segment){.base = c->gs_base, .unusable = 1};
    return (struct cpu_segment){.base = c->gs_base,
                                .limit = c->gs_sel == DT_GS_SEL ? DT_SEG_LIMIT : 0xffffffff,
                                .selector = c->gs_sel,
                                .type = 3,
                                .s = 1,
                                .dpl = 3,
                                .present = 1,
                                .db = 1,
                                .g = c->gs_sel != DT_GS_SEL};
}

/* cpu_state lists GPRs as rax rbx rcx rdx rsi rdi rsp rbp r8..r15. */
static uint64_t *state_gpr(struct cpu_state *s, int reg)
{
    static const int order[8] = {0, 2, 3, 1, 6, 7, 4, 5}; /* encoding index -> cpu_state slot */

    return &s->rax + (reg < 8 ? order[reg] : reg);
}

void emu_side_run(const struct dt_case *c, struct dt_result *r)
{
    struct cpu_state s = boot_state;
    struct emu_cpu *cpu = (struct emu_cpu *)vcpu;
    struct accel_exit exit;
    uint64_t cs_base = c->mode == 16 ? DT_CODE : 0, end = DT_INSN - cs_base + c->len + STOP_AT;
    uint8_t *code = mem_ptr(&vm.mem, DT_INSN, DT_INSN_MAX + SENTINEL_SZ);

    memcpy(code, c->code, c->len);
    memcpy(code + c->len, SENTINEL, SENTINEL_SZ);
    if (c->target)
        memcpy(mem_ptr(&vm.mem, c->target, SENTINEL_SZ), SENTINEL, SENTINEL_SZ);
    vm_mem_written(&vm, DT_INSN, c->len + SENTINEL_SZ);
    if (c->target)
        vm_mem_written(&vm, c->target, SENTINEL_SZ);
    memcpy(mem_ptr(&vm.mem, DT_DATA, DT_DATA_SIZE), c->data, DT_DATA_SIZE);
    for (int i = 0; i < 16; i++)
        *state_gpr(&s, i) = c->in.gpr[i];
    /* IF as in a user process, so that PUSHF pushes the same image. */
    s.rflags = c->in.rflags | F_IF | 2;
    s.rip = DT_INSN - cs_base;
    s.gs = case_gs(c);
    if (c->mode == 32) { /* compatibility mode: a flat 32-bit code segment */
        s.cs.selector = SEL_CODE32;
        s.cs.l = 0;
        s.cs.db = 1;
    } else if (c->mode == 16) { /* and 16-bit segments, as the native LDT's */
        s.cs = (struct cpu_segment){.base = DT_CODE,
                                    .limit = DT_SEG_LIMIT,
                                    .selector = DT_CODE16_SEL,
                                    .type = 0xb,
                                    .s = 1,
                                    .present = 1};
        s.ds = (struct cpu_segment){.base = DT_DATA,
                                    .limit = DT_SEG_LIMIT,
                                    .selector = DT_DATA16_SEL,
                                    .type = 3,
                                    .s = 1,
                                    .present = 1};
        s.es = s.ss = s.ds;
    }
    if (c->vec)
        s.cr4 |= CR4_VEC;
    vm.accel->set_state(vcpu, &s);
    if (c->vec) {
        uint32_t mxcsr = (uint32_t)c->in.mxcsr;

        cpu->xcr0 = 7;
        memcpy(cpu->fxsave + FX_MXCSR, &mxcsr, 4);
        for (int i = 0; i < 16; i++) {
            memcpy(cpu->fxsave + FX_XMM(i), c->in.ymm[i], 16);
            memcpy(cpu->ymmh[i], c->in.ymm[i] + 16, 16);
        }
    }
    cpu->halted = false;
    cpu->triple_fault = false;
    atomic_store(&vm.stopping, false);

    pthread_mutex_lock(&wd_lock);
    wd_case++;
    wd_running = true;
    pthread_mutex_unlock(&wd_lock);
    memset(&exit, 0, sizeof(exit));
    vm.accel->vcpu_run(vcpu, &exit);
    pthread_mutex_lock(&wd_lock);
    wd_running = false;
    pthread_mutex_unlock(&wd_lock);

    vm.accel->get_state(vcpu, &s);
    for (int i = 0; i < 16; i++)
        r->regs.gpr[i] = *state_gpr(&s, i);
    r->regs.rflags = s.rflags;
    if (c->vec) {
        uint32_t mxcsr;

        memcpy(&mxcsr, cpu->fxsave + FX_MXCSR, 4);
        r->regs.mxcsr = mxcsr;
        for (int i = 0; i < 16; i++) {
            memcpy(r->regs.ymm[i], cpu->fxsave + FX_XMM(i), 16);
            memcpy(r->regs.ymm[i] + 16, cpu->ymmh[i], 16);
        }
    }
    memcpy(r->data, mem_ptr(&vm.mem, DT_DATA, DT_DATA_SIZE), DT_DATA_SIZE);
    r->signo = 0;
    r->why[0] = '\0';
    r->vector = -1;
    r->taken = false;
    if (exit.reason == ACCEL_EXIT_INTERNAL) {
        r->vector = -2;
        snprintf(r->why, sizeof(r->why), "%s", exit.why);
    } else if (exit.reason != ACCEL_EXIT_INTR) {
        r->vector = -2;
        snprintf(r->why, sizeof(r->why), "engine exit %d (%s)", exit.reason,
                 exit.reason == ACCEL_EXIT_SHUTDOWN ? "triple fault" : "unexpected");
    } else if (s.rip >= EXC_STUBS + STOP_AT && s.rip < EXC_STUBS + 32 * 16 &&
               (s.rip - EXC_STUBS - STOP_AT) % 16 == 0) {
        r->vector = (int)((s.rip - EXC_STUBS) / 16);
    } else if (c->target && s.rip == c->target - cs_base + STOP_AT) {
        r->taken = true;
    } else if (s.rip != end) {
        r->vector = -2;
        snprintf(r->why, sizeof(r->why), "stopped at rip 0x%" PRIx64 " instead of 0x%" PRIx64,
                 s.rip, end);
    }
}
