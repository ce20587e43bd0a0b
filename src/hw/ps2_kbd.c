#include "hw/ps2_kbd.h"

#include <errno.h>
#include <string.h>

enum {
    CMD_SET_LEDS = 0xed,
    CMD_ECHO = 0xee,
    CMD_SCAN_SET = 0xf0,
    CMD_IDENTIFY = 0xf2,
    CMD_TYPEMATIC = 0xf3,
    CMD_ENABLE = 0xf4,
    CMD_DISABLE = 0xf5,
    CMD_DEFAULTS = 0xf6,
    CMD_SET3_ALL_FIRST = 0xf7,  /* 0xf7-0xfa: a type for all keys */
    CMD_SET3_KEYS_FIRST = 0xfb, /* 0xfb-0xfd: a type for the keys that follow */
    CMD_SET3_KEYS_LAST = 0xfd,
    CMD_RESEND = 0xfe,
    CMD_RESET = 0xff,
};

/* Power-on defaults of the typematic byte: 500 ms delay, 10.9 chars/s. */
#define TYPEMATIC_DEFAULT 0x2b

static void push(struct ps2_kbd *k, uint8_t byte)
{
    if (k->len == PS2_KBD_QUEUE)
        return;
    k->queue[(k->head + k->len) % PS2_KBD_QUEUE] = byte;
    k->len++;
}

static void set_defaults(struct ps2_kbd *k)
{
    k->set = 2;
    k->typematic = TYPEMATIC_DEFAULT;
}

void ps2_kbd_reset(struct ps2_kbd *k)
{
    memset(k, 0, sizeof(*k));
    set_defaults(k);
    k->scanning = true;
}

static void parameter(struct ps2_kbd *k, uint8_t cmd, uint8_t value)
{
    switch (cmd) {
    case CMD_SET_LEDS:
        k->leds = value & 7;
        push(k, PS2_ACK);
        break;
    case CMD_TYPEMATIC:
        k->typematic = value & 0x7f;
        push(k, PS2_ACK);
        break;
    case CMD_SCAN_SET:
        if (value > 3) {
            push(k, PS2_RESEND);
            break;
        }
        push(k, PS2_ACK);
        if (value)
            k->set = value;
        else
            push(k, k->set);
        break;
    default: /* a key code of a set 3 per-key list, which goes on until a command */
        k->param_for = cmd;
        push(k, PS2_ACK);
        break;
    }
}

static void command(struct ps2_kbd *k, uint8_t cmd)
{
    switch (cmd) {
    case CMD_SET_LEDS:
    case CMD_SCAN_SET:
    case CMD_TYPEMATIC:
        k->param_for = cmd;
        push(k, PS2_ACK);
        break;
    case CMD_ECHO:
        push(k, PS2_ECHO);
        break;
    case CMD_IDENTIFY:
        push(k, PS2_ACK);
        push(k, PS2_ID_FIRST);
        push(k, PS2_ID_MF2);
        break;
    case CMD_ENABLE:
        k->scanning = true;
        push(k, PS2_ACK);
        break;
    case CMD_DISABLE:
    case CMD_DEFAULTS:
        set_defaults(k);
        k->scanning = cmd == CMD_DEFAULTS;
        push(k, PS2_ACK);
        break;
    case CMD_RESEND:
        push(k, k->last);
        break;
    case CMD_RESET:
        ps2_kbd_reset(k);
        push(k, PS2_ACK);
        push(k, PS2_BAT_OK);
        break;
    default:
        if (cmd >= CMD_SET3_KEYS_FIRST && cmd <= CMD_SET3_KEYS_LAST)
            k->param_for = cmd;
        push(k, cmd >= CMD_SET3_ALL_FIRST ? PS2_ACK : PS2_RESEND);
        break;
    }
}

void ps2_kbd_write(struct ps2_kbd *k, uint8_t byte)
{
    uint8_t cmd = k->param_for;

    k->param_for = 0;
    if (cmd && byte < CMD_SET_LEDS)
        parameter(k, cmd, byte);
    else
        command(k, byte);
}

int ps2_kbd_read(struct ps2_kbd *k)
{
    if (!k->len)
        return -1;
    k->last = k->queue[k->head];
    k->head = (k->head + 1) % PS2_KBD_QUEUE;
    k->len--;
    return k->last;
}

int ps2_kbd_keys(struct ps2_kbd *k, const uint8_t *codes, unsigned n)
{
    if (!k->scanning || PS2_KBD_QUEUE - k->len < n)
        return -EAGAIN;
    for (unsigned i = 0; i < n; i++)
        push(k, codes[i]);
    return 0;
}
