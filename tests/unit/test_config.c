/* Parsing of --mem, --engine, --on-reboot, --cpus, --disk, --net and --profile (vm/config.h),
 * and --cpu (vm/cpu_model.h). */
#include <errno.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <cmocka.h>

#include "machine/config.h"
#include "vm/cpu_model.h"
#include "vm/mem.h"

#define KiB (1ULL << 10)
#define MiB (1ULL << 20)
#define GiB (1ULL << 30)
#define MAX (64 * GiB) /* the host's memory, as the caller passes it */
#define BAD 0          /* rejected */

static const struct {
    const char *s;
    uint64_t bytes;
} mem_vectors[] = {
    {"256M", 256 * MiB},
    {"256m", 256 * MiB},
    {"1G", 1 * GiB},
    {"1g", 1 * GiB},
    {"2048", 2 * GiB}, /* a plain number is MiB, as in QEMU */
    {"2", 2 * MiB},
    {"1GiB", 1 * GiB},
    {"1gib", 1 * GiB},
    {"3GB", 3 * GiB},
    {"4096KB", 4 * MiB},
    {"2048k", 2 * MiB},
    {"2048KiB", 2 * MiB},
    {"512MiB", 512 * MiB},
    {"64G", MAX}, /* exactly the maximum */
    {"1073741824B", 1 * GiB},
    {"2097152b", 2 * MiB},
    {"0002M", 2 * MiB},
    /* rounded up to whole 4 KiB pages */
    {"2097153B", 2 * MiB + 4 * KiB},
    {"3000000B", 733 * 4 * KiB},
    {"2049K", 2 * MiB + 4 * KiB},
    /* rejected */
    {"", BAD},
    {"abc", BAD},
    {"M", BAD},
    {"-1", BAD},
    {"+256M", BAD},
    {"0", BAD},
    {"0G", BAD},
    {"1M", BAD}, /* below MEM_MIN_SIZE */
    {"512k", BAD},
    {"2097151B", BAD},
    {"12Q", BAD},
    {"1.5G", BAD},
    {"0x100M", BAD},
    {"256 M", BAD},
    {" 256M", BAD},
    {"256M ", BAD},
    {"256MM", BAD},
    {"256Mi", BAD},
    {"65G", BAD}, /* above the maximum */
    {"65537", BAD},
    {"1T", BAD},
    {"68719476737B", BAD}, /* MAX + 1 */
    {"99999999999999999999", BAD},
    {"18446744073709551616B", BAD}, /* 2^64 */
    {"18446744073709551615B", BAD}, /* 2^64 - 1: above MAX */
    {"17179869184G", BAD},          /* 2^34 GiB = 2^64 bytes: the shift overflows */
    {"17179869185G", BAD},          /* (2^34 + 1) GiB would wrap to 1 GiB */
    {"16777216T", BAD},
};

static void test_parse_mem(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof(mem_vectors) / sizeof(mem_vectors[0]); i++) {
        uint64_t out = 0x1234;
        int err = config_parse_mem(mem_vectors[i].s, MAX, &out);

        if (mem_vectors[i].bytes == BAD) {
            if (err != -EINVAL)
                fail_msg("--mem \"%s\": accepted as %llu, expected a rejection", mem_vectors[i].s,
                         (unsigned long long)out);
            assert_int_equal(out, 0x1234);
        } else if (err || out != mem_vectors[i].bytes) {
            fail_msg("--mem \"%s\": gave %d and %llu, expected %llu", mem_vectors[i].s, err,
                     (unsigned long long)out, (unsigned long long)mem_vectors[i].bytes);
        }
    }
}

/* The maximum is the caller's: the same string passes or fails by it. */
static void test_parse_mem_max(void **state)
{
    uint64_t out;

    (void)state;
    assert_int_equal(config_parse_mem("4G", 4 * GiB, &out), 0);
    assert_int_equal(out, 4 * GiB);
    assert_int_equal(config_parse_mem("4G", 4 * GiB - 1, &out), -EINVAL);
    assert_int_equal(config_parse_mem("2M", MEM_MIN_SIZE, &out), 0);
    assert_int_equal(config_parse_mem("16T", UINT64_MAX, &out), 0);
    /* Rounding up to 4 KiB happens before the limit check, without wrapping. */
    assert_int_equal(config_parse_mem("2097153B", 2 * MiB + 1, &out), -EINVAL);
    assert_int_equal(config_parse_mem("18446744073709551615B", UINT64_MAX, &out), -EINVAL);
    assert_int_equal(out, 16384 * GiB);
}

static void test_parse_engine(void **state)
{
    static const struct {
        const char *s;
        int ok;
        enum engine_choice engine;
    } vectors[] = {
        {"auto", 1, ENGINE_AUTO},
        {"kvm", 1, ENGINE_KVM},
        {"emu", 1, ENGINE_EMU},
        {"", 0, 0},
        {"KVM", 0, 0},
        {"kvm ", 0, 0},
        {"tcg", 0, 0},
        {"emulator", 0, 0},
        {"au", 0, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        enum engine_choice out = (enum engine_choice) - 1;
        int err = config_parse_engine(vectors[i].s, &out);

        if (vectors[i].ok) {
            assert_int_equal(err, 0);
            assert_int_equal(out, vectors[i].engine);
        } else {
            if (err != -EINVAL)
                fail_msg("--engine \"%s\" accepted", vectors[i].s);
            assert_int_equal(out, (enum engine_choice) - 1);
        }
    }
}

static void test_parse_on_reboot(void **state)
{
    enum on_reboot out = (enum on_reboot) - 1;

    (void)state;
    assert_int_equal(config_parse_on_reboot("exit", &out), 0);
    assert_int_equal(out, ON_REBOOT_EXIT);
    assert_int_equal(config_parse_on_reboot("restart", &out), 0);
    assert_int_equal(out, ON_REBOOT_RESTART);
    for (const char *const *s = (const char *const[]){"", "Exit", "reboot", "restart ", NULL}; *s;
         s++) {
        out = (enum on_reboot) - 1;
        assert_int_equal(config_parse_on_reboot(*s, &out), -EINVAL);
        assert_int_equal(out, (enum on_reboot) - 1);
    }
}

static void test_parse_jit(void **state)
{
    bool off = true;

    (void)state;
    assert_int_equal(config_parse_jit("on", &off), 0);
    assert_false(off);
    assert_int_equal(config_parse_jit("off", &off), 0);
    assert_true(off);
    for (const char *const *s = (const char *const[]){"", "On", "1", "off ", NULL}; *s; s++) {
        off = true;
        assert_int_equal(config_parse_jit(*s, &off), -EINVAL);
        assert_true(off);
    }
}

static void test_parse_cpus(void **state)
{
    static const struct {
        const char *s;
        int cpus; /* 0: rejected */
    } vectors[] = {
        {"1", 1},
        {"2", 2},
        {"64", VM_MAX_CPUS},
        {"08", 8},
        {"0", 0},
        {"65", 0},
        {"-1", 0},
        {"", 0},
        {"abc", 0},
        {"4x", 0},
        {"4 ", 0},
        {"1.5", 0},
        {"0x10", 0},
        {"99999999999999999999", 0},
        {"-9223372036854775808", 0},
        {" 4", 0},
        {"+4", 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        int out = -1, err = config_parse_cpus(vectors[i].s, &out);

        if (vectors[i].cpus) {
            if (err || out != vectors[i].cpus)
                fail_msg("--cpus \"%s\": gave %d and %d", vectors[i].s, err, out);
        } else {
            if (err != -EINVAL)
                fail_msg("--cpus \"%s\": accepted as %d", vectors[i].s, out);
            assert_int_equal(out, -1);
        }
    }
}

static void test_parse_cpu(void **state)
{
    static const struct {
        const char *s;
        int ok;
        cpu_features_t off;
        enum cpu_vendor vendor;
    } vectors[] = {
        {"vx86", 1, 0},
        {"max", 1, 0},
        {"max,-x2apic", 1, 1u << CPU_X2APIC},
        {"vx86,-umip,-pdpe1gb", 1, 1u << CPU_UMIP | 1u << CPU_PDPE1GB},
        {"max,-x2apic,+x2apic", 1, 0},
        {"max,+tsc-deadline", 1, 0},
        {"max,-tsc-adjust,-rdpid", 1, 1u << CPU_TSC_ADJUST | 1u << CPU_RDPID},
        {"host", 0, 0},
        {"", 0, 0},
        {"maxx", 0, 0},
        {"max,", 0, 0},
        {"max,x2apic", 0, 0},
        {"max,-avx", 1, 1u << CPU_AVX | 1u << CPU_AVX2 | 1u << CPU_FMA | 1u << CPU_F16C},
        {"max,-avx,+avx2", 1, 1u << CPU_AVX | 1u << CPU_AVX2 | 1u << CPU_FMA | 1u << CPU_F16C},
        {"max,-avx2,-fma", 1, 1u << CPU_AVX2 | 1u << CPU_FMA},
        {"max,+avx,-f16c", 1, 1u << CPU_F16C},
        {"max,-avx512f", 0, 0},
        {"max,-x2api", 0, 0},
        {"max,-x2apicx", 0, 0},
        {"max,-", 0, 0},
        {"max,,-x2apic", 0, 0},
        {"qemu64,-x2apic", 0, 0},
        {"max,vendor=AuthenticAMD", 1, 0, CPU_VENDOR_AMD},
        {"vx86,-pks,vendor=AuthenticAMD,-x2apic", 1, 1u << CPU_PKS | 1u << CPU_X2APIC,
         CPU_VENDOR_AMD},
        {"max,vendor=AuthenticAMD,vendor=GenuineIntel", 1, 0, CPU_VENDOR_INTEL},
        {"max,vendor=GenuineIntel", 1, 0, CPU_VENDOR_INTEL},
        {"max,vendor=", 0, 0},
        {"max,vendor=AMD", 0, 0},
        {"max,vendor=AuthenticAMDx", 0, 0},
        {"max,vendor=authenticamd", 0, 0},
        {"max,+vendor=AuthenticAMD", 0, 0},
    };

    (void)state;
    for (size_t i = 0; i < sizeof(vectors) / sizeof(vectors[0]); i++) {
        cpu_features_t off = 0xdead;
        enum cpu_vendor vendor = (enum cpu_vendor)7; /* neither */
        int err = cpu_model_parse(vectors[i].s, &off, &vendor);

        if (vectors[i].ok && (err || off != vectors[i].off || vendor != vectors[i].vendor))
            fail_msg("--cpu \"%s\": gave %d, 0x%x and vendor %d", vectors[i].s, err, off, vendor);
        if (!vectors[i].ok && err != -EINVAL)
            fail_msg("--cpu \"%s\": accepted as 0x%x", vectors[i].s, off);
    }
}

static void test_cpu_filter(void **state)
{
    uint32_t a = ~0u, b = ~0u, c = ~0u, d = ~0u;

    (void)state;
    cpu_model_filter(1u << CPU_X2APIC | 1u << CPU_SMEP, 1, 0x1234, &a, &b, &c, &d);
    assert_int_equal(c, ~(1u << 21)); /* leaf 1 has no subleaves: ECX's value does not matter */
    assert_int_equal(a & b & d, ~0u);
    b = ~0u;
    cpu_model_filter(1u << CPU_SMEP, 7, 1, &a, &b, &c, &d);
    assert_int_equal(b, ~0u); /* subleaf 1 of leaf 7 holds other features */
    cpu_model_filter(1u << CPU_SMEP, 7, 0, &a, &b, &c, &d);
    assert_int_equal(b, ~(1u << 7));
    b = c = ~0u;
    cpu_model_filter(1u << CPU_AVX | 1u << CPU_AVX2 | 1u << CPU_FMA | 1u << CPU_F16C, 1, 0, &a, &b,
                     &c, &d);
    assert_int_equal(c, ~(1u << 28 | 1u << 12 | 1u << 29));
    cpu_model_filter(1u << CPU_AVX2, 7, 0, &a, &b, &c, &d);
    assert_int_equal(b, ~(1u << 5));
    a = 0x207;
    cpu_model_filter(1u << CPU_AVX, 0xd, 0, &a, &b, &c, &d);
    assert_int_equal(a, 0x203);
    a = 256;
    cpu_model_filter(1u << CPU_AVX, 0xd, 2, &a, &b, &c, &d);
    assert_int_equal(a, 0);
}

static void test_parse_profile(void **state)
{
    char plain[] = "out.prof", with_map[] = "/tmp/p.txt,map=/boot/System.map";
    char unknown[] = "p.txt,every=2ms", empty_map[] = "p.txt,map=", no_file[] = ",map=m";
    struct vm_config cfg = {0};

    (void)state;
    assert_int_equal(config_parse_profile(plain, &cfg), 0);
    assert_string_equal(cfg.profile, "out.prof");
    assert_null(cfg.profile_map);
    assert_int_equal(config_parse_profile(with_map, &cfg), 0);
    assert_string_equal(cfg.profile, "/tmp/p.txt");
    assert_string_equal(cfg.profile_map, "/boot/System.map");
    cfg = (struct vm_config){0};
    assert_int_equal(config_parse_profile(unknown, &cfg), -EINVAL);
    assert_int_equal(config_parse_profile(empty_map, &cfg), -EINVAL);
    assert_int_equal(config_parse_profile(no_file, &cfg), -EINVAL);
    assert_null(cfg.profile);
}

static void test_cpu_vendor(void **state)
{
    uint32_t r[3] = {1, 2, 3}; /* EBX, EDX, ECX: the string's order */

    (void)state;
    cpu_model_vendor(CPU_VENDOR_AMD, 0, &r[0], &r[2], &r[1]);
    assert_memory_equal(r, "AuthenticAMD", 12);
    cpu_model_vendor(CPU_VENDOR_INTEL, 0, &r[0], &r[2], &r[1]);
    assert_memory_equal(r, "GenuineIntel", 12);
    cpu_model_vendor(CPU_VENDOR_AMD, 0x80000000, &r[0], &r[2], &r[1]);
    assert_memory_equal(r, "AuthenticAMD", 12);
    r[0] = r[1] = r[2] = 0;
    cpu_model_vendor(CPU_VENDOR_INTEL, 0x80000000, &r[0], &r[2], &r[1]);
    cpu_model_vendor(CPU_VENDOR_AMD, 1, &r[0], &r[2], &r[1]);
    assert_true(!r[0] && !r[1] && !r[2]); /* Intel's 80000000H has no string */
}

static void test_parse_disk(void **state)
{
    struct vm_config cfg = {0};
    char a[] = "a.img", b[] = "/x/b.img,ro", bad[] = "c.img,rw", empty[] = ",ro", more[] = "d";
    char q[] = "q.qcow2,format=qcow2,snapshot,backing=on", r[] = "r.img,backing=off,ro,format=raw";
    char vmdk[] = "v.img,format=vmdk", bare[] = "v.img,";

    (void)state;
    assert_int_equal(config_parse_disk(a, &cfg), 0);
    assert_int_equal(config_parse_disk(b, &cfg), 0);
    assert_int_equal(cfg.nr_disks, 2);
    assert_string_equal(cfg.disks[0].path, "a.img");
    assert_false(cfg.disks[0].ro);
    assert_string_equal(cfg.disks[1].path, "/x/b.img");
    assert_true(cfg.disks[1].ro);
    assert_int_equal(config_parse_disk(bad, &cfg), -EINVAL);
    assert_int_equal(config_parse_disk(empty, &cfg), -EINVAL);
    assert_int_equal(config_parse_disk(vmdk, &cfg), -EINVAL);
    assert_int_equal(config_parse_disk(bare, &cfg), -EINVAL);
    assert_int_equal(cfg.nr_disks, 2);
    assert_int_equal(config_parse_disk(q, &cfg), 0);
    assert_string_equal(cfg.disks[2].path, "q.qcow2");
    assert_true(cfg.disks[2].format == BLOCK_FORMAT_QCOW2 && cfg.disks[2].snapshot &&
                cfg.disks[2].backing && !cfg.disks[2].ro);
    assert_int_equal(cfg.disks[0].format, BLOCK_FORMAT_AUTO);
    assert_false(cfg.disks[0].snapshot || cfg.disks[0].backing);
    assert_int_equal(config_parse_disk(r, &cfg), 0);
    assert_true(cfg.disks[3].format == BLOCK_FORMAT_RAW && cfg.disks[3].ro &&
                !cfg.disks[3].backing);
    while (cfg.nr_disks < VM_MAX_DISKS)
        assert_int_equal(config_parse_disk(more, &cfg), 0);
    assert_int_equal(config_parse_disk(more, &cfg), -EINVAL);
}

static void test_parse_bootindex(void **state)
{
    struct vm_config cfg = {0};
    char a[] = "a.img,bootindex=7,ro", b[] = "b.img", big[] = "c.img,bootindex=65536";
    char neg[] = "c.img,bootindex=-1", empty[] = "c.img,bootindex=", hex[] = "c.img,bootindex=0x1";

    (void)state;
    assert_int_equal(config_parse_disk(a, &cfg), 0);
    assert_int_equal(config_parse_disk(b, &cfg), 0);
    assert_true(cfg.disks[0].has_bootindex && cfg.disks[0].bootindex == 7 && cfg.disks[0].ro);
    assert_string_equal(cfg.disks[0].path, "a.img");
    assert_false(cfg.disks[1].has_bootindex);
    assert_int_equal(config_parse_disk(big, &cfg), -EINVAL);
    assert_int_equal(config_parse_disk(neg, &cfg), -EINVAL);
    assert_int_equal(config_parse_disk(empty, &cfg), -EINVAL);
    assert_int_equal(config_parse_disk(hex, &cfg), -EINVAL);
    assert_int_equal(cfg.nr_disks, 2);
}

/* One --net value; returns config_parse_net's result, cfg filled. */
static int net(const char *s, struct vm_config *cfg)
{
    static char buf[256];

    *cfg = (struct vm_config){0};
    snprintf(buf, sizeof(buf), "%s", s);
    return config_parse_net(buf, cfg);
}

static void test_parse_net(void **state)
{
    static const uint8_t def[6] = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56};
    static const uint8_t mine[6] = {0x52, 0x54, 0x00, 0xab, 0xcd, 0xef};
    static const char *const bad[] = {
        "", "tap", "tap=", "slirp", "user,mac=52:54:00:12:34", "user,mac=53:54:00:12:34:56",
        "user,mac=52:54:00:12:34:56:78", "user,mac=52:54:00:12:34:5g", "tap=t0,hostfwd=tcp::1-:2",
        "user,hostfwd=", "user,hostfwd=tcp::0-:80", "user,hostfwd=tcp::65536-:80",
        "user,hostfwd=sctp::80-:80", "user,hostfwd=tcp:1.2.3:80-:80",
        "user,hostfwd=tcp::80-10.0.2.16:80", "user,hostfwd=tcp::80:80", "user,hostfwd=tcp::-:80",
        "user,hostfwd=tcp::8080-:80x", "user,foo=1", "user,",
    };
    struct vm_config cfg;
    char twice[] = "user";

    (void)state;
    assert_int_equal(net("user", &cfg), 0);
    assert_int_equal(cfg.net.mode, NET_USER);
    assert_memory_equal(cfg.net.mac, def, 6);
    assert_int_equal(cfg.net.nr_fwd, 0);

    assert_int_equal(net("tap=vx86tap0,mac=52:54:00:AB:cd:ef", &cfg), 0);
    assert_int_equal(cfg.net.mode, NET_TAP);
    assert_string_equal(cfg.net.ifname, "vx86tap0");
    assert_memory_equal(cfg.net.mac, mine, 6);

    assert_int_equal(net("user,hostfwd=tcp::8080-:80,hostfwd=udp:127.0.0.1:5353-10.0.2.15:53,"
                         "hostfwd=::2222-:22,mac=52:54:00:ab:cd:ef",
                         &cfg),
                     0);
    assert_int_equal(cfg.net.nr_fwd, 3);
    assert_false(cfg.net.fwd[0].udp);
    assert_int_equal(cfg.net.fwd[0].host_addr, 0);
    assert_int_equal(cfg.net.fwd[0].host_port, 8080);
    assert_int_equal(cfg.net.fwd[0].guest_port, 80);
    assert_true(cfg.net.fwd[1].udp);
    assert_int_equal(cfg.net.fwd[1].host_addr, 0x7f000001);
    assert_int_equal(cfg.net.fwd[1].host_port, 5353);
    assert_int_equal(cfg.net.fwd[1].guest_port, 53);
    assert_int_equal(cfg.net.fwd[2].host_port, 2222);
    assert_memory_equal(cfg.net.mac, mine, 6);

    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        if (net(bad[i], &cfg) != -EINVAL || cfg.net.mode != NET_NONE)
            fail_msg("--net \"%s\": accepted", bad[i]);

    assert_int_equal(net("user", &cfg), 0);
    assert_int_equal(config_parse_net(twice, &cfg), -EINVAL); /* one NIC */
}

static void test_parse_device(void **state)
{
    struct vm_config cfg = {0};

    (void)state;
    assert_int_equal(config_parse_device("edu", &cfg), 0);
    assert_true(cfg.edu);
    cfg.edu = false;
    for (const char *const *s = (const char *const[]){"", "EDU", "edu,x", "intel-iommu", NULL};
         *s; s++)
        assert_int_equal(config_parse_device(*s, &cfg), -EINVAL);
    assert_false(cfg.edu);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(test_parse_mem),
        cmocka_unit_test(test_parse_mem_max),
        cmocka_unit_test(test_parse_engine),
        cmocka_unit_test(test_parse_on_reboot),
        cmocka_unit_test(test_parse_jit),
        cmocka_unit_test(test_parse_device),
        cmocka_unit_test(test_parse_cpus),
        cmocka_unit_test(test_parse_cpu),
        cmocka_unit_test(test_cpu_filter),
        cmocka_unit_test(test_cpu_vendor),
        cmocka_unit_test(test_parse_disk),
        cmocka_unit_test(test_parse_bootindex),
        cmocka_unit_test(test_parse_profile),
        cmocka_unit_test(test_parse_net),
    };

    return cmocka_run_group_tests(tests, NULL, NULL);
}
