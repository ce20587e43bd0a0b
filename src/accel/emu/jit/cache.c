/*
 * The code cache: one memfd mapped twice, read-write for the translator and
 * read-execute for the vCPU (W^X without mprotect calls, which cost a host
 * syscall each here). It starts with the entry and exit trampolines; blocks
 * follow, bump-allocated, until the cache is full and emptied as a whole.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "accel/emu/jit/internal.h"
#include "vm/vm.h"

/* Host code for: push the callee-saved registers, keep the stack 16-byte
 * aligned for calls into C, RBX = cpu, jump to the block (RSI); and the
 * way back, returning RAX. */
static void emit_trampolines(struct emu_jit *j)
{
    struct jit_buf b = {j->rw, j->rw + 256, false};
    static const uint8_t saved[] = {HR_RBX, HR_RBP, HR_R12, HR_R13, HR_R14, HR_R15};

    for (unsigned i = 0; i < sizeof(saved); i++)
        push_r(&b, saved[i]);
    e8(&b, 0x48); /* sub rsp, 8 */
    e8(&b, 0x83);
    e8(&b, 0xec);
    e8(&b, 8);
    mov_rr(&b, 8, HR_RBX, HR_RDI);
    jmp_r(&b, HR_RSI);
    j->exit = j->rx + (b.p - j->rw);
    e8(&b, 0x48); /* add rsp, 8 */
    e8(&b, 0x83);
    e8(&b, 0xc4);
    e8(&b, 8);
    for (unsigned i = sizeof(saved); i-- > 0;)
        pop_r(&b, saved[i]);
    e8(&b, 0xc3);
    j->start = (size_t)(b.p - j->rw + 63) & ~(size_t)63;
    j->used = j->start;
}

int emu_jit_init(struct emu_cpu *cpu)
{
    struct emu_jit *j;
    int fd;

    if (cpu->vm->cfg.jit_off)
        return 0;
    /* The jump cache's entries are a cache line each. */
    j = aligned_alloc(64, (sizeof(*j) + 63) & ~(size_t)63);
    if (!j)
        return -ENOMEM;
    memset(j, 0, sizeof(*j));
    fd = memfd_create("vx86-jit", MFD_CLOEXEC);
    if (fd < 0 || ftruncate(fd, EMU_JIT_CACHE_BYTES) < 0)
        goto fail;
    j->rw = mmap(NULL, EMU_JIT_CACHE_BYTES, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    j->rx = mmap(NULL, EMU_JIT_CACHE_BYTES, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    close(fd);
    fd = -1;
    if (j->rw == MAP_FAILED || j->rx == MAP_FAILED)
        goto fail;
    /* The psABI keeps MXCSR's control bits across calls: C code around
     * translated code runs with these. */
    cpu->jit_host_mxcsr = __builtin_ia32_stmxcsr();
    j->eager = cpu->vm->cfg.jit_eager || getenv("VX86_JIT_EAGER") != NULL;
    if (getenv("VX86_JIT_PERF_MAP")) {
        char path[64];

        /* perf report names samples in translated code from this file:
         * one line per translation, its guest RIP as the symbol. */
        snprintf(path, sizeof(path), "/tmp/perf-%d.map", (int)getpid());
        j->perf_map = fopen(path, "a");
    }
    emit_trampolines(j);
    cpu->jit = j;
    return 0;
fail:
    /* No code cache (a host without memfd, or a seccomp filter that forbids
     * executable mappings): the interpreter runs everything. */
    if (fd >= 0)
        close(fd);
    if (j->rw && j->rw != MAP_FAILED)
        munmap(j->rw, EMU_JIT_CACHE_BYTES);
    if (j->rx && j->rx != MAP_FAILED)
        munmap(j->rx, EMU_JIT_CACHE_BYTES);
    free(j);
    return 0;
}

void emu_jit_free(struct emu_cpu *cpu)
{
    struct emu_jit *j = cpu->jit;

    if (!j)
        return;
    munmap(j->rw, EMU_JIT_CACHE_BYTES);
    munmap(j->rx, EMU_JIT_CACHE_BYTES);
    if (j->perf_map)
        fclose(j->perf_map);
    free(j->tr);
    free(j);
    cpu->jit = NULL;
}

void emu_jit_flush(struct emu_cpu *cpu)
{
    struct emu_jit *j = cpu->jit;

    if (!j)
        return;
    j->used = j->start;
    j->flushes++;
    memset(j->jc, 0, sizeof(j->jc));
}

unsigned emu_jit_threshold(const struct emu_cpu *cpu)
{
    return cpu->jit->eager ? 0 : JIT_HOT_RUNS;
}

uint64_t emu_jit_epoch(const struct emu_cpu *cpu)
{
    return cpu->jit->flushes;
}

const void *emu_jit_cached(struct emu_cpu *cpu, struct emu_block **bp)
{
    struct jc_entry *e = &cpu->jit->jc[jc_index(cpu->rip)];
    const uint8_t *host;

    if (e->rip != cpu->rip || !e->code)
        return NULL;
    if (e->ctx == jit_ctx(cpu) || e->ctx == jit_ctx_global(cpu)) {
        if (e->gen != emu_code_gen(cpu, e->page) ||
            (e->across && !emu_block_across_ok(cpu, e->block, cpu->rip)))
            return NULL;
        cpu->fetch_global = e->ctx & 4;
        *bp = e->block;
        return e->code;
    }
    /* A mapping may have changed since the entry was made (a TLB flush):
     * the entry holds again if RIP still leads to the block's bytes, as
     * lookup would find (without its hash table's cache misses), at the
     * CPL the code was made for. 64-bit code only: 32-bit code needs
     * lookup's CS checks. */
    if (cpu->code_bits != 64 || (e->ctx & 3) != (unsigned)cpu->cpl)
        return NULL;
    cpu->insn_rip = cpu->rip; /* a fault on the fetch is this instruction's */
    if (!(host = emu_fetch_host(cpu, cpu->rip)) || emu_code_key(cpu, host) != e->key ||
        e->gen != emu_code_gen(cpu, e->page) ||
        (e->across && !emu_block_across_ok(cpu, e->block, cpu->rip)))
        return NULL;
    if (cpu->fetch_global) {
        e->ctx = jit_ctx_global(cpu);
        emu_global_code_note(cpu, cpu->rip);
    } else {
        e->ctx = jit_ctx(cpu);
    }
    *bp = e->block;
    return e->code;
}

void emu_jit_code_written(struct emu_cpu *cpu, const uint8_t *p, unsigned len)
{
    emu_code_written(cpu, p, len);
}

const void *emu_jit_next(struct emu_cpu *cpu)
{
    struct emu_block *b;
    const void *code;

    /* The budget first: the jump cache's revalidation may fault, and the
     * block loop would take that fault in its next pass. */
    if (cpu->jit_budget <= 0 || cpu->halted || cpu->triple_fault || cpu->intr_shadow ||
        emu_debug_on(cpu) || emu_events_due(cpu))
        return NULL;
    cpu->jit_ctx = jit_ctx(cpu);
    cpu->jit_ctx_g = jit_ctx_global(cpu);
    code = emu_jit_cached(cpu, &b);
    if (code)
        cpu->code_changed = false; /* as at the block loop's entry into b */
    return code;
}

void *emu_jit_run(struct emu_cpu *cpu, const struct emu_block *b, const void *code)
{
    typedef void *entry_fn(struct emu_cpu * cpu, const void *code);

    struct emu_jit *j = cpu->jit;
    struct jc_entry *e = &j->jc[jc_index(cpu->rip)];
    uint64_t ctx;

    cpu->jit_ctx = jit_ctx(cpu);
    cpu->jit_ctx_g = jit_ctx_global(cpu);
    ctx = cpu->fetch_global ? cpu->jit_ctx_g : cpu->jit_ctx;
    if (e->rip != cpu->rip || e->code != code || e->ctx != ctx) {
        *e = (struct jc_entry){.rip = cpu->rip,
                               .ctx = ctx,
                               .code = code,
                               .block = (struct emu_block *)b,
                               .key = b->key,
                               .page = b->page,
                               .gen = b->gen,
                               .across = b->host2 != NULL};
        if (cpu->fetch_global)
            emu_global_code_note(cpu, cpu->rip);
    }
    /* Past the test of kicked and wake: the block loop runs the block it
     * chose before it looks at events again, as it does with the
     * interpreter's run_block, so that a pass always runs at least one
     * block. Blocks reached from here test them. */
    /* The generation test the entry skips: what its failure does, leave
     * with nothing run. */
    if (emu_code_gen(cpu, b->page) != b->gen)
        return NULL;
    return ((entry_fn *)(void *)j->rx)(cpu, (const uint8_t *)code + j->c_entry);
}

void emu_jit_link(struct emu_cpu *cpu, void *site, const struct emu_block *b, const void *code)
{
    struct emu_jit *j = cpu->jit;
    uintptr_t tags = (uintptr_t)site & (JIT_SITE_FULL | JIT_SITE_PARK);
    uint8_t *hole = (uint8_t *)((uintptr_t)site & ~tags);
    const uint8_t *to = code;
    bool full = tags & JIT_SITE_FULL;

    /* Past the target's generation test, where the site allows it: the
     * target is in the site's page, whose generation the site's block
     * tested. Not for a block that runs into the next page, whose test
     * covers that page too. */
    if (!full && !b->host2)
        to += j->link_entry;
    /* hole is the rel32 of a JMP that so far falls through to the exit. */
    /* The displacement between the writable aliases is the same. */
    jit_bind_to(j->rw + (hole - j->rx), j->rw + (to - j->rx));
    /* A parking site's first JMP, before the merge, to the park entry of
     * the translation (code may be an older one of b's, for another RIP or
     * CPL: its park entry is unknown). */
    if ((tags & JIT_SITE_PARK) && b->jit_park && code == b->jit) {
        to = (const uint8_t *)code + b->jit_park + (full ? 0 : j->park_skip);
        hole -= j->park_gap;
        jit_bind_to(j->rw + (hole - j->rx), j->rw + (to - j->rx));
    }
}
