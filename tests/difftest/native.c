/*
 * The native side: a child process, forked once, maps the data page at
 * DT_DATA, an RWX page at DT_CODE and a state page at N_STATE, and runs
 * batches of cases that the parent puts in shared memory. The code page is
 *
 *   DT_CODE      prologue: loads DS, ES, SS and GS (see difftest.h), all
 *                16 GPRs and RFLAGS, jumps to DT_INSN (far, into the
 *                32-bit or 16-bit code segment, for those modes)
 *   DT_INSN      the instruction, then a jump to the epilogue
 *   target       for branches: a jump to the epilogue's "taken" entry
 *   N_EPILOGUE   stores the GPRs and RFLAGS back, restores the segments,
 *                returns to C (just before it: the "taken" entry)
 *
 * The prologue and epilogue are in tramp.S. A fault in the instruction
 * arrives as a signal on an alternate stack; the handler records the
 * hardware vector (the trap number the kernel saved) and jumps back to the
 * child's loop.
 */
#include <errno.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <asm/prctl.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <asm/ldt.h>
#include <ucontext.h>
#include <unistd.h>

#include "difftest.h"
#include "native.h"

#define ADDR(a) ((void *)(uintptr_t)(a))
#define BATCH   256

/* tramp.S */
extern const uint8_t dt_prologue[], dt_prologue_end[], dt_epilogue_taken[], dt_epilogue[],
    dt_epilogue_end[];

struct shared {
    struct dt_case cases[BATCH];
    struct dt_result results[BATCH];
};

static struct shared *shm;
static pid_t child = -1;
static int cmd_fd = -1, done_fd = -1;

/* Child state. */
static sigjmp_buf fault_jmp;
static volatile sig_atomic_t fault_sig, fault_trapno;
static bool gs_base_set; /* GS is null with base DT_DATA (arch_prctl) */

/* The vector state at the fault, from the signal frame: FXSAVE's layout,
 * then (when the magic at byte 464 says the frame is an XSAVE image, SDM
 * Vol. 1 §13.4 standard format) the YMM upper halves at byte 576. */
static struct dt_regs fault_vec;

#define FP_XSTATE_MAGIC 0x46505853u

static void save_fault_vec(const ucontext_t *uc)
{
    const uint8_t *fp = (const uint8_t *)uc->uc_mcontext.fpregs;
    uint32_t magic;
    uint64_t xstate_bv = 0;

    memset(&fault_vec, 0, sizeof(fault_vec));
    if (!fp)
        return;
    memcpy(&fault_vec.mxcsr, fp + 24, 4);
    memcpy(&magic, fp + 464, 4);
    if (magic == FP_XSTATE_MAGIC)
        memcpy(&xstate_bv, fp + 512, 8);
    for (int i = 0; i < 16; i++) {
        memcpy(fault_vec.ymm[i], fp + 160 + 16 * i, 16);
        if (xstate_bv & 4) /* else the upper halves are in their initial state, 0 */
            memcpy(fault_vec.ymm[i] + 16, fp + 576 + 16 * i, 16);
    }
}

static void on_fault(int sig, siginfo_t *si, void *uc)
{
    (void)si;
    fault_sig = sig;
    fault_trapno = (int)((ucontext_t *)uc)->uc_mcontext.gregs[REG_TRAPNO];
    save_fault_vec(uc);
    siglongjmp(fault_jmp, 1);
}

/* Writes "jmp to" (rel32, 64-bit code) at p. */
static uint8_t *put_jmp(uint8_t *p, uint64_t to)
{
    int32_t rel = (int32_t)(to - ((uint64_t)(uintptr_t)p + 5));

    p[0] = 0xe9;
    memcpy(p + 1, &rel, 4);
    return p + 5;
}

/* Writes "ljmp $DT_USER64_CS, $to" in 32-bit or 16-bit code at p. */
static void put_ljmp64(uint8_t *p, int mode, uint64_t to)
{
    uint32_t off = (uint32_t)to;
    uint16_t cs = DT_USER64_CS;

    if (mode == 16)
        *p++ = 0x66; /* a 32-bit offset */
    p[0] = 0xea;
    memcpy(p + 1, &off, 4);
    memcpy(p + 5, &cs, 2);
}

/* A jump from the instruction's mode into 64-bit code at to. */
static void put_exit(uint8_t *p, int mode, uint64_t to)
{
    if (mode == 64)
        put_jmp(p, to);
    else
        put_ljmp64(p, mode, to);
}

/* The end of the prologue: into the instruction, in its mode. */
static void put_entry(uint8_t *p, int mode)
{
    static const uint8_t ljmp_far[3] = {0xff, 0x2c, 0x25}; /* ljmp *disp32 */
    uint32_t far = N_FAR, insn = mode == 16 ? DT_INSN - DT_CODE : DT_INSN;
    uint16_t cs = mode == 16 ? DT_CODE16_SEL : DT_USER32_CS;
    uint16_t ds = mode == 16 ? DT_DATA16_SEL : DT_USER_DS;

    memcpy(ADDR(N_DATA_SEL), &ds, 2);
    if (mode == 64) {
        put_jmp(p, DT_INSN);
        return;
    }
    memcpy(ADDR(N_FAR), &insn, 4);
    memcpy(ADDR(N_FAR + 4), &cs, 2);
    memcpy(p, ljmp_far, 3);
    memcpy(p + 3, &far, 4);
}

static void run_one(const struct dt_case *c, struct dt_result *r)
{
    struct dt_regs *in = ADDR(N_IN), *out = ADDR(N_OUT);
    volatile uint8_t *taken = ADDR(N_TAKEN);
    void (*entry)(void) = (void (*)(void))(uintptr_t)DT_CODE;
    uint8_t *after = ADDR(DT_INSN + c->len);

    memcpy(ADDR(DT_DATA), c->data, DT_DATA_SIZE);
    memcpy(ADDR(N_GS_SEL), &c->gs_sel, 2);
    *(volatile uint8_t *)ADDR(N_VEC) = c->vec;
    if (c->gs_sel == 0 && !gs_base_set) {
        if (syscall(SYS_arch_prctl, ARCH_SET_GS, (unsigned long)c->gs_base)) {
            r->vector = -2;
            snprintf(r->why, sizeof(r->why), "arch_prctl(ARCH_SET_GS): %s", strerror(errno));
            return;
        }
        gs_base_set = true;
    }
    gs_base_set &= c->gs_sel == 0;
    put_entry(ADDR(DT_CODE + (uintptr_t)(dt_prologue_end - dt_prologue)), c->mode);
    memcpy(ADDR(DT_INSN), c->code, c->len);
    put_exit(after, c->mode, N_EPILOGUE);
    if (c->target)
        put_exit(ADDR(c->target), c->mode,
                 N_EPILOGUE - (uintptr_t)(dt_epilogue - dt_epilogue_taken));
    *in = c->in;
    memset(out, 0, sizeof(*out));
    *taken = 0;
    r->vector = -1;
    r->signo = 0;
    r->why[0] = '\0';
    if (sigsetjmp(fault_jmp, 1) == 0) {
        entry();
    } else {
        r->vector = fault_trapno;
        r->signo = fault_sig;
        if (c->vec) { /* the handler ran with the host's MXCSR: nothing to restore */
            out->mxcsr = fault_vec.mxcsr;
            memcpy(out->ymm, fault_vec.ymm, sizeof(out->ymm));
        }
    }
    r->regs = *out;
    r->taken = *taken;
    memcpy(r->data, ADDR(DT_DATA), DT_DATA_SIZE);
}

static void *map_fixed(uintptr_t addr, size_t len, int prot)
{
    void *p = mmap(ADDR(addr), len, prot, MAP_PRIVATE | MAP_ANONYMOUS | MAP_FIXED_NOREPLACE, -1, 0);

    if (p == MAP_FAILED || p != ADDR(addr)) {
        fprintf(stderr, "difftest: cannot map 0x%lx in the native child: %s\n", (unsigned long)addr,
                strerror(errno));
        _exit(3);
    }
    return p;
}

/* Installs the LDT of difftest.h. In 64-bit mode a GS load takes the
 * 32-bit base from the descriptor (SDM Vol. 3A §3.4.4). */
static bool ldt_install(void)
{
    static const struct user_desc ldt[3] = {
        {.entry_number = DT_GS_SEL >> 3,
         .base_addr = DT_DATA,
         .limit = DT_SEG_LIMIT,
         .seg_32bit = 1,
         .contents = MODIFY_LDT_CONTENTS_DATA,
         .useable = 1},
        {.entry_number = DT_DATA16_SEL >> 3,
         .base_addr = DT_DATA,
         .limit = DT_SEG_LIMIT,
         .seg_32bit = 0,
         .contents = MODIFY_LDT_CONTENTS_DATA,
         .useable = 1},
        {.entry_number = DT_CODE16_SEL >> 3,
         .base_addr = DT_CODE,
         .limit = DT_SEG_LIMIT,
         .seg_32bit = 0,
         .contents = MODIFY_LDT_CONTENTS_CODE,
         .useable = 1},
    };

    for (int i = 0; i < 3; i++)
        if (syscall(SYS_modify_ldt, 1, &ldt[i], sizeof(ldt[i])))
            return false;
    return true;
}

/* Whether the LDT's GS loads and reaches the data page. Some hosts accept
 * modify_ldt and then fault on the load (software-virtualized ones whose
 * hypervisor runs user code under its own descriptor tables). Runs with
 * the fault handlers installed. */
static bool ldt_usable(void)
{
    volatile uint64_t *marker = ADDR(DT_DATA);
    uint64_t seen = 0;

    if (!ldt_install())
        return false;
    *marker = 0x5644583836ULL;
    if (sigsetjmp(fault_jmp, 1))
        return false;
    __asm__ volatile("mov %w1, %%gs\n\tmov %%gs:0, %0" : "=r"(seen) : "r"(DT_GS_SEL) : "memory");
    return seen == *marker;
}

static __attribute__((noreturn)) void child_main(int in_fd, int out_fd, bool use_ldt)
{
    static uint8_t altstack[65536];
    stack_t ss = {.ss_sp = altstack, .ss_size = sizeof(altstack)};
    struct sigaction sa;
    static const int sigs[] = {SIGSEGV, SIGBUS, SIGFPE, SIGILL, SIGTRAP};
    int n;

    prctl(PR_SET_PDEATHSIG, SIGKILL);
    map_fixed(DT_DATA, DT_DATA_SIZE, PROT_READ | PROT_WRITE);
    map_fixed(N_STATE, 4096, PROT_READ | PROT_WRITE);
    map_fixed(DT_CODE, 4096, PROT_READ | PROT_WRITE | PROT_EXEC);
    memcpy(ADDR(DT_CODE), dt_prologue, (size_t)(dt_prologue_end - dt_prologue));
    memcpy(ADDR(N_EPILOGUE - (uintptr_t)(dt_epilogue - dt_epilogue_taken)), dt_epilogue_taken,
           (size_t)(dt_epilogue_end - dt_epilogue_taken));
    if (sigaltstack(&ss, NULL)) {
        perror("difftest: sigaltstack");
        _exit(3);
    }
    memset(&sa, 0, sizeof(sa));
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    for (unsigned i = 0; i < sizeof(sigs) / sizeof(sigs[0]); i++)
        sigaction(sigs[i], &sa, NULL);
    n = use_ldt && ldt_usable(); /* ready, and whether the LDT serves */
    if (write(out_fd, &n, sizeof(n)) != sizeof(n))
        _exit(3);
    while (read(in_fd, &n, sizeof(n)) == sizeof(n)) {
        for (int i = 0; i < n; i++)
            run_one(&shm->cases[i], &shm->results[i]);
        if (write(out_fd, &n, sizeof(n)) != sizeof(n))
            break;
    }
    _exit(0);
}

int native_start(bool use_ldt, bool *ldt)
{
    int to_child[2], from_child[2], ready;

    if ((uintptr_t)(dt_prologue_end - dt_prologue) + 7 > DT_LANDING_LO - DT_CODE ||
        (uintptr_t)(dt_epilogue_end - dt_epilogue) > DT_CODE + 4096 - N_EPILOGUE ||
        (uintptr_t)(dt_epilogue - dt_epilogue_taken) > N_EPILOGUE - DT_LANDING_HI)
        return -EINVAL;
    if (!shm) {
        shm = mmap(NULL, sizeof(*shm), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
        if (shm == MAP_FAILED) {
            shm = NULL;
            return -errno;
        }
    }
    if (pipe(to_child) || pipe(from_child))
        return -errno;
    fflush(NULL);
    child = fork();
    if (child < 0)
        return -errno;
    if (child == 0) {
        close(to_child[1]);
        close(from_child[0]);
        child_main(to_child[0], from_child[1], use_ldt);
    }
    close(to_child[0]);
    close(from_child[1]);
    cmd_fd = to_child[1];
    done_fd = from_child[0];
    if (read(done_fd, &ready, sizeof(ready)) != sizeof(ready)) {
        /* The child could not set up (and said why). */
        native_stop();
        return -ENOTSUP;
    }
    *ldt = ready;
    return 0;
}

void native_stop(void)
{
    if (child > 0) {
        close(cmd_fd);
        close(done_fd);
        waitpid(child, NULL, 0);
        child = -1;
    }
}

int native_run(const struct dt_case *cases, struct dt_result *results, int count)
{
    for (int done = 0; done < count;) {
        int n = count - done < BATCH ? count - done : BATCH, reply;

        memcpy(shm->cases, cases + done, (size_t)n * sizeof(*cases));
        if (write(cmd_fd, &n, sizeof(n)) != sizeof(n) ||
            read(done_fd, &reply, sizeof(reply)) != sizeof(reply) || reply != n) {
            int status = 0;

            /* The child died: something escaped the signal guard. */
            waitpid(child, &status, 0);
            child = -1;
            fprintf(stderr, "difftest: the native child died (status 0x%x)\n", status);
            return -EIO;
        }
        memcpy(results + done, shm->results, (size_t)n * sizeof(*results));
        done += n;
    }
    return 0;
}
