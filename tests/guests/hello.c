/* The smallest guest: greets on COM1, echoes its command line, passes. */
#include "lib/guest.h"

int guest_main(const char *cmdline, uint64_t mem_size)
{
    printf("Hello from a vx86 guest\n");
    printf("command line: \"%s\"\n", cmdline);
    printf("RAM: %lu MiB\n", mem_size >> 20);
    CHECK(mem_size >= (2u << 20));
    guest_finish();
}
