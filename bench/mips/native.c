/* The native column of bench/mips: runs body.S ITERS times on the host and
 * prints the seconds it took. */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

void mips_loop(uint64_t iters, void *array);

int main(int argc, char **argv)
{
    struct timespec a, b;
    void *array = aligned_alloc(4096, 4 << 20);

    if (argc != 2 || !array) {
        fprintf(stderr, "usage: native ITERS\n");
        return 2;
    }
    memset(array, 1, 4 << 20);
    clock_gettime(CLOCK_MONOTONIC, &a);
    mips_loop(strtoull(argv[1], NULL, 0), array);
    clock_gettime(CLOCK_MONOTONIC, &b);
    printf("%.6f\n", (double)(b.tv_sec - a.tv_sec) + (b.tv_nsec - a.tv_nsec) / 1e9);
    return 0;
}
