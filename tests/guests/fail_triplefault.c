/*
 * Expected to fail: with an empty IDT (limit 0) no exception can be
 * delivered, so ud2's #UD turns into #GP, then #DF, then a triple fault
 * (SDM Vol. 3A §6.15, "Interrupt 8"), which shuts the VM down. vx86 must
 * say "triple fault" and exit with status 4.
 */
#include "lib/guest.h"

int guest_main(const char *cmdline, uint64_t mem_size)
{
    struct __attribute__((packed)) {
        uint16_t limit;
        uint64_t base;
    } idtr = {0, 0};

    (void)cmdline;
    (void)mem_size;
    printf("loading an empty IDT and executing ud2: expect a triple fault\n");
    asm volatile("lidt %0\n\tud2" : : "m"(idtr));
    printf("FAIL: still running after a triple fault\n");
    guest_exit(1);
}
