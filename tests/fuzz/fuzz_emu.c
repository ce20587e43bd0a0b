/*
 * libFuzzer target for the emu engine: arbitrary bytes run as guest code.
 *
 * Input: as emu_vm.h says, with the mode in bits 0-1 of byte 0: 0 real
 * mode, 1 32-bit protected mode, 2 64-bit long mode, 3 compatibility mode.
 * One VM serves every input and is put back between inputs (emu_vm.c);
 * each runs for at most PASSES passes of the engine's run loop (the
 * committed seeds need 5 at most).
 *
 * The target must not crash, hang or touch memory outside guest RAM; the
 * sanitizers check the last.
 */

#include <stddef.h>
#include <stdint.h>

#include "emu_vm.h"

#define PASSES 8

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < FZ_HEADER)
        return 0;
    if (!fz_cpu)
        fz_init(false, false);
    if (fz_start(data, size, data[0] & 3, PASSES))
        return 0;
    fz_run();
    return 0;
}
