/*
 * Self-modifying code (SDM Vol. 3A §8.1.3 and §11.6): a write to an
 * instruction about to run must be seen when it runs. Checked here:
 *   - an immediate rewritten between calls;
 *   - the instruction right after the store, rewritten by that store with
 *     no branch in between (P6 and later processors detect writes to
 *     prefetched instructions, §11.6), both an immediate and an opcode;
 *   - the same with a jump in between, the portable form (§8.1.3);
 *   - code copied to another page and run, then replaced there, also with
 *     an instruction that straddles two pages and is changed only in the
 *     second one;
 *   - code written through one virtual alias of a physical page and run
 *     through another, by the kernel and by the code itself;
 *   - stores to data beside code on its page (vx86 watches code by 64-byte
 *     line): data stores leave the code running as it was, and a store
 *     that starts in a data line and runs into a code line is seen;
 *   - an instruction across two pages whose second page is mapped to
 *     another frame (with INVLPG) between runs.
 */
#include "lib/guest.h"
#include "lib/pgtable.h"
#include "lib/trap.h"

#define ALIAS_X 0x40000000ull /* run from here */
#define ALIAS_W 0x40001000ull /* write through here: the same frame */
#define ACROSS  0x40010000ull /* two pages, the second remapped */

typedef uint32_t code_fn(uint32_t arg, volatile void *p);

extern char smc_imm[], smc_imm_value[], smc_imm_end[], smc_next_op_insn[], smc_alias[],
    smc_alias_value[], smc_alias_end[], smc_add7[], smc_add7_end[];
uint32_t smc_next(uint32_t v);
uint32_t smc_next_op(void);
uint32_t smc_jmp(uint32_t v);
uint32_t smc_near(uint32_t v);
extern volatile uint32_t smc_near_data;

static uint8_t exec_pages[2][4096] __attribute__((aligned(4096)));
static uint8_t alias_frame[4096] __attribute__((aligned(4096)));
static uint8_t across_frames[3][4096] __attribute__((aligned(4096)));
static uint64_t *pml4;

static const uint32_t values[] = {0x22222222, 0x12345678, 0xdeadbeef, 0, 0xffffffff, 0x0badf00d};
#define NVALUES (sizeof(values) / sizeof(values[0]))

static void poke32(volatile void *p, uint32_t v)
{
    *(volatile uint32_t *)p = v;
}

static void copy_rep_movsb(void *d, const void *s, unsigned long n)
{
    __asm__ volatile("rep movsb" : "+D"(d), "+S"(s), "+c"(n) : : "memory");
}

static void setup_paging(void)
{
    pml4 = pgtable_new();

    pgtable_identity(pml4, PAGE_1G, PTE_P | PTE_RW);
    pgtable_map(pml4, ALIAS_X, (uint64_t)alias_frame, PAGE_4K, PTE_P | PTE_RW);
    pgtable_map(pml4, ALIAS_W, (uint64_t)alias_frame, PAGE_4K, PTE_P | PTE_RW);
    write_cr3((uint64_t)pml4);
}

static void test_patch_imm(void)
{
    int bad = 0;

    CHECK(((code_fn *)smc_imm)(0, 0) == 0x11111111);
    for (unsigned i = 0; i < NVALUES; i++) {
        uint32_t r;

        poke32(smc_imm_value, values[i]);
        r = ((code_fn *)smc_imm)(0, 0);
        if (r != values[i])
            printf("patched immediate %x: got %x\n", values[i], r), bad++;
    }
    printf("immediate patched between calls: %d wrong\n", bad);
    CHECK(bad == 0);
    poke32(smc_imm_value, 0x11111111);
}

static void test_next_insn(void)
{
    int bad_imm = 0, bad_op = 0, bad_jmp = 0;

    for (unsigned i = 0; i < NVALUES; i++) {
        uint32_t r = smc_next(values[i]);

        if (r != values[i])
            printf("next instruction's immediate %x: got %x\n", values[i], r), bad_imm++;
        r = smc_jmp(values[i]);
        if (r != values[i])
            printf("immediate after a jump %x: got %x\n", values[i], r), bad_jmp++;
        *(volatile uint16_t *)smc_next_op_insn = 0x9090; /* two NOPs again */
        r = smc_next_op();
        if (r != 1)
            printf("next instruction's opcode: got %x\n", r), bad_op++;
    }
    printf("next instruction rewritten: immediate %d wrong, opcode %d wrong, after a jump %d "
           "wrong\n",
           bad_imm, bad_op, bad_jmp);
    CHECK(bad_imm == 0);
    CHECK(bad_op == 0);
    CHECK(bad_jmp == 0);
}

static void test_copied(void)
{
    unsigned long len = (unsigned long)(smc_imm_end - smc_imm);
    unsigned long value_at = (unsigned long)(smc_imm_value - smc_imm);
    uint8_t *code = exec_pages[0];
    /* MOV's opcode and two immediate bytes in page 0, the rest in page 1. */
    uint8_t *split = exec_pages[0] + 4096 - 3;
    uint32_t r1, r2, r3, r4, r5;

    memcpy(code, smc_imm, len);
    poke32(code + value_at, 0x5150);
    r1 = ((code_fn *)code)(0, 0);
    poke32(code + value_at, 0x5151);
    r2 = ((code_fn *)code)(0, 0);
    copy_rep_movsb(code, smc_add7, (unsigned long)(smc_add7_end - smc_add7));
    r3 = ((code_fn *)code)(5, 0);
    printf("copied code: %x, patched %x, replaced by other code %x\n", r1, r2, r3);
    CHECK(r1 == 0x5150);
    CHECK(r2 == 0x5151);
    CHECK(r3 == 12);

    memcpy(split, smc_imm, len);
    poke32(split + value_at, 0x11223344);
    r4 = ((code_fn *)split)(0, 0);
    *(volatile uint16_t *)exec_pages[1] = 0x7788; /* the immediate's high half */
    r5 = ((code_fn *)split)(0, 0);
    printf("instruction across pages: %x, high half changed in the second page %x\n", r4, r5);
    CHECK(r4 == 0x11223344);
    CHECK(r5 == 0x77883344);
}

static void test_alias(void)
{
    unsigned long imm_at = (unsigned long)(smc_imm_value - smc_imm);
    unsigned long alias_at = (unsigned long)(smc_alias_value - smc_alias);
    code_fn *run = (code_fn *)ALIAS_X;
    int bad = 0, bad_self = 0, bad_phys = 0;
    uint32_t r;

    memcpy((void *)ALIAS_W, smc_imm, (unsigned long)(smc_imm_end - smc_imm));
    r = run(0, 0);
    printf("written through one alias, run through another: %x\n", r);
    CHECK(r == 0x11111111);
    for (unsigned i = 0; i < NVALUES; i++) {
        poke32((void *)(ALIAS_W + imm_at), values[i]);
        r = run(0, 0);
        if (r != values[i])
            printf("immediate %x written through the alias: got %x\n", values[i], r), bad++;
        poke32(alias_frame + imm_at, ~values[i]);
        r = run(0, 0);
        if (r != ~values[i])
            printf("immediate %x written through the 1:1 map: got %x\n", ~values[i], r), bad_phys++;
    }

    memcpy((void *)ALIAS_W, smc_alias, (unsigned long)(smc_alias_end - smc_alias));
    for (unsigned i = 0; i < NVALUES; i++) {
        r = run(values[i], (void *)(ALIAS_W + alias_at));
        if (r != values[i])
            printf("code storing %x into itself through the alias: got %x\n", values[i], r),
                bad_self++;
    }
    printf("through aliases: %d wrong, through the 1:1 map %d wrong, by the code itself %d "
           "wrong\n",
           bad, bad_phys, bad_self);
    CHECK(bad == 0);
    CHECK(bad_phys == 0);
    CHECK(bad_self == 0);
}

static void test_lines(void)
{
    unsigned long value_at = (unsigned long)(smc_imm_value - smc_imm);
    uint8_t *page = exec_pages[1], *code = page + 256; /* line 4 */
    int bad_data = 0, bad_near = 0;
    uint32_t r1, r2, r3;

    memcpy(code, smc_imm, (unsigned long)(smc_imm_end - smc_imm));
    poke32(code + value_at, 0x5150);
    for (unsigned i = 0; i < 1000; i++) {
        /* Lines 0-3 and 5-63 are data. */
        poke32(page + 4 * (i % 64), i);
        poke32(page + 320 + 4 * (i % 900), ~i);
        if (((code_fn *)code)(0, 0) != 0x5150 || *(volatile uint32_t *)(page + 4 * (i % 64)) != i)
            bad_data++;
        if (smc_near(i) != 0x600d || smc_near_data != i)
            bad_near++;
    }
    r1 = ((code_fn *)code)(0, 0);
    /* Eight bytes at 253: three of data in line 3, then the MOV's opcode
     * and a new immediate in line 4. */
    *(volatile uint64_t *)(page + 253) = 0xccccccull | 0xb8ull << 24 | 0x44332211ull << 32;
    r2 = ((code_fn *)code)(0, 0);
    /* The byte after RET, in the code's line. */
    page[256 + (smc_imm_end - smc_imm)] = 0xcc;
    poke32(code + value_at, 0x5152);
    r3 = ((code_fn *)code)(0, 0);
    printf("data beside code: %d wrong, stored by the code itself %d wrong; code %x, after a "
           "store across lines %x, then %x\n",
           bad_data, bad_near, r1, r2, r3);
    CHECK(bad_data == 0);
    CHECK(bad_near == 0);
    CHECK(r1 == 0x5150);
    CHECK(r2 == 0x44332211);
    CHECK(r3 == 0x5152);
}

static void test_across_remap(void)
{
    /* NOP; MOV EAX, imm32; RET with the opcode and the immediate's low
     * half at the end of the first page; the high half and RET in the
     * second, which is one frame or the other. Run from the MOV (reached
     * by the call, through the jump cache) and from the NOP (a block of
     * its own in the first page, which then goes straight on to the MOV:
     * a translator's direct link must not skip the second page's check). */
    static const uint8_t first[4] = {0x90, 0xb8, 0x11, 0x22}, second[2][3] = {{0x33, 0x44, 0xc3},
                                                                                {0x55, 0x66, 0xc3}};
    code_fn *from_nop = (code_fn *)(ACROSS + 4096 - 4), *from_mov = (code_fn *)(ACROSS + 4096 - 3);
    int bad = 0;

    memcpy(across_frames[0] + 4096 - 4, first, 4);
    memcpy(across_frames[1], second[0], 3);
    memcpy(across_frames[2], second[1], 3);
    pgtable_map(pml4, ACROSS, (uint64_t)across_frames[0], PAGE_4K, PTE_P | PTE_RW);
    for (unsigned i = 0; i < 48; i++) {
        unsigned f = i / 3 % 2; /* each mapping three times in a row */
        uint32_t want = f ? 0x66552211 : 0x44332211, r;

        pgtable_map(pml4, ACROSS + 4096, (uint64_t)across_frames[1 + f], PAGE_4K, PTE_P | PTE_RW);
        invlpg((void *)(ACROSS + 4096));
        r = (i & 1 ? from_nop : from_mov)(0, 0);
        if (r != want)
            printf("instruction across pages, second page's frame %u, from the %s: got %x\n", f,
                   i & 1 ? "NOP" : "MOV", r),
                bad++;
    }
    printf("instruction across pages, second page remapped: %d wrong\n", bad);
    CHECK(bad == 0);
}

int guest_main(const char *cmdline, uint64_t mem_size)
{
    (void)cmdline;
    (void)mem_size;
    idt_init();
    setup_paging();
    test_patch_imm();
    test_next_insn();
    test_copied();
    test_alias();
    test_lines();
    test_across_remap();
    guest_finish();
}
