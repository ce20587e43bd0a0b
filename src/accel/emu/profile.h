/*
 * The emu engine's profiler (`vx86 run --profile`, docs/profiling.md):
 * what each vCPU records for it, shared by profile.c (recording, on the
 * vCPU's own thread) and profile_report.c (the report, on the main thread
 * after every vCPU thread was joined, so without locks).
 */
#ifndef VX86_ACCEL_EMU_PROFILE_H
#define VX86_ACCEL_EMU_PROFILE_H

#include <stdio.h>

#include "accel/emu/cpu/cpu.h"

struct symbols;

/* What a sampled vCPU was doing. */
enum sample_state { SAMPLE_RUN, SAMPLE_HALTED, SAMPLE_WAIT_SIPI };

struct profile_sample {
    uint64_t ns;    /* since vx86 started */
    uint64_t pc;    /* CS.base + RIP: the linear address of the next instruction */
    uint64_t insns; /* the vCPU's instructions so far */
    uint8_t state;  /* enum sample_state */
    uint8_t cpl;
    uint8_t bits; /* 16, 32 or 64: the code size */
};

/* The counters a phase row shows, as cumulative values at a phase's end. */
struct profile_counts {
    uint64_t insns, blocks, jit, tlb_misses, generic, steps, exceptions, page_faults, interrupts,
        io, halts;
};

/* The most samples kept per vCPU (about 70 minutes at one per ms); later
 * ones are counted in dropped only. */
#define PROFILE_MAX_SAMPLES (1u << 22)

struct emu_profile {
    uint64_t t0; /* CLOCK_MONOTONIC ns at vx86's start: the report's time 0 */
    uint64_t next_sample, next_phase;
    struct profile_sample *samples;
    size_t nsamples, cap;
    uint64_t dropped;
    struct profile_counts *phases; /* [k]: cumulative at the end of phase k */
    size_t nphases, phase_cap;
};

/* The phase row counters of s. */
struct profile_counts emu_profile_counts(const struct emu_stats *s);

/*
 * Writes the profile of vm's vCPUs (all joined) to f; kernel code named from
 * map when not NULL. The emu engine's accel_ops.profile. Returns 0 or -EIO.
 */
int emu_profile_write(struct vm *vm, FILE *f, const struct symbols *map);

#endif
