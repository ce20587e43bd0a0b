/*
 * The PC's 8042 keyboard controller at ports 0x60 (data) and 0x64 (status
 * / command), a PS/2 one as in QEMU's PC: a keyboard on its first port
 * (hw/ps2_kbd.h, IRQ 1) and an auxiliary (mouse) port, IRQ 12, with no
 * device plugged in. Sources: IBM PS/2 Hardware Interface Technical
 * Reference, "Keyboard/Auxiliary Device Controller"; what Linux's i8042
 * driver expects when it probes the ports without firmware tables.
 *
 * Status (0x64 read): OBF (bit 0) while the output buffer holds a byte,
 * IBF (1) never (commands complete at once), the system flag (2) as the
 * CTR's bit 2, command/data (3) whether the last write went to 0x64,
 * keyboard not inhibited (4) always, AUX data (5), timeout (6).
 *
 * Commands (0x64 write); "data" is the next byte written to 0x60:
 *   0x20-0x3f  read controller RAM byte 0-31 (byte 0 is the CTR)
 *   0x60-0x7f  write controller RAM byte 0-31 with data
 *   0xa7/0xa8  disable / enable the AUX port (CTR bit 5)
 *   0xa9       AUX interface test: 0x00; 0xab keyboard interface test: 0x00
 *   0xaa       self-test: 0x55, and sets the system flag
 *   0xad/0xae  disable / enable the keyboard port (CTR bit 4)
 *   0xd0       read the output port; bits 4 and 5 show the output buffer
 *   0xd1       write the output port with data: bit 0 clear resets the
 *              machine (as QEMU); bit 1 (A20) is kept but gates nothing
 *   0xd2/0xd3  data comes back as if from the keyboard / the AUX device
 *   0xd4       data goes to the AUX device: none answers, so the
 *              controller returns 0xfe with the timeout and AUX bits
 *   0xf0-0xff  pulse output port bits 0-3 low where the command's are 0:
 *              bit 0 resets the machine (0xfe is the usual reset)
 * Others are ignored. A byte written to 0x60 with no command waiting for
 * it goes to the keyboard and enables the keyboard port.
 *
 * The output buffer is filled from the controller's own answers first,
 * then from the keyboard while its port is enabled. With CTR bit 6 the
 * keyboard's bytes are translated to scan code set 1 as the 8042 does.
 * IRQ 1 is high while the buffer holds a keyboard byte and CTR bit 0 is
 * set, IRQ 12 while it holds an AUX byte and CTR bit 1 is set.
 *
 * The state is locked internally: the bus handlers run on vCPU threads.
 */
#ifndef VX86_HW_I8042_H
#define VX86_HW_I8042_H

#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>

#include "hw/bus.h"
#include "hw/ps2_kbd.h"

#define I8042_STR_OBF     0x01
#define I8042_STR_IBF     0x02 /* never set */
#define I8042_STR_SYS     0x04
#define I8042_STR_CMD     0x08
#define I8042_STR_UNLOCK  0x10
#define I8042_STR_AUXDATA 0x20
#define I8042_STR_TIMEOUT 0x40

#define I8042_CTR_KBDINT 0x01
#define I8042_CTR_AUXINT 0x02
#define I8042_CTR_SYS    0x04
#define I8042_CTR_KBDDIS 0x10
#define I8042_CTR_AUXDIS 0x20
#define I8042_CTR_XLATE  0x40

#define I8042_OUT_RESET  0x01 /* 0: the CPU's reset line is asserted */
#define I8042_OUT_OBF    0x10
#define I8042_OUT_AUXOBF 0x20

#define I8042_CMD_RESET 0xfe

/* The controller's own answers waiting for the output buffer. */
#define I8042_REPLIES 8

/* Called with the controller's lock held: must not call back into it. */
typedef void i8042_irq_fn(void *opaque, unsigned irq, int level);
/* Called without the lock, on the vCPU thread that asked for the reset. */
typedef void i8042_reset_fn(void *opaque);

struct i8042 {
    pthread_mutex_t lock;
    struct ps2_kbd kbd;
    uint8_t ram[32]; /* ram[0] is the controller command byte (CTR) */
    uint8_t outport;
    uint8_t waiting; /* the command waiting for a data byte, 0 if none */
    bool cmd_last;   /* the last write went to the command port */
    bool obf;
    uint8_t out;       /* the output buffer; it keeps its value once read */
    uint8_t out_flags; /* I8042_STR_AUXDATA / I8042_STR_TIMEOUT of that byte */
    struct {
        uint8_t byte, flags;
    } reply[I8042_REPLIES];
    unsigned reply_head, reply_len;
    int level[2]; /* of IRQ 1 and IRQ 12 as last reported */
    i8042_irq_fn *irq;
    i8042_reset_fn *reset;
    void *opaque;
};

/* Puts the controller in the state a PC's firmware leaves it (CTR 0x65:
 * keyboard interrupt, system flag, AUX port off, translation) and registers
 * ports 0x60 and 0x64 on pio. Returns 0 or -errno. */
__attribute__((warn_unused_result)) int i8042_init(struct i8042 *c, struct bus *pio,
                                                   i8042_irq_fn *irq, i8042_reset_fn *reset,
                                                   void *opaque);

/* Presses and releases Ctrl-Alt-Del on the keyboard (any thread); the
 * guest gets IRQ 1 as for typed keys. -EAGAIN when the keyboard does not
 * scan (disabled by its driver) or its queue is full. */
int i8042_ctrl_alt_del(struct i8042 *c);

/* Safe on a zeroed struct or after a failed init. */
void i8042_destroy(struct i8042 *c);

#endif
