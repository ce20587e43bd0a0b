#include "hw/i8042.h"

/* Status register: 0x04 system flag (self-test passed); no output data. */
#define I8042_STATUS_SYS 0x04

static uint64_t i8042_data_read(void *opaque, uint64_t offset, unsigned size)
{
    (void)opaque;
    (void)offset;
    (void)size;
    return 0;
}

static uint64_t i8042_status_read(void *opaque, uint64_t offset, unsigned size)
{
    (void)opaque;
    (void)offset;
    (void)size;
    return I8042_STATUS_SYS;
}

static void i8042_command_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    (void)offset;
    (void)size;
    if (value == I8042_CMD_RESET)
        vm_reset(opaque, "guest requested a reset through the i8042");
}

int i8042_init(struct vm *vm)
{
    /* Two one-port ranges: 0x61-0x63 between them belong to other devices. */
    int err = bus_register(&vm->pio, &(struct bus_range){.base = I8042_DATA_PORT,
                                                         .len = 1,
                                                         .widths = BUS_W1,
                                                         .read = i8042_data_read,
                                                         .opaque = vm,
                                                         .name = "i8042"});
    if (err)
        return err;
    return bus_register(&vm->pio, &(struct bus_range){.base = I8042_COMMAND_PORT,
                                                      .len = 1,
                                                      .widths = BUS_W1,
                                                      .read = i8042_status_read,
                                                      .write = i8042_command_write,
                                                      .opaque = vm,
                                                      .name = "i8042"});
}
