#include "machine/config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"
#include "virtio/vsock.h"

/* Binary units, as QEMU and Firecracker read them. */
static const struct {
    const char *suffix;
    unsigned shift;
} units[] = {
    {"", 20},    {"B", 0},  {"K", 10},  {"KB", 10},  {"KIB", 10}, {"M", 20},  {"MB", 20},
    {"MIB", 20}, {"G", 30}, {"GB", 30}, {"GIB", 30}, {"T", 40},   {"TB", 40}, {"TIB", 40},
};

int config_parse_mem(const char *s, uint64_t max, uint64_t *out)
{
    uint64_t value = 0, bytes;
    const char *p = s;
    int unit = -1;

    if (!isdigit((unsigned char)*p))
        goto bad;
    for (; isdigit((unsigned char)*p); p++)
        if (__builtin_mul_overflow(value, 10, &value) ||
            __builtin_add_overflow(value, (uint64_t)(*p - '0'), &value))
            goto too_big;
    for (unsigned i = 0; i < sizeof(units) / sizeof(units[0]); i++)
        if (!strcasecmp(p, units[i].suffix))
            unit = (int)i;
    if (unit < 0)
        goto bad;
    if (value > (UINT64_MAX >> units[unit].shift))
        goto too_big;
    bytes = value << units[unit].shift;
    if (bytes < MEM_MIN_SIZE) {
        log_err("--mem %s: at least %llu MiB are needed", s, MEM_MIN_SIZE >> 20);
        return -EINVAL;
    }
    /* Round up to whole pages before the limit check, without wrapping. */
    if (bytes > UINT64_MAX - 4095)
        goto too_big;
    bytes = (bytes + 4095) & ~4095ULL;
    if (bytes > max)
        goto too_big;
    *out = bytes;
    return 0;
too_big:
    log_err("--mem %s: more than this host's %" PRIu64 " MiB of memory", s, max >> 20);
    return -EINVAL;
bad:
    log_err("--mem %s: not a size (examples: 256M, 1G)", s);
    return -EINVAL;
}

int config_parse_engine(const char *s, enum engine_choice *out)
{
    if (!strcmp(s, "auto"))
        *out = ENGINE_AUTO;
    else if (!strcmp(s, "kvm"))
        *out = ENGINE_KVM;
    else if (!strcmp(s, "emu"))
        *out = ENGINE_EMU;
    else {
        log_err("--engine %s: unknown engine (auto, kvm or emu)", s);
        return -EINVAL;
    }
    return 0;
}

int config_parse_on_reboot(const char *s, enum on_reboot *out)
{
    if (!strcmp(s, "exit"))
        *out = ON_REBOOT_EXIT;
    else if (!strcmp(s, "restart"))
        *out = ON_REBOOT_RESTART;
    else {
        log_err("--on-reboot %s: restart or exit", s);
        return -EINVAL;
    }
    return 0;
}

int config_parse_transport(const char *s, enum virtio_transport *out)
{
    if (!strcmp(s, "mmio"))
        *out = TRANSPORT_MMIO;
    else if (!strcmp(s, "pci"))
        *out = TRANSPORT_PCI;
    else {
        log_err("--transport %s: mmio or pci", s);
        return -EINVAL;
    }
    return 0;
}

int config_parse_jit(const char *s, bool *off)
{
    if (!strcmp(s, "on"))
        *off = false;
    else if (!strcmp(s, "off"))
        *off = true;
    else {
        log_err("--jit %s: on or off", s);
        return -EINVAL;
    }
    return 0;
}

int config_parse_device(const char *s, struct vm_config *cfg)
{
    if (strcmp(s, "edu")) {
        log_err("--device %s: unknown device (edu is the one there is)", s);
        return -EINVAL;
    }
    cfg->edu = true;
    return 0;
}

int config_parse_cpus(const char *s, int *out)
{
    char *end = (char *)s;
    long n;

    errno = 0;
    n = isdigit((unsigned char)s[0]) ? strtol(s, &end, 10) : 0;
    if (errno || !isdigit((unsigned char)s[0]) || *end || n < 1 || n > VM_MAX_CPUS) {
        log_err("--cpus %s: a number from 1 to %d", s, VM_MAX_CPUS);
        return -EINVAL;
    }
    *out = (int)n;
    return 0;
}

/* Whether the option of n bytes at opt is name. */
static bool is_opt(const char *opt, size_t n, const char *name)
{
    return n == strlen(name) && !strncmp(opt, name, n);
}

/* The n decimal digits at s, 0-65535 (QEMU's bootindex is an int; a
 * boot order needs no more). */
static int parse_bootindex(const char *s, size_t n, unsigned *out)
{
    unsigned v = 0;

    if (!n || n > 5)
        return -EINVAL;
    for (size_t i = 0; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return -EINVAL;
        v = v * 10 + (unsigned)(s[i] - '0');
    }
    if (v > 65535)
        return -EINVAL;
    *out = v;
    return 0;
}

int config_parse_disk(char *s, struct vm_config *cfg)
{
    struct vm_disk d = {.path = s};
    char *comma = strchr(s, ',');

    if (cfg->nr_disks == VM_MAX_DISKS) {
        log_err("--disk %s: at most %d disks", s, VM_MAX_DISKS);
        return -EINVAL;
    }
    for (const char *opt = comma; opt; opt = strchr(opt + 1, ',')) {
        size_t n = strcspn(opt + 1, ",");

        if (is_opt(opt + 1, n, "ro")) {
            d.ro = true;
        } else if (is_opt(opt + 1, n, "snapshot")) {
            d.snapshot = true;
        } else if (is_opt(opt + 1, n, "format=raw")) {
            d.format = BLOCK_FORMAT_RAW;
        } else if (is_opt(opt + 1, n, "format=qcow2")) {
            d.format = BLOCK_FORMAT_QCOW2;
        } else if (is_opt(opt + 1, n, "backing=on") || is_opt(opt + 1, n, "backing=off")) {
            d.backing = is_opt(opt + 1, n, "backing=on");
        } else if (n > 10 && !strncmp(opt + 1, "bootindex=", 10)) {
            if (parse_bootindex(opt + 11, n - 10, &d.bootindex)) {
                log_err("--disk %s: bootindex=%.*s: not a number from 0 to 65535", s,
                        (int)(n - 10), opt + 11);
                return -EINVAL;
            }
            d.has_bootindex = true;
        } else {
            log_err("--disk %s: unknown option %.*s (options: ro, snapshot, format=raw|qcow2, "
                    "backing=on|off, bootindex=N)",
                    s, (int)n, opt + 1);
            return -EINVAL;
        }
    }
    if (comma)
        *comma = '\0';
    if (!*s) {
        log_err("--disk: needs a file name (--disk FILE[,OPTION]...)");
        return -EINVAL;
    }
    cfg->disks[cfg->nr_disks++] = d;
    return 0;
}

int config_parse_cloud_init(char *s, struct vm_config *cfg)
{
    static const char form[] = "--cloud-init USER_DATA[,meta-data=FILE][,network-config=FILE]";
    struct vm_cloud_init ci = {0};
    char *opt = strchr(s, ',');

    if (cfg->cloud_init.user_data) {
        log_err("--cloud-init %s: one --cloud-init at most", s);
        return -EINVAL;
    }
    if (opt)
        *opt++ = '\0';
    if (!*s) {
        log_err("--cloud-init: needs a user-data file (%s)", form);
        return -EINVAL;
    }
    while (opt) {
        char *next = strchr(opt, ',');
        const char **slot = NULL;
        size_t klen = 0;

        if (next)
            *next++ = '\0';
        if (!strncmp(opt, "meta-data=", 10)) {
            slot = &ci.meta_data;
            klen = 10;
        } else if (!strncmp(opt, "network-config=", 15)) {
            slot = &ci.network_config;
            klen = 15;
        }
        if (!*opt) {
            log_err("--cloud-init %s: an empty option after a comma (%s)", s, form);
            return -EINVAL;
        }
        if (!slot) {
            log_err("--cloud-init %s: unknown option %s (%s)", s, opt, form);
            return -EINVAL;
        }
        if (!opt[klen]) {
            log_err("--cloud-init %s: %s needs a file name", s, opt);
            return -EINVAL;
        }
        if (*slot) {
            log_err("--cloud-init %s: %.*s given twice", s, (int)klen - 1, opt);
            return -EINVAL;
        }
        *slot = opt + klen;
        opt = next;
    }
    ci.user_data = s;
    cfg->cloud_init = ci;
    return 0;
}

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned v[6];
    char end;
    int n = sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5], &end);

    if (n != 6 || strlen(s) != 17) {
        log_err("--net mac=%s: not a MAC address (example: 52:54:00:12:34:56)", s);
        return -EINVAL;
    }
    if (v[0] & 1) {
        log_err("--net mac=%s: a multicast address (the first byte must be even)", s);
        return -EINVAL;
    }
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)v[i];
    return 0;
}

/* A port number 1-65535, the whole of s. */
static bool parse_port(const char *s, uint16_t *out)
{
    char *end;
    long n;

    if (!isdigit((unsigned char)s[0]))
        return false;
    errno = 0;
    n = strtol(s, &end, 10);
    if (errno || *end || n < 1 || n > 65535)
        return false;
    *out = (uint16_t)n;
    return true;
}

/* [tcp|udp]:[HOSTADDR]:HOSTPORT-[GUESTADDR]:GUESTPORT, GUESTADDR the
 * guest's DHCP address if given (libslirp forwards to that one). */
static int parse_hostfwd(char *s, struct vm_net *net)
{
    char *proto = s, *haddr, *hport, *gaddr, *gport;
    struct vm_hostfwd f = {0};
    struct in_addr a;

    if (net->nr_fwd == VM_MAX_HOSTFWD) {
        log_err("--net hostfwd=%s: at most %d forwarded ports", s, VM_MAX_HOSTFWD);
        return -EINVAL;
    }
    haddr = strchr(proto, ':');
    hport = haddr ? strchr(haddr + 1, ':') : NULL;
    gaddr = hport ? strchr(hport + 1, '-') : NULL;
    gport = gaddr ? strchr(gaddr + 1, ':') : NULL;
    if (!gport)
        goto bad;
    *haddr++ = *hport++ = *gaddr++ = *gport++ = '\0';
    if (!strcmp(proto, "udp"))
        f.udp = true;
    else if (*proto && strcmp(proto, "tcp"))
        goto bad_restore;
    if (*haddr) {
        if (inet_pton(AF_INET, haddr, &a) != 1)
            goto bad_restore;
        f.host_addr = ntohl(a.s_addr);
    }
    if (*gaddr && strcmp(gaddr, "10.0.2.15"))
        goto bad_restore;
    if (!parse_port(hport, &f.host_port) || !parse_port(gport, &f.guest_port))
        goto bad_restore;
    net->fwd[net->nr_fwd++] = f;
    return 0;
bad_restore:
    haddr[-1] = hport[-1] = ':';
    gaddr[-1] = '-';
    gport[-1] = ':';
bad:
    log_err("--net hostfwd=%s: expected [tcp|udp]:[HOSTADDR]:HOSTPORT-[10.0.2.15]:GUESTPORT "
            "(example: tcp::8080-:80)",
            s);
    return -EINVAL;
}

int config_parse_net(char *s, struct vm_config *cfg)
{
    struct vm_net net = {.mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56}};
    char *opt = strchr(s, ','), *next;

    if (cfg->net.mode != NET_NONE) {
        log_err("--net %s: one --net at most", s);
        return -EINVAL;
    }
    if (opt)
        *opt++ = '\0';
    if (!strcmp(s, "user")) {
        net.mode = NET_USER;
    } else if (!strncmp(s, "tap=", 4) && s[4]) {
        net.mode = NET_TAP;
        net.ifname = s + 4;
    } else {
        log_err("--net %s: expected tap=IFNAME or user", s);
        return -EINVAL;
    }
    for (; opt; opt = next) {
        next = strchr(opt, ',');
        if (next)
            *next++ = '\0';
        if (!*opt) {
            log_err("--net %s: empty option (a comma too many)", s);
            return -EINVAL;
        }
        if (!strncmp(opt, "mac=", 4)) {
            if (parse_mac(opt + 4, net.mac))
                return -EINVAL;
        } else if (net.mode == NET_USER && !strncmp(opt, "hostfwd=", 8)) {
            if (parse_hostfwd(opt + 8, &net))
                return -EINVAL;
        } else if (net.mode == NET_USER && !strncmp(opt, "hostname=", 9)) {
            /* A DNS label (RFC 1123 §2.1): what a guest may take as its name. */
            size_t n = strlen(opt + 9);

            if (!n || n > 63 ||
                strspn(opt + 9, "abcdefghijklmnopqrstuvwxyz"
                                "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-") != n ||
                opt[9] == '-' || opt[8 + n] == '-') {
                log_err("--net hostname=%s: expected 1 to 63 letters, digits and inner hyphens",
                        opt + 9);
                return -EINVAL;
            }
            net.hostname = opt + 9;
        } else {
            log_err("--net %s: unknown option %s (%s)", s, opt,
                    net.mode == NET_USER ? "hostfwd=, hostname= or mac=" : "mac=");
            return -EINVAL;
        }
    }
    cfg->net = net;
    return 0;
}

int config_parse_vsock(char *s, struct vm_config *cfg)
{
    char *opt, *next, *end;
    unsigned long long cid = 0;

    if (cfg->vsock_cid) {
        log_err("--vsock %s: one --vsock at most", s);
        return -EINVAL;
    }
    cfg->vsock_uds = NULL;
    for (opt = s; opt; opt = next) {
        next = strchr(opt, ',');
        if (next)
            *next++ = '\0';
        if (!strncmp(opt, "cid=", 4)) {
            errno = 0;
            cid = isdigit((unsigned char)opt[4]) ? strtoull(opt + 4, &end, 10) : 0;
            if (!isdigit((unsigned char)opt[4]) || errno || *end || vsock_cid_fault(cid)) {
                log_err("--vsock cid=%s: %s", opt + 4, vsock_cid_fault(0));
                return -EINVAL;
            }
        } else if (!strncmp(opt, "uds=", 4) && opt[4]) {
            if (vsock_uds_fault(strlen(opt + 4))) {
                log_err("--vsock uds=%s: %s", opt + 4, vsock_uds_fault(strlen(opt + 4)));
                return -EINVAL;
            }
            cfg->vsock_uds = opt + 4;
        } else {
            log_err("--vsock %s: unknown option (expected cid=N,uds=PATH)", opt);
            return -EINVAL;
        }
    }
    if (!cid || !cfg->vsock_uds) {
        log_err("--vsock: needs both cid=N and uds=PATH (--vsock cid=3,uds=/tmp/vx86.sock)");
        return -EINVAL;
    }
    cfg->vsock_cid = (uint32_t)cid;
    return 0;
}

int config_parse_profile(char *s, struct vm_config *cfg)
{
    char *opt = strchr(s, ',');

    if (opt) {
        *opt++ = '\0';
        if (strncmp(opt, "map=", 4) || !opt[4]) {
            log_err("--profile %s: unknown option %s (the one option is map=PATH)", s, opt);
            return -EINVAL;
        }
        cfg->profile_map = opt + 4;
    }
    if (!*s) {
        log_err("--profile: needs a file name (--profile FILE[,map=PATH])");
        return -EINVAL;
    }
    cfg->profile = s;
    return 0;
}
