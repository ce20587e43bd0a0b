/*
 * The --profile report: plain text, read by people and by grep; each
 * section starts with a "== " line. docs/profiling.md explains every
 * number. Runs on the main thread after every vCPU thread was joined.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include "accel/emu/profile.h"
#include "hw/pc.h"
#include "util/symbols.h"
#include "vm/vm.h"

#define TOP_FUNCTIONS 40

static const char *const exc_names[32] = {
    [EXC_DE] = "#DE", [EXC_DB] = "#DB", [EXC_NMI] = "NMI", [EXC_BP] = "#BP", [EXC_OF] = "#OF",
    [EXC_BR] = "#BR", [EXC_UD] = "#UD", [EXC_NM] = "#NM",  [EXC_DF] = "#DF", [EXC_TS] = "#TS",
    [EXC_NP] = "#NP", [EXC_SS] = "#SS", [EXC_GP] = "#GP",  [EXC_PF] = "#PF", [EXC_MF] = "#MF",
    [EXC_AC] = "#AC", [EXC_MC] = "#MC", [EXC_XM] = "#XM",
};

struct report {
    struct vm *vm;
    FILE *f;
    const struct symbols *map;
    struct emu_cpu *cpu[VM_MAX_CPUS];
    int ncpu;
    uint64_t end_ns; /* the run's end, since vx86 started */
    struct emu_stats total;
    /* Kernel text of the map and how far this boot moved it (KASLR). */
    uint64_t text_lo, text_hi, slide;
    bool have_slide;
};

/* 1234567 as "1,234,567" into buf (at least 27 bytes). */
static const char *num(char *buf, uint64_t v)
{
    char tmp[24];
    int len = snprintf(tmp, sizeof(tmp), "%" PRIu64, v), o = 0;

    for (int i = 0; i < len; i++) {
        if (i && (len - i) % 3 == 0)
            buf[o++] = ',';
        buf[o++] = tmp[i];
    }
    buf[o] = '\0';
    return buf;
}

static double pct(uint64_t part, uint64_t whole)
{
    return whole ? 100.0 * (double)part / (double)whole : 0.0;
}

static double per_second(uint64_t n, uint64_t ns)
{
    return ns ? (double)n * 1e9 / (double)ns : 0.0;
}

static void add_stats(struct emu_stats *sum, const struct emu_stats *s)
{
    uint64_t *d = (uint64_t *)sum;
    const uint64_t *a = (const uint64_t *)s;

    /* struct emu_stats holds uint64_t counters only. */
    for (size_t i = 0; i < sizeof(*s) / sizeof(uint64_t); i++)
        d[i] += a[i];
}

/* The instructions all vCPUs had run by time ns, as their last samples at
 * or before it say (within one sampling period). */
static uint64_t insns_at(const struct report *r, uint64_t ns)
{
    uint64_t sum = 0;

    for (int i = 0; i < r->ncpu; i++) {
        const struct emu_profile *p = r->cpu[i]->prof;
        size_t lo = 0, hi = p->nsamples;

        while (lo < hi) {
            size_t mid = lo + (hi - lo) / 2;

            if (p->samples[mid].ns <= ns)
                lo = mid + 1;
            else
                hi = mid;
        }
        if (lo)
            sum += p->samples[lo - 1].insns;
    }
    return sum;
}

static void header(struct report *r)
{
    FILE *f = r->f;
    uint64_t samples = 0, dropped = 0;
    char a[32];

    for (int i = 0; i < r->ncpu; i++) {
        samples += r->cpu[i]->prof->nsamples;
        dropped += r->cpu[i]->prof->dropped;
    }
    fprintf(f, "vx86 profile: emu engine, %d vCPU%s, kernel %s\n", r->ncpu, r->ncpu > 1 ? "s" : "",
            r->vm->cfg.kernel);
    fprintf(f, "host time     %.3f s, from vx86's start to the end of the run\n",
            (double)r->end_ns / 1e9);
    fprintf(f, "sampling      every %.1f ms of host time on each vCPU's own thread; %s samples",
            (double)EMU_PROFILE_PERIOD_NS / 1e6, num(a, samples));
    if (dropped)
        fprintf(f, " (%s more dropped: over %u per vCPU)", num(a, dropped), PROFILE_MAX_SAMPLES);
    fprintf(f, "\nphases        %.0f ms of host time each\n", (double)EMU_PROFILE_PHASE_NS / 1e6);
    if (!r->map)
        fprintf(f, "symbols       none (--profile FILE,map=PATH names kernel functions)\n");
    else if (r->have_slide)
        fprintf(f,
                "symbols       %s code symbols; kernel text moved by %s0x%" PRIx64
                " from the map's (MSR_LSTAR against entry_SYSCALL_64)\n",
                num(a, r->map->n), r->slide >> 63 ? "-" : "+",
                r->slide >> 63 ? -r->slide : r->slide);
    else
        fprintf(f, "symbols       %s code symbols, used as they are\n", num(a, r->map->n));
}

static void totals(struct report *r)
{
    const struct emu_stats *t = &r->total;
    uint64_t n[3] = {0}, samples = 0, passes = 0, run_ns;
    FILE *f = r->f;
    char a[32], b[32];

    for (int i = 0; i < r->ncpu; i++) {
        const struct emu_profile *p = r->cpu[i]->prof;

        passes += r->cpu[i]->passes;
        for (size_t j = 0; j < p->nsamples; j++) {
            const struct profile_sample *s = &p->samples[j];

            n[s->state != SAMPLE_RUN ? 2 : s->cpl == 3 ? 1 : 0]++;
        }
    }
    samples = n[0] + n[1] + n[2];
    run_ns = (n[0] + n[1]) * EMU_PROFILE_PERIOD_NS;
    fprintf(f, "\n== totals (all vCPUs)\n");
    fprintf(f, "instructions    %20s   %.1f MIPS over the host time, %.1f MIPS while not idle\n",
            num(a, t->insns), per_second(t->insns, r->end_ns * (uint64_t)r->ncpu) / 1e6,
            per_second(t->insns, run_ns) / 1e6);
    fprintf(f, "samples         %20s   kernel %.1f%%, user %.1f%%, idle %.1f%%\n", num(b, samples),
            pct(n[0], samples), pct(n[1], samples), pct(n[2], samples));
    fprintf(f, "passes          %20s   emu_run loop trips\n", num(a, passes));
    for (int i = 0; r->ncpu > 1 && i < r->ncpu; i++)
        fprintf(f, "vCPU %-2d         %20s   instructions, %zu samples\n", i,
                num(a, r->cpu[i]->stats.insns), r->cpu[i]->prof->nsamples);
}

static void counter(FILE *f, const char *name, uint64_t v, uint64_t insns, const char *what)
{
    char a[32];

    fprintf(f, "%-17s %18s %10.1f   %s\n", name, num(a, v),
            insns ? (double)v * 1e6 / (double)insns : 0.0, what);
}

static void counters(struct report *r)
{
    const struct emu_stats *t = &r->total;
    uint64_t exc = 0, irq = 0, in = t->insns;
    FILE *f = r->f;

    for (int v = 0; v < 32; v++)
        exc += t->exceptions[v];
    for (int v = 0; v < 256; v++)
        irq += t->interrupts[v];
    fprintf(f, "\n== counters (all vCPUs; per_M: per million instructions)\n");
    fprintf(f, "%-17s %18s %10s   %s\n", "counter", "count", "per_M", "what");
    counter(f, "blocks_built", t->blocks_built, in, "decoded blocks built (block cache misses)");
    counter(f, "block_flushes", t->block_flushes, in, "block cache emptied (arena full)");
    counter(f, "jit_translations", t->jit_translations, in, "blocks translated to host code");
    counter(f, "jit_helper_calls", t->jit_helper_calls, in, "calls from translated code into C");
    counter(f, "jit_code_bytes", t->jit_code_bytes, in, "bytes of host code translated");
    counter(f, "jit_entries", t->jit_entries, in,
            "entries into translated code from the block loop");
    counter(f, "jit_cache_hits", t->jit_cache_hits, in, "of those, found by the jump cache in C");
    counter(f, "block_lookups", t->block_lookups, in, "block table lookups");
    counter(f, "interp_blocks", t->interp_blocks, in, "blocks run by the interpreter");
    counter(f, "tlb_misses", t->tlb_misses, in, "TLB misses: page walks");
    counter(f, "tlb_flushes", t->tlb_flushes, in, "whole-TLB flushes");
    counter(f, "tlb_page_flushes", t->tlb_page_flushes, in, "one-page TLB flushes");
    counter(f, "generic", t->generic, in, "instructions run by the generic groups (fallbacks)");
    counter(f, "steps", t->steps, in, "instructions run alone by emu_step, outside blocks");
    counter(f, "exceptions", exc, in, "exceptions delivered (faults, traps; by vector below)");
    counter(f, "soft_ints", t->soft_ints, in, "INT n, INT3, INTO");
    counter(f, "interrupts", irq, in, "external interrupts and NMIs delivered");
    counter(f, "pio", t->pio, in, "port I/O accesses");
    counter(f, "mmio", t->mmio, in, "MMIO device accesses");
    counter(f, "apic", t->apic, in, "local APIC page accesses");
    counter(f, "halts", t->halts, in, "HLT instructions run");
    counter(f, "exits", t->exits, in, "vcpu_run calls (returns to the VM loop)");
    if (exc) {
        fprintf(f, "exceptions by vector:");
        for (int v = 0; v < 32; v++)
            if (t->exceptions[v])
                fprintf(f, " %s %" PRIu64, exc_names[v] ? exc_names[v] : "vector",
                        t->exceptions[v]);
        fprintf(f, "\n");
    }
    if (irq) {
        fprintf(f, "interrupts by vector:");
        for (int v = 0; v < 256; v++)
            if (t->interrupts[v])
                fprintf(f, " 0x%02x %" PRIu64, v, t->interrupts[v]);
        fprintf(f, "\n");
    }
}

struct milestone {
    const char *what;
    uint64_t ns;
    bool seen;
};

enum { MS_START, MS_LONG, MS_USER, MS_TIMER, MS_END, MS_COUNT };

static void milestones(struct report *r)
{
    struct milestone m[MS_COUNT] = {
        [MS_START] = {"start", 0, true},
        [MS_LONG] = {"64-bit code", UINT64_MAX, false},
        [MS_USER] = {"user mode (CPL 3)", UINT64_MAX, false},
        [MS_TIMER] = {"boot timer (guest wrote 123)", 0, false},
        [MS_END] = {"end", r->end_ns, true},
    };
    const struct boot_timer *bt = r->vm->pc ? &r->vm->pc->boot_timer : NULL;
    FILE *f = r->f;
    int prev = MS_START;
    char a[32];

    for (int i = 0; i < r->ncpu; i++) {
        const struct emu_profile *p = r->cpu[i]->prof;

        for (size_t j = 0; j < p->nsamples; j++) {
            const struct profile_sample *s = &p->samples[j];

            if (s->state != SAMPLE_RUN)
                continue;
            if (s->bits == 64 && s->ns < m[MS_LONG].ns)
                m[MS_LONG] = (struct milestone){m[MS_LONG].what, s->ns, true};
            if (s->cpl == 3 && s->ns < m[MS_USER].ns)
                m[MS_USER] = (struct milestone){m[MS_USER].what, s->ns, true};
        }
    }
    if (bt && atomic_load(&bt->fired))
        m[MS_TIMER] = (struct milestone){m[MS_TIMER].what, bt->ns, true};
    fprintf(f,
            "\n== boot phases (from one milestone to the next; milestones seen by the "
            "samples, within %.0f ms)\n",
            (double)EMU_PROFILE_PERIOD_NS / 1e6);
    fprintf(f, "%-30s %11s %11s %22s %9s\n", "until", "at_ms", "phase_ms", "instructions", "MIPS");
    fprintf(f, "%-30s %11.1f\n", m[MS_START].what, 0.0);
    for (int i = MS_START + 1; i < MS_COUNT; i++) {
        uint64_t from, to, d;

        if (!m[i].seen || m[i].ns < m[prev].ns)
            continue;
        from = prev == MS_START ? 0 : insns_at(r, m[prev].ns);
        to = i == MS_END ? r->total.insns : insns_at(r, m[i].ns);
        d = to > from ? to - from : 0;
        fprintf(f, "%-30s %11.1f %11.1f %22s %9.1f\n", m[i].what, (double)m[i].ns / 1e6,
                (double)(m[i].ns - m[prev].ns) / 1e6, num(a, d),
                per_second(d, m[i].ns - m[prev].ns) / 1e6);
        prev = i;
    }
}

static void phases(struct report *r)
{
    size_t rows = (size_t)(r->end_ns / EMU_PROFILE_PHASE_NS) + 1;
    struct profile_counts *d = calloc(rows, sizeof(*d));
    uint64_t(*n)[3] = calloc(rows, sizeof(*n));
    FILE *f = r->f;
    char a[32];

    fprintf(f,
            "\n== phases (%.0f ms of host time each, all vCPUs; kern/user/idle: shares of the "
            "samples)\n",
            (double)EMU_PROFILE_PHASE_NS / 1e6);
    if (!d || !n) {
        fprintf(f, "(out of memory)\n");
        goto out;
    }
    for (int i = 0; i < r->ncpu; i++) {
        const struct emu_profile *p = r->cpu[i]->prof;
        struct profile_counts last = {0}, end = emu_profile_counts(&r->cpu[i]->stats);

        for (size_t k = 0; k < rows; k++) {
            const struct profile_counts *c = k < p->nphases ? &p->phases[k] : &end;
            uint64_t *dst = (uint64_t *)&d[k];
            const uint64_t *now = (const uint64_t *)c, *before = (const uint64_t *)&last;

            for (size_t j = 0; j < sizeof(*c) / sizeof(uint64_t); j++)
                dst[j] += now[j] - before[j];
            last = *c;
        }
        for (size_t j = 0; j < p->nsamples; j++) {
            const struct profile_sample *s = &p->samples[j];
            size_t k = (size_t)(s->ns / EMU_PROFILE_PHASE_NS);

            if (k < rows)
                n[k][s->state != SAMPLE_RUN ? 2 : s->cpl == 3 ? 1 : 0]++;
        }
    }
    fprintf(f, "%8s %15s %7s %5s %5s %5s %8s %9s %8s %7s %7s %6s %7s\n", "start_ms", "instructions",
            "MIPS", "kern", "user", "idle", "blocks", "tlb_miss", "generic", "exc", "#PF", "irq",
            "io");
    for (size_t k = 0; k < rows; k++) {
        uint64_t s = n[k][0] + n[k][1] + n[k][2];
        uint64_t len = k + 1 < rows ? EMU_PROFILE_PHASE_NS : r->end_ns - k * EMU_PROFILE_PHASE_NS;

        fprintf(f,
                "%8" PRIu64 " %15s %7.1f %4.0f%% %4.0f%% %4.0f%% %8" PRIu64 " %9" PRIu64
                " %8" PRIu64 " %7" PRIu64 " %7" PRIu64 " %6" PRIu64 " %7" PRIu64 "\n",
                (uint64_t)(k * EMU_PROFILE_PHASE_NS / 1000000), num(a, d[k].insns),
                per_second(d[k].insns, len * (uint64_t)r->ncpu) / 1e6, pct(n[k][0], s),
                pct(n[k][1], s), pct(n[k][2], s), d[k].blocks, d[k].tlb_misses, d[k].generic,
                d[k].exceptions, d[k].page_faults, d[k].interrupts, d[k].io);
    }
out:
    free(d);
    free(n);
}

/* One line of the function table: a symbol, an unnamed page, or a group. */
enum key_kind { KEY_SYMBOL, KEY_PAGE, KEY_USER, KEY_HALTED, KEY_WAIT_SIPI };

struct key {
    uint64_t v; /* KEY_SYMBOL: index in the map; KEY_PAGE: the page's address */
    uint64_t count;
    uint8_t kind;
};

static int key_order(const void *a, const void *b)
{
    const struct key *x = a, *y = b;

    if (x->kind != y->kind)
        return x->kind < y->kind ? -1 : 1;
    return x->v < y->v ? -1 : x->v > y->v;
}

static int by_count(const void *a, const void *b)
{
    const struct key *x = a, *y = b;

    if (x->count != y->count)
        return x->count > y->count ? -1 : 1;
    return key_order(a, b);
}

static struct key key_of(const struct report *r, const struct profile_sample *s)
{
    const struct symbol *sym = NULL;
    uint64_t pc = s->pc;

    if (s->state == SAMPLE_HALTED)
        return (struct key){.kind = KEY_HALTED};
    if (s->state == SAMPLE_WAIT_SIPI)
        return (struct key){.kind = KEY_WAIT_SIPI};
    if (s->cpl == 3)
        return (struct key){.kind = KEY_USER};
    if (r->map) {
        if (r->have_slide && pc - r->slide >= r->text_lo && pc - r->slide < r->text_hi)
            pc -= r->slide;
        sym = symbols_find(r->map, pc);
    }
    if (sym)
        return (struct key){.kind = KEY_SYMBOL, .v = (uint64_t)(sym - r->map->v)};
    return (struct key){.kind = KEY_PAGE, .v = s->pc & ~0xfffULL};
}

static void functions(struct report *r)
{
    size_t total = 0, nkeys = 0, unnamed = 0, kernel = 0;
    struct key *keys;
    FILE *f = r->f;

    for (int i = 0; i < r->ncpu; i++)
        total += r->cpu[i]->prof->nsamples;
    fprintf(f,
            "\n== top guest code by samples (kernel functions%s; user mode and idle as one "
            "line each)\n",
            r->map ? "" : ", by 4 KiB page without a map");
    keys = malloc((total ? total : 1) * sizeof(*keys));
    if (!keys) {
        fprintf(f, "(out of memory)\n");
        return;
    }
    for (int i = 0; i < r->ncpu; i++) {
        const struct emu_profile *p = r->cpu[i]->prof;

        for (size_t j = 0; j < p->nsamples; j++) {
            keys[nkeys] = key_of(r, &p->samples[j]);
            /* Only the upper half is the kernel's own: code below it (a
             * decompressor, firmware) is in no kernel map. */
            if (keys[nkeys].kind <= KEY_PAGE && p->samples[j].pc >> 63) {
                kernel++;
                unnamed += keys[nkeys].kind == KEY_PAGE;
            }
            nkeys++;
        }
    }
    qsort(keys, nkeys, sizeof(*keys), key_order);
    {
        size_t out = 0;

        for (size_t i = 0; i < nkeys; i++) {
            if (out && !key_order(&keys[out - 1], &keys[i])) {
                keys[out - 1].count++;
                continue;
            }
            keys[out] = keys[i];
            keys[out++].count = 1;
        }
        nkeys = out;
    }
    qsort(keys, nkeys, sizeof(*keys), by_count);
    fprintf(f, "%8s %6s  %s\n", "samples", "share", "where");
    for (size_t i = 0; i < nkeys && i < TOP_FUNCTIONS; i++) {
        const struct key *k = &keys[i];

        fprintf(f, "%8" PRIu64 " %5.1f%%  ", k->count, pct(k->count, total));
        switch (k->kind) {
        case KEY_SYMBOL:
            fprintf(f, "%s\n", r->map->v[k->v].name);
            break;
        case KEY_PAGE:
            fprintf(f, "[page 0x%" PRIx64 "]\n", k->v);
            break;
        case KEY_USER:
            fprintf(f, "[user]\n");
            break;
        case KEY_HALTED:
            fprintf(f, "[idle: halted]\n");
            break;
        default:
            fprintf(f, "[idle: waiting for a start-up IPI]\n");
            break;
        }
    }
    if (nkeys > TOP_FUNCTIONS)
        fprintf(f, "(%zu more)\n", nkeys - TOP_FUNCTIONS);
    if (r->map && kernel && unnamed * 10 > kernel)
        fprintf(f,
                "note: %.0f%% of the samples in the kernel's half have no symbol: is the map "
                "this kernel's? (module addresses need nokaslr, or a map from this boot)\n",
                pct(unnamed, kernel));
    free(keys);
}

/* The map's kernel text, and where this boot put it: KASLR moves it by a
 * multiple of 2 MiB, which MSR_LSTAR (entry_SYSCALL_64, SDM Vol. 3A
 * §5.8.8) shows once the kernel has set it. */
static void locate_text(struct report *r)
{
    uint64_t entry = 0, lstar = r->ncpu ? r->cpu[0]->msr.lstar : 0;

    r->text_lo = 0;
    r->text_hi = UINT64_MAX;
    for (size_t i = 0; i < r->map->n; i++) {
        const char *name = r->map->v[i].name;

        if (!strcmp(name, "_text") || !strcmp(name, "_stext"))
            r->text_lo = r->text_lo ? r->text_lo : r->map->v[i].addr;
        else if (!strcmp(name, "_etext"))
            r->text_hi = r->map->v[i].addr;
        else if (!strcmp(name, "entry_SYSCALL_64"))
            entry = r->map->v[i].addr;
    }
    if (entry && lstar) {
        r->slide = lstar - entry;
        r->have_slide = true;
    }
}

int emu_profile_write(struct vm *vm, FILE *f, const struct symbols *map)
{
    struct report r = {.vm = vm, .f = f, .map = map && map->n ? map : NULL};

    for (int i = 0; i < vm->nr_vcpus; i++) {
        struct emu_cpu *cpu = (struct emu_cpu *)vm->vcpus[i].accel;

        if (cpu && cpu->prof) {
            r.cpu[r.ncpu++] = cpu;
            add_stats(&r.total, &cpu->stats);
        }
    }
    if (!r.ncpu)
        return 0;
    r.end_ns = emu_now_ns() - r.cpu[0]->prof->t0;
    if (r.map)
        locate_text(&r);
    header(&r);
    totals(&r);
    counters(&r);
    milestones(&r);
    phases(&r);
    functions(&r);
    return fflush(f) || ferror(f) ? -EIO : 0;
}
