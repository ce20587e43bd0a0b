/*
 * POST diagnostic port 0x80. Firmware writes progress codes there and
 * Linux writes it as an I/O delay, so a write must be cheap and silent; the
 * last code is kept and read back.
 */
#ifndef VX86_HW_POST_H
#define VX86_HW_POST_H

#include <stdatomic.h>
#include <stdint.h>

#include "hw/bus.h"

struct post {
    _Atomic uint8_t code;
};

__attribute__((warn_unused_result)) int post_init(struct post *post, struct bus *pio);

#endif
