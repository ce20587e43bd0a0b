#include "hw/debug_exit.h"

#include <stdio.h>

#include "util/log.h"

int debug_exit_status(uint64_t value)
{
    return (int)(((value << 1) | 1) & 0xff);
}

static void debug_exit_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    struct vm *vm = opaque;
    char why[64];

    (void)size;
    if (offset != 0)
        return;
    snprintf(why, sizeof(why), "guest wrote 0x%llx to the debug-exit port",
             (unsigned long long)value);
    vm_stop(vm, debug_exit_status(value), log_verbose ? why : NULL);
}

int debug_exit_init(struct vm *vm)
{
    return bus_register(&vm->pio, &(struct bus_range){.base = DEBUG_EXIT_PORT,
                                                      .len = 4,
                                                      .widths = BUS_W1 | BUS_W2 | BUS_W4,
                                                      .write = debug_exit_write,
                                                      .opaque = vm,
                                                      .name = "debug-exit"});
}
