/*
 * Profile recording, on each vCPU's own thread: no signal, no timer, no
 * extra host call on the interpreter's path. emu_run already reads the
 * clock once per pass against cpu->deadline; with a profile the deadline is
 * never later than the next sample, so emu_events runs then and calls
 * emu_profile_tick, which reads the clock once more. A halted vCPU wakes
 * for its samples too, so idle time is sampled like the rest.
 *
 * A sample is where the pass that was running when it came due ended: up
 * to one pass (4096 instructions, some 30 us) late.
 */
#include <errno.h>
#include <stdlib.h>

#include "accel/emu/profile.h"
#include "vm/vm.h"

#define INITIAL_SAMPLES 16384
#define INITIAL_PHASES  256

struct profile_counts emu_profile_counts(const struct emu_stats *s)
{
    struct profile_counts c = {
        .insns = s->insns,
        .blocks = s->blocks_built,
        .jit = s->jit_translations,
        .tlb_misses = s->tlb_misses,
        .generic = s->generic,
        .steps = s->steps,
        .page_faults = s->exceptions[EXC_PF],
        .io = s->pio + s->mmio + s->apic,
        .halts = s->halts,
    };

    for (int v = 0; v < 32; v++)
        c.exceptions += s->exceptions[v];
    for (int v = 0; v < 256; v++)
        c.interrupts += s->interrupts[v];
    return c;
}

int emu_profile_init(struct emu_cpu *cpu)
{
    struct emu_profile *p = calloc(1, sizeof(*p));
    const struct timespec *t = &cpu->vm->start;

    if (!p)
        return -ENOMEM;
    p->cap = INITIAL_SAMPLES;
    p->phase_cap = INITIAL_PHASES;
    p->samples = malloc(p->cap * sizeof(*p->samples));
    p->phases = malloc(p->phase_cap * sizeof(*p->phases));
    if (!p->samples || !p->phases) {
        free(p->samples);
        free(p->phases);
        free(p);
        return -ENOMEM;
    }
    p->t0 = (uint64_t)t->tv_sec * 1000000000ULL + (uint64_t)t->tv_nsec;
    p->next_phase = p->t0 + EMU_PROFILE_PHASE_NS;
    cpu->prof = p;
    return 0;
}

void emu_profile_free(struct emu_cpu *cpu)
{
    struct emu_profile *p = cpu->prof;

    if (!p)
        return;
    free(p->samples);
    free(p->phases);
    free(p);
    cpu->prof = NULL;
}

/* Grows *v (of *cap elements of size bytes) to hold one more; false when
 * memory is short or limit is reached. */
static bool grow(void **v, size_t *cap, size_t n, size_t size, size_t limit)
{
    void *bigger;

    if (n < *cap)
        return true;
    if (*cap >= limit)
        return false;
    bigger = realloc(*v, *cap * 2 * size);
    if (!bigger)
        return false;
    *v = bigger;
    *cap *= 2;
    return true;
}

static void sample(struct emu_cpu *cpu, struct emu_profile *p, uint64_t now)
{
    uint64_t pc = cpu->rip;

    if (!grow((void **)&p->samples, &p->cap, p->nsamples, sizeof(*p->samples),
              PROFILE_MAX_SAMPLES)) {
        p->dropped++;
        return;
    }
    if (cpu->code_bits != 64)
        pc = (cpu->seg[SEG_CS].base + pc) & 0xffffffffULL;
    p->samples[p->nsamples++] = (struct profile_sample){
        .ns = now - p->t0,
        .pc = pc,
        .insns = cpu->stats.insns,
        .state = cpu->wait_sipi ? SAMPLE_WAIT_SIPI
                 : cpu->halted  ? SAMPLE_HALTED
                                : SAMPLE_RUN,
        .cpl = (uint8_t)cpu->cpl,
        .bits = (uint8_t)cpu->code_bits,
    };
}

void emu_profile_tick(struct emu_cpu *cpu)
{
    struct emu_profile *p = cpu->prof;
    uint64_t now = emu_now_ns();

    if (now < p->next_sample)
        return;
    /*
     * A pass that ended early ended at a special place: an exception
     * handler's entry, the instruction after a WRMSR that armed a timer.
     * Sampled there, such places would take the samples due during the
     * whole pass; so a running vCPU is sampled at the end of a full pass,
     * unless that is a sampling period late.
     */
    if (!cpu->pass_full && !cpu->halted && !cpu->wait_sipi &&
        now < p->next_sample + EMU_PROFILE_PERIOD_NS)
        return;
    /* From now, not from the missed time: a vCPU that was away (an
     * exclusive section, a slow device) gets one sample, not a burst. */
    p->next_sample = now + EMU_PROFILE_PERIOD_NS;
    sample(cpu, p, now);
    /* A phase that ended while this vCPU was away ends here, with the
     * ones after it empty. */
    while (now >= p->next_phase) {
        if (!grow((void **)&p->phases, &p->phase_cap, p->nphases, sizeof(*p->phases), SIZE_MAX))
            break;
        p->phases[p->nphases++] = emu_profile_counts(&cpu->stats);
        p->next_phase += EMU_PROFILE_PHASE_NS;
    }
}

void emu_profile_deadline(struct emu_cpu *cpu)
{
    if (cpu->prof->next_sample < cpu->deadline)
        cpu->deadline = cpu->prof->next_sample;
}
