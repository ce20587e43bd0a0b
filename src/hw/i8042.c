#include "hw/i8042.h"

#include <errno.h>
#include <string.h>

#include "vm/board.h"

enum {
    CMD_READ_RAM = 0x20,  /* 0x20-0x3f */
    CMD_WRITE_RAM = 0x60, /* 0x60-0x7f */
    CMD_AUX_DISABLE = 0xa7,
    CMD_AUX_ENABLE = 0xa8,
    CMD_AUX_TEST = 0xa9,
    CMD_SELF_TEST = 0xaa,
    CMD_KBD_TEST = 0xab,
    CMD_KBD_DISABLE = 0xad,
    CMD_KBD_ENABLE = 0xae,
    CMD_READ_OUTPORT = 0xd0,
    CMD_WRITE_OUTPORT = 0xd1,
    CMD_WRITE_KBD_OUT = 0xd2,
    CMD_WRITE_AUX_OUT = 0xd3,
    CMD_WRITE_AUX = 0xd4,
    CMD_PULSE = 0xf0, /* 0xf0-0xff */
};

#define SELF_TEST_OK      0x55
#define INTERFACE_TEST_OK 0x00
/* With the timeout bit: nothing answered on the port; Linux's drivers see
 * the command fail (atkbd tries the AUX port too, and gives up silently). */
#define NO_ANSWER 0xfe

/* What a PC BIOS leaves after its POST (SeaBIOS: keyboard interrupt and
 * translation on, the AUX port off), with the system flag of a passed
 * self-test. */
#define CTR_POWER_ON (I8042_CTR_KBDINT | I8042_CTR_SYS | I8042_CTR_AUXDIS | I8042_CTR_XLATE)
/* Reset line and A20 high, and bits 2-3 and 6-7 (the keyboard's clock and
 * data lines) 1, as QEMU's. */
#define OUTPORT_POWER_ON 0xcf

#define CTR(c) ((c)->ram[0])

/*
 * The translation the 8042 applies with CTR bit 6, scan code set 2 to set
 * 1 (IBM PC AT Technical Reference), for the bytes this keyboard sends:
 * replies, which are 0x80 or above and pass unchanged except for 0x83 (set
 * 2's F7 key, the second identify byte), the set numbers 1-3 of a scan
 * set query, and the keys of Ctrl-Alt-Del (Ctrl 0x14, Alt 0x11, Delete
 * 0xe0 0x71; the 0xe0 prefix passes unchanged). Linux's atkbd takes 0xab
 * 0x41 for a translated MF2 keyboard. A break code, 0xf0 and the key's
 * code, becomes the key's set 1 code with bit 7 set (refill).
 */
static uint8_t translate(uint8_t byte)
{
    switch (byte) {
    case 0x01:
        return 0x43;
    case 0x02:
        return 0x41;
    case 0x03:
        return 0x3f;
    case 0x11:
        return 0x38;
    case 0x14:
        return 0x1d;
    case 0x71:
        return 0x53;
    case 0x83:
        return 0x41;
    default:
        return byte;
    }
}

#define SET2_BREAK 0xf0

static void update_irq(struct i8042 *c)
{
    bool aux = c->out_flags & I8042_STR_AUXDATA;
    int level[2] = {c->obf && !aux && (CTR(c) & I8042_CTR_KBDINT),
                    c->obf && aux && (CTR(c) & I8042_CTR_AUXINT)};
    static const unsigned line[2] = {BOARD_KBD_IRQ, BOARD_MOUSE_IRQ};

    for (int i = 0; i < 2; i++) {
        if (level[i] != c->level[i]) {
            c->level[i] = level[i];
            c->irq(c->opaque, line[i], level[i]);
        }
    }
}

/* Loads the output buffer when it is empty and a byte is waiting. */
static void refill(struct i8042 *c)
{
    int byte;

    if (c->obf)
        return;
    if (c->reply_len) {
        c->out = c->reply[c->reply_head].byte;
        c->out_flags = c->reply[c->reply_head].flags;
        c->reply_head = (c->reply_head + 1) % I8042_REPLIES;
        c->reply_len--;
        c->obf = true;
    } else if (!(CTR(c) & I8042_CTR_KBDDIS) && (byte = ps2_kbd_read(&c->kbd)) >= 0) {
        bool brk = false;

        /* Keys are queued whole (ps2_kbd_keys): a break prefix has its key
         * code behind it. */
        if (CTR(c) & I8042_CTR_XLATE && byte == SET2_BREAK && (byte = ps2_kbd_read(&c->kbd)) >= 0)
            brk = true;
        if (byte < 0)
            return;
        c->out =
            CTR(c) & I8042_CTR_XLATE ? translate((uint8_t)byte) | (brk ? 0x80 : 0) : (uint8_t)byte;
        c->out_flags = 0;
        c->obf = true;
    }
}

/* A real 8042 waits for the host to read before it answers again; here the
 * answers queue, and a guest that never reads loses the ones that do not fit. */
static void reply(struct i8042 *c, uint8_t byte, uint8_t flags)
{
    if (c->reply_len == I8042_REPLIES)
        return;
    c->reply[(c->reply_head + c->reply_len) % I8042_REPLIES].byte = byte;
    c->reply[(c->reply_head + c->reply_len) % I8042_REPLIES].flags = flags;
    c->reply_len++;
}

static uint8_t outport(const struct i8042 *c)
{
    uint8_t v = c->outport & ~(I8042_OUT_OBF | I8042_OUT_AUXOBF);

    if (c->obf)
        v |= c->out_flags & I8042_STR_AUXDATA ? I8042_OUT_AUXOBF : I8042_OUT_OBF;
    return v;
}

/* Returns true when the command resets the machine. */
static bool command(struct i8042 *c, uint8_t cmd)
{
    c->waiting = 0;
    if (cmd >= CMD_READ_RAM && cmd < CMD_READ_RAM + sizeof(c->ram)) {
        reply(c, c->ram[cmd - CMD_READ_RAM], 0);
        return false;
    }
    if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + sizeof(c->ram)) {
        c->waiting = cmd;
        return false;
    }
    if (cmd >= CMD_PULSE)
        return !(cmd & I8042_OUT_RESET);
    switch (cmd) {
    case CMD_AUX_DISABLE:
        CTR(c) |= I8042_CTR_AUXDIS;
        break;
    case CMD_AUX_ENABLE:
        CTR(c) &= ~I8042_CTR_AUXDIS;
        break;
    case CMD_AUX_TEST:
    case CMD_KBD_TEST:
        reply(c, INTERFACE_TEST_OK, 0);
        break;
    case CMD_SELF_TEST:
        CTR(c) |= I8042_CTR_SYS;
        reply(c, SELF_TEST_OK, 0);
        break;
    case CMD_KBD_DISABLE:
        CTR(c) |= I8042_CTR_KBDDIS;
        break;
    case CMD_KBD_ENABLE:
        CTR(c) &= ~I8042_CTR_KBDDIS;
        break;
    case CMD_READ_OUTPORT:
        reply(c, outport(c), 0);
        break;
    case CMD_WRITE_OUTPORT:
    case CMD_WRITE_KBD_OUT:
    case CMD_WRITE_AUX_OUT:
    case CMD_WRITE_AUX:
        c->waiting = cmd;
        break;
    default:
        break;
    }
    return false;
}

/* Returns true when the byte resets the machine. */
static bool data(struct i8042 *c, uint8_t byte)
{
    uint8_t cmd = c->waiting;

    c->waiting = 0;
    if (cmd >= CMD_WRITE_RAM && cmd < CMD_WRITE_RAM + sizeof(c->ram)) {
        c->ram[cmd - CMD_WRITE_RAM] = byte;
        return false;
    }
    switch (cmd) {
    case CMD_WRITE_OUTPORT:
        c->outport = byte;
        return !(byte & I8042_OUT_RESET);
    case CMD_WRITE_KBD_OUT:
        reply(c, byte, 0);
        break;
    case CMD_WRITE_AUX_OUT:
        reply(c, byte, I8042_STR_AUXDATA);
        break;
    case CMD_WRITE_AUX:
        /* Writing to a port enables it; no device answers on this one. */
        CTR(c) &= ~I8042_CTR_AUXDIS;
        reply(c, NO_ANSWER, I8042_STR_AUXDATA | I8042_STR_TIMEOUT);
        break;
    default:
        CTR(c) &= ~I8042_CTR_KBDDIS;
        ps2_kbd_write(&c->kbd, byte);
        break;
    }
    return false;
}

static uint64_t data_read(void *opaque, uint64_t offset, unsigned size)
{
    struct i8042 *c = opaque;
    uint8_t v;

    (void)offset;
    (void)size;
    pthread_mutex_lock(&c->lock);
    v = c->out;
    c->obf = false;
    /* The line drops before the next byte raises it: the PIC is edge-triggered. */
    update_irq(c);
    refill(c);
    update_irq(c);
    pthread_mutex_unlock(&c->lock);
    return v;
}

static uint64_t status_read(void *opaque, uint64_t offset, unsigned size)
{
    struct i8042 *c = opaque;
    uint8_t v = I8042_STR_UNLOCK;

    (void)offset;
    (void)size;
    pthread_mutex_lock(&c->lock);
    if (c->obf)
        v |= I8042_STR_OBF | c->out_flags;
    if (CTR(c) & I8042_CTR_SYS)
        v |= I8042_STR_SYS;
    if (c->cmd_last)
        v |= I8042_STR_CMD;
    pthread_mutex_unlock(&c->lock);
    return v;
}

static void write_port(struct i8042 *c, bool to_command, uint8_t value)
{
    bool reset;

    pthread_mutex_lock(&c->lock);
    c->cmd_last = to_command;
    reset = to_command ? command(c, value) : data(c, value);
    refill(c);
    update_irq(c);
    pthread_mutex_unlock(&c->lock);
    if (reset)
        c->reset(c->opaque);
}

static void data_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    (void)offset;
    (void)size;
    write_port(opaque, false, (uint8_t)value);
}

static void command_write(void *opaque, uint64_t offset, unsigned size, uint64_t value)
{
    (void)offset;
    (void)size;
    write_port(opaque, true, (uint8_t)value);
}

int i8042_init(struct i8042 *c, struct bus *pio, i8042_irq_fn *irq, i8042_reset_fn *reset,
               void *opaque)
{
    int err;

    memset(c, 0, sizeof(*c));
    pthread_mutex_init(&c->lock, NULL);
    ps2_kbd_reset(&c->kbd);
    CTR(c) = CTR_POWER_ON;
    c->outport = OUTPORT_POWER_ON;
    c->irq = irq;
    c->reset = reset;
    c->opaque = opaque;
    /* Two one-port ranges: 0x61-0x63 between them belong to other devices. */
    err = bus_register(pio, &(struct bus_range){.base = BOARD_I8042_DATA_PORT,
                                                .len = 1,
                                                .widths = BUS_W1,
                                                .read = data_read,
                                                .write = data_write,
                                                .opaque = c,
                                                .name = "i8042"});
    if (err)
        return err;
    return bus_register(pio, &(struct bus_range){.base = BOARD_I8042_CMD_PORT,
                                                 .len = 1,
                                                 .widths = BUS_W1,
                                                 .read = status_read,
                                                 .write = command_write,
                                                 .opaque = c,
                                                 .name = "i8042"});
}

int i8042_ctrl_alt_del(struct i8042 *c)
{
    /* Set 2: Ctrl, Alt and Delete down, then up in reverse order. */
    static const uint8_t keys[] = {0x14, 0x11, 0xe0, 0x71, 0xe0, 0xf0,
                                   0x71, 0xf0, 0x11, 0xf0, 0x14};
    int err;

    pthread_mutex_lock(&c->lock);
    err = ps2_kbd_keys(&c->kbd, keys, sizeof(keys));
    refill(c);
    update_irq(c);
    pthread_mutex_unlock(&c->lock);
    return err;
}

void i8042_destroy(struct i8042 *c)
{
    pthread_mutex_destroy(&c->lock);
}
