/*
 * The host side of the nanobenchmarks: the TSC frequency, calibrated against
 * CLOCK_MONOTONIC (QEMU and KVM guests read the host's TSC), and the
 * operations that exist natively in a user process:
 *
 *     native tsc_hz             prints "nb tsc_hz HZ"
 *     native NAME ITERS         prints "nb NAME CYCLES ITERS"
 *
 * NAME: loop, callret (as the guest's loops), syscall (a round trip into the
 * host's Linux with an unknown system call number, which returns -ENOSYS at
 * once: the cheapest real system call).
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static inline uint64_t rdtsc(void)
{
    uint32_t lo, hi;

    __asm__ volatile("rdtsc" : "=a"(lo), "=d"(hi));
    return (uint64_t)hi << 32 | lo;
}

static uint64_t now_ns(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

static uint64_t tsc_hz(void)
{
    uint64_t t0 = now_ns(), c0 = rdtsc(), t1, c1;

    do
        t1 = now_ns();
    while (t1 - t0 < 200000000u);
    c1 = rdtsc();
    return (c1 - c0) * 1000000000u / (t1 - t0);
}

__attribute__((noinline)) static void callee(void)
{
    __asm__ volatile("");
}

static uint64_t run(const char *name, uint64_t n)
{
    uint64_t t0 = rdtsc();

    if (!strcmp(name, "loop")) {
        __asm__ volatile("1: dec %0; jnz 1b" : "+r"(n));
    } else if (!strcmp(name, "callret")) {
        for (uint64_t i = 0; i < n; i++) {
            callee();
            __asm__ volatile("" ::: "memory");
        }
    } else if (!strcmp(name, "syscall")) {
        for (uint64_t i = 0; i < n; i++) {
            long r = -1;

            __asm__ volatile("syscall" : "+a"(r) : : "rcx", "r11", "memory");
        }
    } else {
        return 0;
    }
    return rdtsc() - t0;
}

int main(int argc, char **argv)
{
    uint64_t n, cycles;

    if (argc == 2 && !strcmp(argv[1], "tsc_hz")) {
        printf("nb tsc_hz %llu\n", (unsigned long long)tsc_hz());
        return 0;
    }
    if (argc != 3 || !(n = strtoull(argv[2], NULL, 10)))
        return 2;
    if (!run(argv[1], n / 10 + 1))
        return 2;
    cycles = run(argv[1], n);
    printf("nb %s %llu %llu\n", argv[1], (unsigned long long)cycles, (unsigned long long)n);
    return 0;
}
