/*
 * INT3 with no IDT: the breakpoint cannot be delivered, the #GP raised
 * instead cannot be either, and the CPU triple-faults. On PVM, the software
 * KVM of the development machines, KVM cannot emulate INT3 at CPL 0 at all
 * and stops with an emulation failure: the test checks vx86 reports that.
 */
#include "lib/guest.h"

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    static const struct {
        uint16_t limit;
        uint64_t base;
    } __attribute__((packed)) empty_idt = {0, 0};

    __asm__ volatile("lidt %0\n\tint3" : : "m"(empty_idt));
    printf("FAIL: INT3 with an empty IDT returned\n");
    return 1;
}
