/* QEMU's fw_cfg (hw/fw_cfg.h) as firmware reads it: the selector and data
 * ports, the big-endian file directory, reads past the end, and DMA. */
#include <endian.h>
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "hw/bus.h"
#include "hw/fw_cfg.h"
#include "vm/board.h"

struct fixture {
    struct bus pio;
    struct guest_mem mem;
    struct fw_cfg fw;
};

static int setup(void **state)
{
    static struct fixture f;

    f = (struct fixture){0};
    bus_init(&f.pio, "pio");
    if (mem_init(&f.mem, 4 << 20) || fw_cfg_init(&f.fw, &f.pio, &f.mem))
        return -1;
    *state = &f;
    return 0;
}

static int teardown(void **state)
{
    struct fixture *f = *state;

    fw_cfg_destroy(&f->fw);
    mem_destroy(&f->mem);
    bus_destroy(&f->pio);
    return 0;
}

static void select_key(struct fixture *f, uint16_t key)
{
    bus_write(&f->pio, BOARD_FW_CFG_PORT, 2, key);
}

static void read_data(struct fixture *f, void *buf, size_t n)
{
    for (size_t i = 0; i < n; i++)
        ((uint8_t *)buf)[i] = (uint8_t)bus_read(&f->pio, FW_CFG_PORT_DATA, 1);
}

static void test_signature_and_id(void **state)
{
    struct fixture *f = *state;
    char sig[6];
    uint32_t id;

    select_key(f, FW_CFG_SIGNATURE);
    read_data(f, sig, sizeof(sig));
    assert_memory_equal(sig, "QEMU\0\0", 6); /* zeros past the end */
    select_key(f, FW_CFG_SIGNATURE);         /* reselecting starts over */
    read_data(f, sig, 4);
    assert_memory_equal(sig, "QEMU", 4);
    select_key(f, FW_CFG_ID);
    read_data(f, &id, 4);
    assert_int_equal(le32toh(id), FW_CFG_ID_TRADITIONAL | FW_CFG_ID_DMA);
    /* An unknown key reads zeros; byte writes to the data port change nothing. */
    select_key(f, 0x1234);
    bus_write(&f->pio, FW_CFG_PORT_DATA, 1, 0xab);
    assert_int_equal(bus_read(&f->pio, FW_CFG_PORT_DATA, 1), 0);
}

static void test_little_endian_items(void **state)
{
    struct fixture *f = *state;
    uint64_t ram = htole64(0x12345678abcULL), got = 0;

    assert_int_equal(fw_cfg_add(&f->fw, FW_CFG_RAM_SIZE, &ram, 8), 0);
    select_key(f, FW_CFG_RAM_SIZE);
    read_data(f, &got, 8);
    assert_int_equal(le64toh(got), 0x12345678abcULL);
}

static void test_file_directory(void **state)
{
    struct fixture *f = *state;
    const uint8_t a[] = {1, 2, 3}, b[40] = {[39] = 0x5a};
    uint32_t count;
    struct {
        uint32_t size;
        uint16_t select, reserved;
        char name[56];
    } e[2];
    uint8_t got[40];

    assert_int_equal(fw_cfg_add_file(&f->fw, "etc/a", a, sizeof(a)), 0);
    assert_int_equal(fw_cfg_add_file(&f->fw, "etc/b", b, sizeof(b)), 0);
    char long_name[57];

    memset(long_name, 'x', 56); /* no room left for the NUL in 56 bytes */
    long_name[56] = 0;
    assert_int_equal(fw_cfg_add_file(&f->fw, long_name, a, 1), -EINVAL);
    select_key(f, FW_CFG_FILE_DIR);
    read_data(f, &count, 4);
    assert_int_equal(be32toh(count), 2);
    read_data(f, e, sizeof(e));
    assert_int_equal(be32toh(e[0].size), 3);
    assert_int_equal(be16toh(e[0].select), FW_CFG_FILE_FIRST);
    assert_string_equal(e[0].name, "etc/a");
    assert_int_equal(be32toh(e[1].size), 40);
    assert_int_equal(be16toh(e[1].select), FW_CFG_FILE_FIRST + 1);
    assert_string_equal(e[1].name, "etc/b");
    select_key(f, FW_CFG_FILE_FIRST + 1);
    read_data(f, got, sizeof(got));
    assert_memory_equal(got, b, sizeof(b));
}

/* Writes a DMA request at gpa and starts it as Linux's driver does:
 * iowrite32be of the high then the low half of the address. */
static uint32_t dma(struct fixture *f, uint64_t gpa, uint32_t control, uint32_t len, uint64_t addr)
{
    uint32_t req[4] = {htobe32(control), htobe32(len), htobe32((uint32_t)(addr >> 32)),
                       htobe32((uint32_t)addr)};
    uint32_t done;

    assert_int_equal(mem_write(&f->mem, gpa, req, sizeof(req)), 0);
    bus_write(&f->pio, FW_CFG_PORT_DMA, 4, htobe32((uint32_t)(gpa >> 32)));
    bus_write(&f->pio, FW_CFG_PORT_DMA + 4, 4, htobe32((uint32_t)gpa));
    assert_int_equal(mem_read(&f->mem, gpa, &done, 4), 0);
    return be32toh(done);
}

static void test_dma(void **state)
{
    struct fixture *f = *state;
    uint8_t buf[8];
    uint64_t sig = bus_read(&f->pio, FW_CFG_PORT_DMA, 4) | bus_read(&f->pio, FW_CFG_PORT_DMA + 4, 4)
                                                               << 32;

    assert_memory_equal(&sig, "QEMU CFG", 8);
    memset(buf, 0xee, sizeof(buf));
    assert_int_equal(mem_write(&f->mem, 0x2000, buf, sizeof(buf)), 0);
    /* Select the signature, skip one byte, read five: "EMU" then zeros. */
    assert_int_equal(
        dma(f, 0x1000, FW_CFG_SIGNATURE << 16 | FW_CFG_DMA_CTL_SELECT | FW_CFG_DMA_CTL_SKIP, 1, 0),
        0);
    assert_int_equal(dma(f, 0x1000, FW_CFG_DMA_CTL_READ, 5, 0x2000), 0);
    assert_int_equal(mem_read(&f->mem, 0x2000, buf, sizeof(buf)), 0);
    assert_memory_equal(buf, "EMU\0\0\xee\xee\xee", 8);
    /* Outside RAM, or a write: the error bit, nothing else happens. */
    assert_int_equal(dma(f, 0x1000, FW_CFG_DMA_CTL_READ, 16, 4 << 20), FW_CFG_DMA_CTL_ERROR);
    assert_int_equal(dma(f, 0x1000, FW_CFG_DMA_CTL_READ, 16, UINT64_MAX - 4), FW_CFG_DMA_CTL_ERROR);
    assert_int_equal(dma(f, 0x1000, FW_CFG_DMA_CTL_WRITE, 4, 0x2000), FW_CFG_DMA_CTL_ERROR);
    /* A request block outside RAM is dropped. */
    bus_write(&f->pio, FW_CFG_PORT_DMA, 4, htobe32(0xffffffffu));
    bus_write(&f->pio, FW_CFG_PORT_DMA + 4, 4, htobe32(0xfffffff8u));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup_teardown(test_signature_and_id, setup, teardown),
        cmocka_unit_test_setup_teardown(test_little_endian_items, setup, teardown),
        cmocka_unit_test_setup_teardown(test_file_directory, setup, teardown),
        cmocka_unit_test_setup_teardown(test_dma, setup, teardown),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
