#include "vm/config.h"

#include <ctype.h>
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "util/log.h"

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

int config_parse_disk(char *s, struct vm_config *cfg)
{
    char *opt = strchr(s, ',');
    bool ro = false;

    if (cfg->nr_disks == VM_MAX_DISKS) {
        log_err("--disk %s: at most %d disks", s, VM_MAX_DISKS);
        return -EINVAL;
    }
    if (opt) {
        if (strcmp(opt + 1, "ro")) {
            log_err("--disk %s: unknown option %s (the one option is ro)", s, opt + 1);
            return -EINVAL;
        }
        ro = true;
        *opt = '\0';
    }
    if (!*s) {
        log_err("--disk: needs a file name (--disk FILE[,ro])");
        return -EINVAL;
    }
    cfg->disks[cfg->nr_disks++] = (struct vm_disk){.path = s, .ro = ro};
    return 0;
}
