/*
 * The 8042 keyboard controller, as far as a headless VM needs it: the
 * status and data ports answer "no data", and command 0xfe (pulse the reset
 * line) resets the machine, which is how Linux reboots with reboot=k.
 */
#ifndef VX86_HW_I8042_H
#define VX86_HW_I8042_H

#include "vm/vm.h"

#define I8042_DATA_PORT    0x60
#define I8042_COMMAND_PORT 0x64
#define I8042_CMD_RESET    0xfe

__attribute__((warn_unused_result)) int i8042_init(struct vm *vm);

#endif
