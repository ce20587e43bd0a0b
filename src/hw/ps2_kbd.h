/*
 * A PS/2 keyboard (IBM PS/2 Keyboard and Auxiliary Device technical
 * reference; the 8042's keyboard port, hw/i8042.h) that answers the
 * commands a driver sends: vx86's console is the serial port, so the
 * keyboard is there for drivers that probe it (Linux's atkbd), and its
 * only keys are the ones the control plane sends (Ctrl-Alt-Del, as
 * Firecracker's SendCtrlAltDel).
 *
 * Commands, each answered with ACK (0xfa) unless said otherwise:
 *   0xed LEDs, 0xf3 typematic rate/delay: ACK, then ACK for the parameter
 *   0xee echo: 0xee
 *   0xf0 scan code set: ACK, then for the parameter ACK (1-3 select that
 *        set; 0 asks for it: ACK and the set number; others: resend 0xfe)
 *   0xf2 identify: ACK, 0xab, 0x83 (an MF2 keyboard)
 *   0xf4 enable, 0xf5 disable and set defaults, 0xf6 set defaults
 *   0xf7-0xfa set 3 types for all keys: ACK; 0xfb-0xfd set 3 types for the
 *        keys that follow: ACK, and ACK for each key code until the next
 *        command (types are not kept: no key is ever pressed)
 *   0xfe resend: the last byte sent again
 *   0xff reset: ACK, then 0xaa (self-test passed)
 *   anything else: 0xfe (resend)
 * A command byte (0xed or above) in place of an expected parameter ends the
 * previous command and runs as a command, as real keyboards do.
 *
 * Replies wait in a 16-byte queue (the size of a real keyboard's buffer)
 * until the controller takes them; bytes that do not fit are lost. The
 * controller serialises all calls (it holds its lock).
 */
#ifndef VX86_HW_PS2_KBD_H
#define VX86_HW_PS2_KBD_H

#include <stdbool.h>
#include <stdint.h>

#define PS2_KBD_QUEUE 16

#define PS2_ACK      0xfa
#define PS2_RESEND   0xfe
#define PS2_BAT_OK   0xaa
#define PS2_ECHO     0xee
#define PS2_ID_FIRST 0xab
#define PS2_ID_MF2   0x83

struct ps2_kbd {
    uint8_t queue[PS2_KBD_QUEUE];
    unsigned head, len;
    uint8_t param_for; /* the command waiting for its parameter, 0 if none */
    uint8_t last;      /* the last byte taken, for resend */
    uint8_t set;       /* scan code set, 1-3 */
    uint8_t leds;
    uint8_t typematic;
    bool scanning;
};

/* Power-on state after a passed self-test: nothing queued, set 2, scanning. */
void ps2_kbd_reset(struct ps2_kbd *k);

/* A byte from the controller: a command or a command's parameter. */
void ps2_kbd_write(struct ps2_kbd *k, uint8_t byte);

/* Takes the next byte the keyboard sends; -1 when it has nothing to send. */
int ps2_kbd_read(struct ps2_kbd *k);

/* Queues n bytes of set 2 scan codes (make and break codes of keys) as
 * typed; -EAGAIN when scanning is off or they do not all fit (nothing is
 * queued then, so that no key is left pressed). */
int ps2_kbd_keys(struct ps2_kbd *k, const uint8_t *codes, unsigned n);

#endif
