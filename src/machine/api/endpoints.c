#include "machine/api/endpoints.h"

#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "host/json.h"
#include "util/json_parse.h"
#include "util/log.h"
#include "virtio/vsock.h"

#define MSG_MAX 320

/* Firecracker's answers to a pre-boot call after InstanceStart, and to a
 * post-boot one before. */
static const char after_start[] =
    "The requested operation is not supported after starting the microVM.";
static const char before_start[] =
    "The requested operation is not supported before starting the microVM.";

/* One field of a body, as Firecracker's serde struct declares it. */
struct field {
    const char *name;
    enum json_type type;
    bool required;
};

struct body {
    struct json_doc doc;
    char msg[MSG_MAX];
};

static void reply_json(struct api_reply *r, int status, void (*write)(struct json *, const void *),
                       const void *arg)
{
    struct json j;
    FILE *f;

    *r = (struct api_reply){.status = status};
    f = open_memstream(&r->body, &r->len);
    if (!f) {
        r->status = 500;
        return;
    }
    json_init(&j, f);
    write(&j, arg);
    if (fclose(f)) {
        free(r->body);
        *r = (struct api_reply){.status = 500};
    }
}

static void write_fault(struct json *j, const void *msg)
{
    json_begin(j, NULL, '{');
    json_str(j, "fault_message", msg);
    json_end(j, '}');
}

void api_error_reply(struct api_reply *r, const char *msg)
{
    reply_json(r, 400, write_fault, msg);
}

static void errorf(struct api_reply *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void errorf(struct api_reply *r, const char *fmt, ...)
{
    char msg[MSG_MAX];
    va_list ap;

    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    api_error_reply(r, msg);
}

void api_reply_free(struct api_reply *r)
{
    free(r->body);
    r->body = NULL;
}

/*
 * Checks object node obj against fields (as serde's deny_unknown_fields):
 * at[i] gets each field's node, -1 when absent or null (null stands for an
 * absent Option). Returns 0, or -EINVAL with msg saying why.
 */
static int check_fields(const struct json_doc *d, int obj, const struct field *fields, int nr,
                        int *at, char *msg)
{
    const struct json_node *n = d->nodes;

    if (n[obj].type != JSON_OBJECT) {
        snprintf(msg, MSG_MAX, "the body must be a JSON object, not %s",
                 json_type_name(n[obj].type));
        return -EINVAL;
    }
    for (int i = 0; i < nr; i++)
        at[i] = -1;
    for (int c = n[obj].first; c >= 0; c = n[c].next) {
        int i;

        for (i = 0; i < nr && strcmp(fields[i].name, n[c].key); i++)
            ;
        if (i == nr) {
            int o = snprintf(msg, MSG_MAX, "unknown field `%s`, expected one of", n[c].key);

            for (int k = 0; k < nr && o > 0 && o < MSG_MAX; k++)
                o +=
                    snprintf(msg + o, MSG_MAX - (size_t)o, "%s `%s`", k ? "," : "", fields[k].name);
            return -EINVAL;
        }
        if (at[i] >= 0 || (at[i] == -2)) {
            snprintf(msg, MSG_MAX, "duplicate field `%s`", fields[i].name);
            return -EINVAL;
        }
        if (n[c].type == JSON_NULL && !fields[i].required) {
            at[i] = -2;
            continue;
        }
        if (n[c].type != fields[i].type ||
            (fields[i].type == JSON_NUMBER && (!n[c].integer || n[c].i < 0))) {
            snprintf(msg, MSG_MAX, "invalid type for `%s`: %s, expected %s", fields[i].name,
                     json_type_name(n[c].type),
                     fields[i].type == JSON_NUMBER ? "an unsigned integer"
                                                   : json_type_name(fields[i].type));
            return -EINVAL;
        }
        at[i] = c;
    }
    for (int i = 0; i < nr; i++) {
        if (at[i] == -1 && fields[i].required) {
            snprintf(msg, MSG_MAX, "missing field `%s`", fields[i].name);
            return -EINVAL;
        }
        if (at[i] == -2)
            at[i] = -1;
    }
    return 0;
}

/* Parses a request body into b->doc; on failure b->msg says why. */
static int parse_body(struct body *b, const char *text, size_t len)
{
    char err[160];
    int ret = json_parse(text, len, &b->doc, err, sizeof(err));

    if (ret)
        snprintf(b->msg, MSG_MAX, "the body is not valid JSON: %s", err);
    return ret;
}

/* Firecracker's checked_id: 1 to 64 ASCII letters, digits and '_'. */
static int check_id(const char *id, const char *what, char *msg)
{
    size_t n = strlen(id);

    if (!n || n > API_MAX_ID) {
        snprintf(msg, MSG_MAX, "invalid %s id: 1 to %d characters", what, API_MAX_ID);
        return -EINVAL;
    }
    for (size_t i = 0; i < n; i++)
        if (!((id[i] >= 'a' && id[i] <= 'z') || (id[i] >= 'A' && id[i] <= 'Z') ||
              (id[i] >= '0' && id[i] <= '9') || id[i] == '_')) {
            snprintf(msg, MSG_MAX, "invalid %s id: only letters, digits and _ are allowed", what);
            return -EINVAL;
        }
    return 0;
}

/* Replaces *slot by a copy of s (NULL: none). */
static int set_str(char **slot, const char *s)
{
    char *copy = NULL;

    if (s && !(copy = strdup(s)))
        return -ENOMEM;
    free(*slot);
    *slot = copy;
    return 0;
}

static const char *str_at(const struct json_doc *d, int at)
{
    return at >= 0 ? d->nodes[at].str : NULL;
}

/* ---- machine-config ---- */

enum { MC_VCPUS, MC_MEM, MC_SMT, MC_DIRTY, MC_TEMPLATE, MC_HUGE, MC_NR };

static const struct field machine_fields[MC_NR] = {
    [MC_VCPUS] = {"vcpu_count", JSON_NUMBER, true},
    [MC_MEM] = {"mem_size_mib", JSON_NUMBER, true},
    [MC_SMT] = {"smt", JSON_BOOL, false},
    [MC_DIRTY] = {"track_dirty_pages", JSON_BOOL, false},
    [MC_TEMPLATE] = {"cpu_template", JSON_STRING, false},
    [MC_HUGE] = {"huge_pages", JSON_STRING, false},
};

/* PUT (put: unset optional fields go back to their defaults) or PATCH. */
static int machine_config(struct api_vmm *v, const struct json_doc *d, int obj, bool put, char *msg)
{
    struct field fields[MC_NR];
    int at[MC_NR];
    const struct json_node *n = d->nodes;
    int vcpus = v->vcpus;
    uint64_t mem = v->mem_mib;
    bool dirty = put ? false : v->track_dirty_pages;

    memcpy(fields, machine_fields, sizeof(fields));
    fields[MC_VCPUS].required = fields[MC_MEM].required = put;
    if (check_fields(d, obj, fields, MC_NR, at, msg))
        return -EINVAL;
    if (at[MC_VCPUS] >= 0) {
        if (n[at[MC_VCPUS]].i < 1 || n[at[MC_VCPUS]].i > API_MAX_VCPUS) {
            snprintf(msg, MSG_MAX, "vcpu_count %" PRId64 ": a number from 1 to %d",
                     n[at[MC_VCPUS]].i, API_MAX_VCPUS);
            return -EINVAL;
        }
        vcpus = (int)n[at[MC_VCPUS]].i;
    }
    if (at[MC_MEM] >= 0) {
        uint64_t m = (uint64_t)n[at[MC_MEM]].i;

        if (m < (MEM_MIN_SIZE >> 20) || m > v->max_mib) {
            snprintf(msg, MSG_MAX, "mem_size_mib %" PRIu64 ": from %llu to this host's %" PRIu64, m,
                     MEM_MIN_SIZE >> 20, v->max_mib);
            return -EINVAL;
        }
        mem = m;
    }
    if (at[MC_SMT] >= 0 && n[at[MC_SMT]].boolean) {
        snprintf(msg, MSG_MAX,
                 "smt: simultaneous multithreading is not supported by vx86 "
                 "(its vCPUs are cores of their own)");
        return -EINVAL;
    }
    if (at[MC_TEMPLATE] >= 0 && strcmp(n[at[MC_TEMPLATE]].str, "None")) {
        snprintf(msg, MSG_MAX,
                 "cpu_template %s: CPU templates are not supported by vx86 "
                 "(vx86 run --cpu takes features away)",
                 n[at[MC_TEMPLATE]].str);
        return -EINVAL;
    }
    if (at[MC_HUGE] >= 0 && strcmp(n[at[MC_HUGE]].str, "None")) {
        snprintf(msg, MSG_MAX, "huge_pages %s: not supported by vx86 (only None)",
                 n[at[MC_HUGE]].str);
        return -EINVAL;
    }
    if (at[MC_DIRTY] >= 0)
        dirty = n[at[MC_DIRTY]].boolean;
    v->vcpus = vcpus;
    v->mem_mib = mem;
    v->track_dirty_pages = dirty;
    return 0;
}

static void write_machine(struct json *j, const struct api_vmm *v, const char *key)
{
    json_begin(j, key, '{');
    json_int(j, "vcpu_count", v->vcpus);
    json_int(j, "mem_size_mib", (long)v->mem_mib);
    json_bool(j, "smt", false);
    json_bool(j, "track_dirty_pages", v->track_dirty_pages);
    json_str(j, "huge_pages", "None");
    json_end(j, '}');
}

static void write_machine_reply(struct json *j, const void *v)
{
    write_machine(j, v, NULL);
}

/* ---- boot-source ---- */

enum { BS_KERNEL, BS_INITRD, BS_ARGS, BS_NR };

static const struct field boot_fields[BS_NR] = {
    [BS_KERNEL] = {"kernel_image_path", JSON_STRING, true},
    [BS_INITRD] = {"initrd_path", JSON_STRING, false},
    [BS_ARGS] = {"boot_args", JSON_STRING, false},
};

static int boot_source(struct api_vmm *v, const struct json_doc *d, int obj, char *msg)
{
    int at[BS_NR];

    if (check_fields(d, obj, boot_fields, BS_NR, at, msg))
        return -EINVAL;
    if (!d->nodes[at[BS_KERNEL]].len) {
        snprintf(msg, MSG_MAX, "kernel_image_path: an empty path");
        return -EINVAL;
    }
    if (set_str(&v->kernel, str_at(d, at[BS_KERNEL])) ||
        set_str(&v->initrd, str_at(d, at[BS_INITRD])) ||
        set_str(&v->boot_args, str_at(d, at[BS_ARGS]))) {
        snprintf(msg, MSG_MAX, "out of memory");
        return -ENOMEM;
    }
    return 0;
}

/* ---- rate limiters ---- */

enum { TB_SIZE, TB_BURST, TB_REFILL, TB_NR };

static const struct field bucket_fields[TB_NR] = {
    [TB_SIZE] = {"size", JSON_NUMBER, true},
    [TB_BURST] = {"one_time_burst", JSON_NUMBER, false},
    [TB_REFILL] = {"refill_time", JSON_NUMBER, true},
};

static const struct field limiter_fields[] = {
    {"bandwidth", JSON_OBJECT, false},
    {"ops", JSON_OBJECT, false},
};

/*
 * The RateLimiter object at obj, the field named what, into *cfg: a bucket
 * it names replaces cfg's (size 0 or refill_time 0: unlimited), one it
 * leaves out or sets to null keeps cfg's, as Firecracker's update does (a
 * PUT passes a zero cfg). Values are unsigned 64-bit integers; the JSON
 * reader's integers stop at 2^63 - 1, so larger ones are refused.
 */
static int rate_limiter(const struct json_doc *d, int obj, const char *what,
                        struct rate_limiter_cfg *cfg, char *msg)
{
    struct token_bucket_cfg *buckets[2] = {&cfg->bandwidth, &cfg->ops};
    const struct json_node *n = d->nodes;
    char why[MSG_MAX];
    int at[2];

    if (check_fields(d, obj, limiter_fields, 2, at, why)) {
        snprintf(msg, MSG_MAX, "%s: %.200s", what, why);
        return -EINVAL;
    }
    for (int i = 0; i < 2; i++) {
        int tb[TB_NR];

        if (at[i] < 0)
            continue;
        if (check_fields(d, at[i], bucket_fields, TB_NR, tb, why)) {
            snprintf(msg, MSG_MAX, "%s.%s: %.200s", what, limiter_fields[i].name, why);
            return -EINVAL;
        }
        *buckets[i] = (struct token_bucket_cfg){
            .size = (uint64_t)n[tb[TB_SIZE]].i,
            .one_time_burst = tb[TB_BURST] >= 0 ? (uint64_t)n[tb[TB_BURST]].i : 0,
            .refill_ms = (uint64_t)n[tb[TB_REFILL]].i,
        };
    }
    return 0;
}

/* Writes rl as the API's RateLimiter under key: the buckets that limit;
 * nothing when neither does. */
static void write_rate_limiter(struct json *j, const char *key, const struct rate_limiter_cfg *rl)
{
    const struct token_bucket_cfg *buckets[2] = {&rl->bandwidth, &rl->ops};

    if (!token_bucket_limited(&rl->bandwidth) && !token_bucket_limited(&rl->ops))
        return;
    json_begin(j, key, '{');
    for (int i = 0; i < 2; i++) {
        if (!token_bucket_limited(buckets[i]))
            continue;
        json_begin(j, limiter_fields[i].name, '{');
        json_int(j, "size", (long)buckets[i]->size);
        json_int(j, "one_time_burst", (long)buckets[i]->one_time_burst);
        json_int(j, "refill_time", (long)buckets[i]->refill_ms);
        json_end(j, '}');
    }
    json_end(j, '}');
}

/* ---- drives ---- */

enum { DR_ID, DR_PATH, DR_ROOT, DR_RO, DR_PARTUUID, DR_CACHE, DR_RATE, DR_IO, DR_SOCKET, DR_NR };

static const struct field drive_fields[DR_NR] = {
    [DR_ID] = {"drive_id", JSON_STRING, true},
    [DR_PATH] = {"path_on_host", JSON_STRING, false},
    [DR_ROOT] = {"is_root_device", JSON_BOOL, true},
    [DR_RO] = {"is_read_only", JSON_BOOL, false},
    [DR_PARTUUID] = {"partuuid", JSON_STRING, false},
    [DR_CACHE] = {"cache_type", JSON_STRING, false},
    [DR_RATE] = {"rate_limiter", JSON_OBJECT, false},
    [DR_IO] = {"io_engine", JSON_STRING, false},
    [DR_SOCKET] = {"socket", JSON_STRING, false},
};

/* id: the path's, NULL in a config file (the body's is taken). */
static int drive(struct api_vmm *v, const struct json_doc *d, int obj, const char *id, char *msg)
{
    const struct json_node *n = d->nodes;
    struct api_drive nd = {0};
    int at[DR_NR], slot;

    if (check_fields(d, obj, drive_fields, DR_NR, at, msg))
        return -EINVAL;
    if (id && strcmp(id, n[at[DR_ID]].str)) {
        snprintf(msg, MSG_MAX, "The id from the path does not match the id from the body!");
        return -EINVAL;
    }
    if (check_id(n[at[DR_ID]].str, "drive", msg))
        return -EINVAL;
    if (at[DR_SOCKET] >= 0) {
        snprintf(msg, MSG_MAX, "socket: vhost-user block devices are not supported by vx86");
        return -EINVAL;
    }
    if (at[DR_RATE] >= 0 && rate_limiter(d, at[DR_RATE], "rate_limiter", &nd.rl, msg))
        return -EINVAL;
    if (at[DR_PATH] < 0 || !n[at[DR_PATH]].len) {
        snprintf(msg, MSG_MAX, "path_on_host: a virtio-blk drive needs its file");
        return -EINVAL;
    }
    if (at[DR_CACHE] >= 0 && strcmp(n[at[DR_CACHE]].str, "Unsafe") &&
        strcmp(n[at[DR_CACHE]].str, "Writeback")) {
        snprintf(msg, MSG_MAX, "cache_type %s: Unsafe or Writeback", n[at[DR_CACHE]].str);
        return -EINVAL;
    }
    if (at[DR_IO] >= 0 && strcmp(n[at[DR_IO]].str, "Sync") && strcmp(n[at[DR_IO]].str, "Async")) {
        snprintf(msg, MSG_MAX, "io_engine %s: Sync or Async", n[at[DR_IO]].str);
        return -EINVAL;
    }
    snprintf(nd.id, sizeof(nd.id), "%s", n[at[DR_ID]].str);
    nd.root = n[at[DR_ROOT]].boolean;
    nd.ro = at[DR_RO] >= 0 && n[at[DR_RO]].boolean;
    nd.writeback = at[DR_CACHE] >= 0 && !strcmp(n[at[DR_CACHE]].str, "Writeback");
    nd.async = at[DR_IO] >= 0 && !strcmp(n[at[DR_IO]].str, "Async");
    for (slot = 0; slot < v->nr_drives && strcmp(v->drives[slot].id, nd.id); slot++)
        ;
    for (int i = 0; i < v->nr_drives; i++)
        if (nd.root && i != slot && v->drives[i].root) {
            snprintf(msg, MSG_MAX, "A root block device already exists!");
            return -EINVAL;
        }
    if (slot == VM_MAX_DISKS) {
        snprintf(msg, MSG_MAX, "drive %s: vx86 has at most %d drives", nd.id, VM_MAX_DISKS);
        return -EINVAL;
    }
    if (set_str(&nd.path, n[at[DR_PATH]].str) ||
        set_str(&nd.partuuid, str_at(d, at[DR_PARTUUID]))) {
        free(nd.path);
        snprintf(msg, MSG_MAX, "out of memory");
        return -ENOMEM;
    }
    if (slot < v->nr_drives) {
        free(v->drives[slot].path);
        free(v->drives[slot].partuuid);
    } else {
        v->nr_drives++;
    }
    v->drives[slot] = nd;
    return 0;
}

/* PATCH /drives/{id}, once the guest runs: a new image behind the drive
 * (Kata swaps its placeholder drives so), a new rate limiter, or both. */
static void drive_update(struct api_vmm *v, const char *id, const char *text, size_t len,
                         struct api_reply *r)
{
    static const struct field fields[] = {
        {"drive_id", JSON_STRING, true},
        {"path_on_host", JSON_STRING, false},
        {"rate_limiter", JSON_OBJECT, false},
    };
    const struct json_node *n;
    struct body b;
    int at[3], slot, disk = 0;

    if (parse_body(&b, text, len))
        return api_error_reply(r, b.msg);
    n = b.doc.nodes;
    if (check_fields(&b.doc, 0, fields, 3, at, b.msg))
        goto fail;
    if (strcmp(id, n[at[0]].str)) {
        snprintf(b.msg, MSG_MAX, "The id from the path does not match the id from the body!");
        goto fail;
    }
    if (v->state != API_RUNNING && v->state != API_PAUSED) {
        /* The body is checked first, as Firecracker's parser does. */
        struct rate_limiter_cfg rl = {0};

        if (at[2] < 0 || !rate_limiter(&b.doc, at[2], "rate_limiter", &rl, b.msg))
            snprintf(b.msg, MSG_MAX, "%s", before_start);
        goto fail;
    }
    for (slot = 0; slot < v->nr_drives && strcmp(v->drives[slot].id, id); slot++)
        ;
    if (slot == v->nr_drives) {
        snprintf(b.msg, MSG_MAX, "drive %.64s: no such drive", id);
        goto fail;
    }
    v->update.has_rl = at[2] >= 0;
    v->update.rl = v->drives[slot].rl;
    if (v->update.has_rl && rate_limiter(&b.doc, at[2], "rate_limiter", &v->update.rl, b.msg))
        goto fail;
    if (at[1] < 0 && !v->update.has_rl) { /* nothing to change */
        json_doc_free(&b.doc);
        *r = (struct api_reply){.status = 204};
        return;
    }
    /* api_vmm_build's order: the root drive first, then the others. */
    for (int i = 0; i < v->nr_drives; i++)
        if (i != slot && (v->drives[i].root || (!v->drives[slot].root && i < slot)))
            disk++;
    free(v->update.path);
    v->update.path = NULL;
    if (set_str(&v->update.path, str_at(&b.doc, at[1]))) {
        snprintf(b.msg, MSG_MAX, "out of memory");
        goto fail;
    }
    v->update.disk = disk;
    v->update.drive = slot;
    json_doc_free(&b.doc);
    *r = (struct api_reply){.action = API_UPDATE_DRIVE};
    return;
fail:
    json_doc_free(&b.doc);
    api_error_reply(r, b.msg);
}

int api_drive_updated(struct api_vmm *v, bool ok)
{
    char **more;

    if (!ok || !v->update.path) {
        free(v->update.path);
        v->update.path = NULL;
        if (ok)
            v->drives[v->update.drive].rl = v->update.rl;
        return 0;
    }
    more = realloc(v->retired, (size_t)(v->nr_retired + 1) * sizeof(*more));
    if (!more)
        return -ENOMEM;
    v->retired = more;
    v->retired[v->nr_retired++] = v->drives[v->update.drive].path;
    v->drives[v->update.drive].path = v->update.path;
    v->drives[v->update.drive].rl = v->update.rl;
    v->update.path = NULL;
    return 0;
}

static void write_drives(struct json *j, const struct api_vmm *v)
{
    json_begin(j, "drives", '[');
    for (int i = 0; i < v->nr_drives; i++) {
        const struct api_drive *dr = &v->drives[i];

        json_begin(j, NULL, '{');
        json_str(j, "drive_id", dr->id);
        json_str(j, "partuuid", dr->partuuid);
        json_bool(j, "is_root_device", dr->root);
        json_str(j, "cache_type", dr->writeback ? "Writeback" : "Unsafe");
        json_bool(j, "is_read_only", dr->ro);
        json_str(j, "path_on_host", dr->path);
        json_str(j, "io_engine", dr->async ? "Async" : "Sync");
        write_rate_limiter(j, "rate_limiter", &dr->rl);
        json_end(j, '}');
    }
    json_end(j, ']');
}

/* ---- network-interfaces ---- */

enum { NI_ID, NI_HOST, NI_MAC, NI_RX, NI_TX, NI_MTU, NI_NR };

static const struct field net_fields[NI_NR] = {
    [NI_ID] = {"iface_id", JSON_STRING, true},
    [NI_HOST] = {"host_dev_name", JSON_STRING, true},
    [NI_MAC] = {"guest_mac", JSON_STRING, false},
    [NI_RX] = {"rx_rate_limiter", JSON_OBJECT, false},
    [NI_TX] = {"tx_rate_limiter", JSON_OBJECT, false},
    [NI_MTU] = {"mtu", JSON_NUMBER, false},
};

static int parse_mac(const char *s, uint8_t mac[6])
{
    unsigned b[6];
    char end;

    if (strlen(s) != 17 ||
        sscanf(s, "%2x:%2x:%2x:%2x:%2x:%2x%c", &b[0], &b[1], &b[2], &b[3], &b[4], &b[5], &end) != 6)
        return -EINVAL;
    for (int i = 0; i < 6; i++)
        mac[i] = (uint8_t)b[i];
    return 0;
}

static int net_iface(struct api_vmm *v, const struct json_doc *d, int obj, const char *id,
                     char *msg)
{
    const struct json_node *n = d->nodes;
    struct api_net nn = {0};
    int at[NI_NR];

    if (check_fields(d, obj, net_fields, NI_NR, at, msg))
        return -EINVAL;
    if (id && strcmp(id, n[at[NI_ID]].str)) {
        snprintf(msg, MSG_MAX, "The id from the path does not match the id from the body!");
        return -EINVAL;
    }
    if (check_id(n[at[NI_ID]].str, "network interface", msg))
        return -EINVAL;
    if (at[NI_MTU] >= 0) {
        snprintf(msg, MSG_MAX, "mtu: not supported by vx86");
        return -EINVAL;
    }
    if ((at[NI_RX] >= 0 && rate_limiter(d, at[NI_RX], "rx_rate_limiter", &nn.rx_rl, msg)) ||
        (at[NI_TX] >= 0 && rate_limiter(d, at[NI_TX], "tx_rate_limiter", &nn.tx_rl, msg)))
        return -EINVAL;
    if (!n[at[NI_HOST]].len || n[at[NI_HOST]].len >= 16) {
        snprintf(msg, MSG_MAX, "host_dev_name: a TAP interface name of 1 to 15 characters");
        return -EINVAL;
    }
    if (at[NI_MAC] >= 0) {
        if (parse_mac(n[at[NI_MAC]].str, nn.mac) || (nn.mac[0] & 1)) {
            snprintf(msg, MSG_MAX, "guest_mac %s: not a unicast MAC address", n[at[NI_MAC]].str);
            return -EINVAL;
        }
        nn.has_mac = true;
    }
    if (v->net.id[0] && strcmp(v->net.id, n[at[NI_ID]].str)) {
        snprintf(msg, MSG_MAX, "network interface %s: vx86 has one network interface (%s)",
                 n[at[NI_ID]].str, v->net.id);
        return -EINVAL;
    }
    snprintf(nn.id, sizeof(nn.id), "%s", n[at[NI_ID]].str);
    if (set_str(&nn.host_dev, n[at[NI_HOST]].str)) {
        snprintf(msg, MSG_MAX, "out of memory");
        return -ENOMEM;
    }
    free(v->net.host_dev);
    v->net = nn;
    return 0;
}

static void write_nets(struct json *j, const struct api_vmm *v)
{
    char mac[18];

    json_begin(j, "network-interfaces", '[');
    if (v->net.id[0]) {
        json_begin(j, NULL, '{');
        json_str(j, "iface_id", v->net.id);
        json_str(j, "host_dev_name", v->net.host_dev);
        if (v->net.has_mac) {
            snprintf(mac, sizeof(mac), "%02x:%02x:%02x:%02x:%02x:%02x", v->net.mac[0],
                     v->net.mac[1], v->net.mac[2], v->net.mac[3], v->net.mac[4], v->net.mac[5]);
            json_str(j, "guest_mac", mac);
        }
        write_rate_limiter(j, "rx_rate_limiter", &v->net.rx_rl);
        write_rate_limiter(j, "tx_rate_limiter", &v->net.tx_rl);
        json_end(j, '}');
    }
    json_end(j, ']');
}

/* PATCH /network-interfaces/{id}, once the guest runs: its rate limiters
 * (the only thing Firecracker lets change). */
static void net_update(struct api_vmm *v, const char *id, const char *text, size_t len,
                       struct api_reply *r)
{
    static const struct field fields[] = {
        {"iface_id", JSON_STRING, true},
        {"rx_rate_limiter", JSON_OBJECT, false},
        {"tx_rate_limiter", JSON_OBJECT, false},
    };
    struct rate_limiter_cfg rx = v->net.rx_rl, tx = v->net.tx_rl;
    struct body b;
    int at[3];

    if (parse_body(&b, text, len))
        return api_error_reply(r, b.msg);
    if (check_fields(&b.doc, 0, fields, 3, at, b.msg))
        goto fail;
    if (strcmp(id, b.doc.nodes[at[0]].str)) {
        snprintf(b.msg, MSG_MAX, "The id from the path does not match the id from the body!");
        goto fail;
    }
    if ((at[1] >= 0 && rate_limiter(&b.doc, at[1], "rx_rate_limiter", &rx, b.msg)) ||
        (at[2] >= 0 && rate_limiter(&b.doc, at[2], "tx_rate_limiter", &tx, b.msg)))
        goto fail;
    if (v->state != API_RUNNING && v->state != API_PAUSED) {
        snprintf(b.msg, MSG_MAX, "%s", before_start);
        goto fail;
    }
    if (!v->net.id[0] || strcmp(v->net.id, id)) {
        snprintf(b.msg, MSG_MAX, "network interface %.64s: no such interface", id);
        goto fail;
    }
    json_doc_free(&b.doc);
    v->update_rx_rl = rx;
    v->update_tx_rl = tx;
    *r = (struct api_reply){.action = API_UPDATE_NET};
    return;
fail:
    json_doc_free(&b.doc);
    api_error_reply(r, b.msg);
}

void api_net_updated(struct api_vmm *v)
{
    v->net.rx_rl = v->update_rx_rl;
    v->net.tx_rl = v->update_tx_rl;
}

/* ---- vsock ---- */

enum { VS_ID, VS_CID, VS_UDS, VS_NR };

static const struct field vsock_fields[VS_NR] = {
    [VS_ID] = {"vsock_id", JSON_STRING, false}, /* deprecated by Firecracker, kept for GET */
    [VS_CID] = {"guest_cid", JSON_NUMBER, true},
    [VS_UDS] = {"uds_path", JSON_STRING, true},
};

/* The vsock device (one, as Firecracker's; a second PUT replaces it). */
static int vsock(struct api_vmm *v, const struct json_doc *d, int obj, char *msg)
{
    const struct json_node *n = d->nodes;
    char *uds = NULL;
    int at[VS_NR];

    if (check_fields(d, obj, vsock_fields, VS_NR, at, msg))
        return -EINVAL;
    if (at[VS_ID] >= 0 && check_id(n[at[VS_ID]].str, "vsock", msg))
        return -EINVAL;
    if (n[at[VS_CID]].i < 0 || vsock_cid_fault((uint64_t)n[at[VS_CID]].i)) {
        snprintf(msg, MSG_MAX, "guest_cid %" PRId64 ": %s", n[at[VS_CID]].i, vsock_cid_fault(0));
        return -EINVAL;
    }
    if (vsock_uds_fault(n[at[VS_UDS]].len)) {
        snprintf(msg, MSG_MAX, "uds_path: %s", vsock_uds_fault(n[at[VS_UDS]].len));
        return -EINVAL;
    }
    if (set_str(&uds, n[at[VS_UDS]].str)) {
        snprintf(msg, MSG_MAX, "out of memory");
        return -ENOMEM;
    }
    free(v->vsock.uds);
    v->vsock.uds = uds;
    v->vsock.cid = (uint32_t)n[at[VS_CID]].i;
    snprintf(v->vsock.id, sizeof(v->vsock.id), "%s", at[VS_ID] >= 0 ? n[at[VS_ID]].str : "");
    return 0;
}

static void write_vsock(struct json *j, const struct api_vmm *v)
{
    if (!v->vsock.cid) {
        json_str(j, "vsock", NULL);
        return;
    }
    json_begin(j, "vsock", '{');
    if (v->vsock.id[0])
        json_str(j, "vsock_id", v->vsock.id);
    json_int(j, "guest_cid", (long)v->vsock.cid);
    json_str(j, "uds_path", v->vsock.uds);
    json_end(j, '}');
}

/* ---- entropy ---- */

/* PUT /entropy: vx86's virtio-rng is always there; the body may only say
 * so (a rate limiter is refused). */
static int entropy(struct api_vmm *v, const struct json_doc *d, int obj, char *msg)
{
    static const struct field fields[] = {{"rate_limiter", JSON_OBJECT, false}};
    int at[1];

    if (check_fields(d, obj, fields, 1, at, msg))
        return -EINVAL;
    if (at[0] >= 0) {
        snprintf(msg, MSG_MAX, "rate_limiter: rate limiters are not supported by vx86");
        return -EINVAL;
    }
    v->entropy = true;
    return 0;
}

/* ---- logger and metrics ---- */

enum { LG_PATH, LG_LEVEL, LG_SHOW_LEVEL, LG_SHOW_ORIGIN, LG_MODULE, LG_NR };

static const struct field logger_fields[LG_NR] = {
    [LG_PATH] = {"log_path", JSON_STRING, false},
    [LG_LEVEL] = {"level", JSON_STRING, false},
    [LG_SHOW_LEVEL] = {"show_level", JSON_BOOL, false},
    [LG_SHOW_ORIGIN] = {"show_log_origin", JSON_BOOL, false},
    [LG_MODULE] = {"module", JSON_STRING, false},
};

/* PUT /logger: checked and recorded; the server opens the file (once, as
 * Firecracker's logger is set up once). */
static int logger(struct api_vmm *v, const struct json_doc *d, int obj, char *msg)
{
    const struct json_node *n = d->nodes;
    struct api_logger l = {.level = LOG_INFO};
    int at[LG_NR];

    if (check_fields(d, obj, logger_fields, LG_NR, at, msg))
        return -EINVAL;
    if (v->logger.path) {
        snprintf(msg, MSG_MAX, "the logger is already configured");
        return -EINVAL;
    }
    if (at[LG_PATH] < 0 || !n[at[LG_PATH]].len) {
        snprintf(msg, MSG_MAX, "log_path: vx86 needs a file or named pipe to log to");
        return -EINVAL;
    }
    if (at[LG_LEVEL] >= 0) {
        l.level = log_level_parse(n[at[LG_LEVEL]].str);
        if (l.level < 0) {
            snprintf(msg, MSG_MAX,
                     "level %.64s: expected one of Error, Warning, Info, Debug, Trace, Off",
                     n[at[LG_LEVEL]].str);
            return -EINVAL;
        }
    }
    if (at[LG_MODULE] >= 0) {
        snprintf(msg, MSG_MAX, "module: vx86's log has no module filter");
        return -EINVAL;
    }
    l.show_level = at[LG_SHOW_LEVEL] >= 0 && n[at[LG_SHOW_LEVEL]].boolean;
    l.show_origin = at[LG_SHOW_ORIGIN] >= 0 && n[at[LG_SHOW_ORIGIN]].boolean;
    if (set_str(&l.path, n[at[LG_PATH]].str)) {
        snprintf(msg, MSG_MAX, "out of memory");
        return -ENOMEM;
    }
    v->logger = l;
    return 0;
}

enum { MT_PATH, MT_EMIT_ID, MT_PROPS, MT_NR };

static const struct field metrics_fields[MT_NR] = {
    [MT_PATH] = {"metrics_path", JSON_STRING, true},
    [MT_EMIT_ID] = {"emit_id", JSON_BOOL, false},
    [MT_PROPS] = {"properties", JSON_OBJECT, false},
};

/* PUT /metrics: checked and recorded; the server opens the file. */
static int metrics(struct api_vmm *v, const struct json_doc *d, int obj, char *msg)
{
    const struct json_node *n = d->nodes;
    int at[MT_NR];

    if (check_fields(d, obj, metrics_fields, MT_NR, at, msg))
        return -EINVAL;
    if (v->metrics_path) {
        snprintf(msg, MSG_MAX, "Reinitialization of metrics not allowed.");
        return -EINVAL;
    }
    if (!n[at[MT_PATH]].len) {
        snprintf(msg, MSG_MAX, "metrics_path: empty");
        return -EINVAL;
    }
    if (at[MT_PROPS] >= 0 && n[at[MT_PROPS]].count) {
        snprintf(msg, MSG_MAX, "properties: not supported by vx86");
        return -EINVAL;
    }
    if (set_str(&v->metrics_path, n[at[MT_PATH]].str)) {
        snprintf(msg, MSG_MAX, "out of memory");
        return -ENOMEM;
    }
    v->metrics_emit_id = at[MT_EMIT_ID] >= 0 && n[at[MT_EMIT_ID]].boolean;
    return 0;
}

static void count_pair(struct json *j, const char *name, uint64_t count, uint64_t fails)
{
    char key[48];

    snprintf(key, sizeof(key), "%s_count", name);
    json_int(j, key, (long)count);
    if (fails != UINT64_MAX) {
        snprintf(key, sizeof(key), "%s_fails", name);
        json_int(j, key, (long)fails);
    }
}

struct metrics_arg {
    const struct api_vmm *v;
    uint64_t now_ms;
};

static void write_metrics(struct json *j, const void *arg)
{
    const struct metrics_arg *m = arg;
    const struct api_counts *c = &m->v->counts;

    json_begin(j, NULL, '{');
    json_int(j, "utc_timestamp_ms", (long)m->now_ms);
    if (m->v->metrics_emit_id)
        json_str(j, "id", m->v->id);
    json_begin(j, "get_api_requests", '{');
    count_pair(j, "instance_info", c->get_info, UINT64_MAX);
    count_pair(j, "machine_cfg", c->get_machine, UINT64_MAX);
    count_pair(j, "vmm_version", c->get_version, UINT64_MAX);
    count_pair(j, "vm_config", c->get_vm_config, UINT64_MAX);
    json_end(j, '}');
    json_begin(j, "put_api_requests", '{');
    count_pair(j, "actions", c->put_actions, c->put_actions_fails);
    count_pair(j, "boot_source", c->put_boot, c->put_boot_fails);
    count_pair(j, "drive", c->put_drive, c->put_drive_fails);
    count_pair(j, "logger", c->put_logger, c->put_logger_fails);
    count_pair(j, "machine_cfg", c->put_machine, c->put_machine_fails);
    count_pair(j, "metrics", c->put_metrics, c->put_metrics_fails);
    count_pair(j, "network", c->put_net, c->put_net_fails);
    count_pair(j, "vsock", c->put_vsock, c->put_vsock_fails);
    json_end(j, '}');
    json_begin(j, "patch_api_requests", '{');
    count_pair(j, "machine_cfg", c->patch_machine, c->patch_machine_fails);
    count_pair(j, "vm", c->patch_vm, c->patch_vm_fails);
    count_pair(j, "drive", c->patch_drive, c->patch_drive_fails);
    count_pair(j, "network", c->patch_net, c->patch_net_fails);
    json_end(j, '}');
    /* Firecracker's names for the devices' counters, all disks and NICs
     * together. */
    json_begin(j, "block", '{');
    json_int(j, "read_count", (long)c->blk.read_count);
    json_int(j, "write_count", (long)c->blk.write_count);
    json_int(j, "flush_count", (long)c->blk.flush_count);
    json_int(j, "read_bytes", (long)c->blk.read_bytes);
    json_int(j, "write_bytes", (long)c->blk.write_bytes);
    json_int(j, "rate_limiter_throttled_events", (long)c->blk.throttled);
    json_end(j, '}');
    json_begin(j, "net", '{');
    json_int(j, "rx_packets_count", (long)c->net.rx_packets);
    json_int(j, "rx_bytes_count", (long)c->net.rx_bytes);
    json_int(j, "tx_packets_count", (long)c->net.tx_packets);
    json_int(j, "tx_bytes_count", (long)c->net.tx_bytes);
    json_int(j, "rx_rate_limiter_throttled", (long)c->net.rx_throttled);
    json_int(j, "tx_rate_limiter_throttled", (long)c->net.tx_throttled);
    json_end(j, '}');
    json_end(j, '}');
}

int api_metrics_line(struct api_vmm *v, char **line, size_t *len)
{
    struct timespec ts;
    struct metrics_arg m = {v, 0};
    struct api_reply r;

    clock_gettime(CLOCK_REALTIME, &ts);
    m.now_ms = (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
    size_t o = 0;

    reply_json(&r, 200, write_metrics, &m);
    if (r.status != 200)
        return -ENOMEM;
    /* One line: the writer's indentation out (a raw newline is only ever
     * layout: strings escape theirs), its final newline kept. */
    for (size_t i = 0; i < r.len; i++) {
        if (r.body[i] == '\n' && i + 1 < r.len) {
            while (i + 1 < r.len && r.body[i + 1] == ' ')
                i++;
            continue;
        }
        r.body[o++] = r.body[i];
    }
    v->counts = (struct api_counts){0};
    *line = r.body;
    *len = o;
    return 0;
}

/* ---- GET answers ---- */

static const char *const state_names[] = {
    [API_NOT_STARTED] = "Not started",
    [API_STARTING] = "Not started",
    [API_RUNNING] = "Running",
    [API_PAUSED] = "Paused",
};

static void write_info(struct json *j, const void *arg)
{
    const struct api_vmm *v = arg;

    json_begin(j, NULL, '{');
    json_str(j, "id", v->id);
    json_str(j, "state", state_names[v->state]);
    json_str(j, "vmm_version", v->version);
    json_str(j, "app_name", "vx86");
    json_end(j, '}');
}

static void write_version(struct json *j, const void *arg)
{
    (void)arg;
    json_begin(j, NULL, '{');
    json_str(j, "firecracker_version", API_FIRECRACKER_VERSION);
    json_end(j, '}');
}

static void write_vm_config(struct json *j, const void *arg)
{
    const struct api_vmm *v = arg;

    json_begin(j, NULL, '{');
    json_str(j, "balloon", NULL);
    write_drives(j, v);
    if (v->kernel) {
        json_begin(j, "boot-source", '{');
        json_str(j, "kernel_image_path", v->kernel);
        json_str(j, "initrd_path", v->initrd);
        json_str(j, "boot_args", v->boot_args);
        json_end(j, '}');
    } else {
        json_str(j, "boot-source", NULL);
    }
    json_str(j, "cpu-config", NULL);
    json_str(j, "logger", NULL);
    write_machine(j, v, "machine-config");
    json_str(j, "metrics", NULL);
    json_str(j, "mmds-config", NULL);
    write_nets(j, v);
    write_vsock(j, v);
    if (v->entropy) {
        json_begin(j, "entropy", '{');
        json_end(j, '}');
    } else {
        json_str(j, "entropy", NULL);
    }
    json_end(j, '}');
}

/* ---- actions ---- */

static void action(struct api_vmm *v, const struct json_doc *d, struct api_reply *r, char *msg)
{
    static const struct field fields[] = {{"action_type", JSON_STRING, true}};
    const char *type;
    int at[1];

    if (check_fields(d, 0, fields, 1, at, msg))
        return api_error_reply(r, msg);
    type = d->nodes[at[0]].str;
    if (!strcmp(type, "InstanceStart")) {
        if (v->state != API_NOT_STARTED)
            return api_error_reply(r, after_start);
        if (!v->kernel)
            return api_error_reply(r, "Cannot start microvm without kernel configuration.");
        *r = (struct api_reply){.action = API_START};
        v->state = API_STARTING;
        return;
    }
    if (!strcmp(type, "SendCtrlAltDel")) {
        if (v->state != API_RUNNING && v->state != API_PAUSED)
            return api_error_reply(r, before_start);
        *r = (struct api_reply){.action = API_CTRL_ALT_DEL};
        return;
    }
    if (!strcmp(type, "FlushMetrics")) {
        if (!v->metrics_path)
            return api_error_reply(r, "The metrics system was not initialized.");
        *r = (struct api_reply){.status = 204, .action = API_FLUSH_METRICS};
        return;
    }
    errorf(r,
           "unknown variant `%.64s`, expected one of `FlushMetrics`, `InstanceStart`, "
           "`SendCtrlAltDel`",
           type);
}

/* PATCH /vm: {"state": "Paused" | "Resumed"}, once the guest runs. */
static void vm_state(struct api_vmm *v, const char *text, size_t len, struct api_reply *r)
{
    static const struct field fields[] = {{"state", JSON_STRING, true}};
    const char *state;
    struct body b;
    int at[1];

    if (parse_body(&b, text, len))
        return api_error_reply(r, b.msg);
    if (check_fields(&b.doc, 0, fields, 1, at, b.msg)) {
        json_doc_free(&b.doc);
        return api_error_reply(r, b.msg);
    }
    state = b.doc.nodes[at[0]].str;
    if (!strcmp(state, "Paused") || !strcmp(state, "Resumed")) {
        *r = (struct api_reply){.action = state[0] == 'P' ? API_PAUSE : API_RESUME};
        if (v->state != API_RUNNING && v->state != API_PAUSED)
            api_error_reply(r, before_start);
    } else {
        errorf(r, "unknown variant `%.64s`, expected `Paused` or `Resumed`", state);
    }
    json_doc_free(&b.doc);
}

/* ---- routing ---- */

/* Endpoints of Firecracker's API that vx86 does not offer (docs/api.md). */
static const char *const unsupported[] = {
    "/balloon",
    "/balloon/statistics",
    "/balloon/hinting/start",
    "/balloon/hinting/status",
    "/balloon/hinting/stop",
    "/cpu-config",
    "/mmds",
    "/mmds/config",
    "/serial",
    "/hotplug/memory",
    "/snapshot/create",
    "/snapshot/load",
};

/* "/drives/ID": ID when path is prefix followed by one non-empty segment. */
static const char *path_id(const char *path, const char *prefix)
{
    size_t n = strlen(prefix);

    if (strncmp(path, prefix, n) || !path[n] || strchr(path + n, '/'))
        return NULL;
    return path + n;
}

enum body_kind {
    BODY_MACHINE_PUT,
    BODY_MACHINE_PATCH,
    BODY_BOOT,
    BODY_DRIVE,
    BODY_NET,
    BODY_VSOCK,
    BODY_LOGGER,
    BODY_METRICS,
    BODY_ENTROPY,
};

/* A pre-boot PUT or PATCH with a JSON body. */
static void configure(struct api_vmm *v, enum body_kind kind, const char *id, const char *text,
                      size_t len, struct api_reply *r)
{
    struct body b;
    int ret;

    if (v->state != API_NOT_STARTED)
        return api_error_reply(r, after_start);
    if (parse_body(&b, text, len))
        return api_error_reply(r, b.msg);
    switch (kind) {
    case BODY_MACHINE_PUT:
    case BODY_MACHINE_PATCH:
        ret = machine_config(v, &b.doc, 0, kind == BODY_MACHINE_PUT, b.msg);
        break;
    case BODY_BOOT:
        ret = boot_source(v, &b.doc, 0, b.msg);
        break;
    case BODY_DRIVE:
        ret = drive(v, &b.doc, 0, id, b.msg);
        break;
    case BODY_VSOCK:
        ret = vsock(v, &b.doc, 0, b.msg);
        break;
    case BODY_LOGGER:
        ret = logger(v, &b.doc, 0, b.msg);
        break;
    case BODY_METRICS:
        ret = metrics(v, &b.doc, 0, b.msg);
        break;
    case BODY_ENTROPY:
        ret = entropy(v, &b.doc, 0, b.msg);
        break;
    default:
        ret = net_iface(v, &b.doc, 0, id, b.msg);
        break;
    }
    json_doc_free(&b.doc);
    if (ret)
        return api_error_reply(r, b.msg);
    *r = (struct api_reply){.status = 204};
    if (kind == BODY_LOGGER)
        r->action = API_OPEN_LOGGER;
    else if (kind == BODY_METRICS)
        r->action = API_OPEN_METRICS;
}

static void route(struct api_vmm *v, const char *method, const char *path, const char *body,
                  size_t len, struct api_reply *r)
{
    bool get = !strcmp(method, "GET"), put = !strcmp(method, "PUT"),
         patch = !strcmp(method, "PATCH");
    const char *id;
    char msg[MSG_MAX];

    if (get && !strcmp(path, "/"))
        return reply_json(r, 200, write_info, v);
    if (get && !strcmp(path, "/version"))
        return reply_json(r, 200, write_version, NULL);
    if (get && !strcmp(path, "/machine-config"))
        return reply_json(r, 200, write_machine_reply, v);
    if (get && !strcmp(path, "/vm/config"))
        return reply_json(r, 200, write_vm_config, v);
    if ((put || patch) && !strcmp(path, "/machine-config"))
        return configure(v, put ? BODY_MACHINE_PUT : BODY_MACHINE_PATCH, NULL, body, len, r);
    if (put && !strcmp(path, "/boot-source"))
        return configure(v, BODY_BOOT, NULL, body, len, r);
    if (put && (id = path_id(path, "/drives/")))
        return configure(v, BODY_DRIVE, id, body, len, r);
    if (put && (id = path_id(path, "/network-interfaces/")))
        return configure(v, BODY_NET, id, body, len, r);
    if (put && !strcmp(path, "/vsock"))
        return configure(v, BODY_VSOCK, NULL, body, len, r);
    if (patch && !strcmp(path, "/vm"))
        return vm_state(v, body, len, r);
    if (put && !strcmp(path, "/entropy"))
        return configure(v, BODY_ENTROPY, NULL, body, len, r);
    if (put && !strcmp(path, "/logger"))
        return configure(v, BODY_LOGGER, NULL, body, len, r);
    if (put && !strcmp(path, "/metrics"))
        return configure(v, BODY_METRICS, NULL, body, len, r);
    if (put && !strcmp(path, "/actions")) {
        struct body b;

        if (parse_body(&b, body, len))
            return api_error_reply(r, b.msg);
        action(v, &b.doc, r, msg);
        json_doc_free(&b.doc);
        return;
    }
    if (patch && (id = path_id(path, "/drives/")))
        return drive_update(v, id, body, len, r);
    if (patch && (id = path_id(path, "/network-interfaces/")))
        return net_update(v, id, body, len, r);
    for (size_t i = 0; i < sizeof(unsupported) / sizeof(unsupported[0]); i++)
        if (!strcmp(path, unsupported[i]) || path_id(path, "/pmem/"))
            return errorf(r, "%.8s %.64s: not supported by vx86", method, path);
    errorf(r, "Invalid request method and/or path: %.8s %.128s.", method, path);
}

/* The counter of a request for the metrics, or NULL; *fails: its failure
 * counter (NULL for GETs). */
static uint64_t *counter_of(struct api_counts *c, const char *method, const char *path,
                            uint64_t **fails)
{
    static const struct {
        const char *method, *path;
        size_t count, fails; /* offsets in struct api_counts; fails 0: none */
        bool prefix;
    } map[] = {
#define C(f) offsetof(struct api_counts, f)
        {"GET", "/", C(get_info), 0, false},
        {"GET", "/machine-config", C(get_machine), 0, false},
        {"GET", "/vm/config", C(get_vm_config), 0, false},
        {"GET", "/version", C(get_version), 0, false},
        {"PUT", "/actions", C(put_actions), C(put_actions_fails), false},
        {"PUT", "/boot-source", C(put_boot), C(put_boot_fails), false},
        {"PUT", "/drives/", C(put_drive), C(put_drive_fails), true},
        {"PUT", "/logger", C(put_logger), C(put_logger_fails), false},
        {"PUT", "/machine-config", C(put_machine), C(put_machine_fails), false},
        {"PUT", "/metrics", C(put_metrics), C(put_metrics_fails), false},
        {"PUT", "/network-interfaces/", C(put_net), C(put_net_fails), true},
        {"PUT", "/vsock", C(put_vsock), C(put_vsock_fails), false},
        {"PATCH", "/machine-config", C(patch_machine), C(patch_machine_fails), false},
        {"PATCH", "/vm", C(patch_vm), C(patch_vm_fails), false},
        {"PATCH", "/drives/", C(patch_drive), C(patch_drive_fails), true},
        {"PATCH", "/network-interfaces/", C(patch_net), C(patch_net_fails), true},
#undef C
    };

    *fails = NULL;
    for (size_t i = 0; i < sizeof(map) / sizeof(map[0]); i++)
        if (!strcmp(method, map[i].method) &&
            (map[i].prefix ? !strncmp(path, map[i].path, strlen(map[i].path))
                           : !strcmp(path, map[i].path))) {
            *fails = map[i].fails ? (uint64_t *)((char *)c + map[i].fails) : NULL;
            return (uint64_t *)((char *)c + map[i].count);
        }
    return NULL;
}

void api_handle(struct api_vmm *v, const char *method, const char *path, const char *body,
                size_t len, struct api_reply *r)
{
    uint64_t *fails, *count = counter_of(&v->counts, method, path, &fails);

    route(v, method, path, body, len, r);
    if (count)
        (*count)++;
    if (fails && r->status == 400)
        (*fails)++;
}

void api_request_failed(struct api_vmm *v, const char *method, const char *path)
{
    uint64_t *fails;

    if (counter_of(&v->counts, method, path, &fails) && fails)
        (*fails)++;
}

/* ---- config file ---- */

int api_load_config(struct api_vmm *v, const char *text, size_t len, char *err, size_t errlen)
{
    /* Firecracker's other sections: accepted when null. */
    static const char *const other[] = {"balloon", "cpu-config",     "mmds-config",
                                        "pmem",    "memory-hotplug", "serial"};
    struct body b;
    const struct json_node *n;
    int ret = -EINVAL;

    if (parse_body(&b, text, len)) {
        snprintf(err, errlen, "%s", b.msg);
        return -EINVAL;
    }
    n = b.doc.nodes;
    if (n[0].type != JSON_OBJECT) {
        snprintf(err, errlen, "the config file must hold a JSON object");
        goto out;
    }
    for (int c = n[0].first; c >= 0; c = n[c].next) {
        const char *k = n[c].key;
        bool list = !strcmp(k, "drives") || !strcmp(k, "network-interfaces");
        bool own = !strcmp(k, "vsock") || !strcmp(k, "logger") || !strcmp(k, "metrics") ||
                   !strcmp(k, "entropy");

        if (list && n[c].type != JSON_ARRAY) {
            snprintf(err, errlen, "%s: must be an array", k);
            goto out;
        }
        if (own && n[c].type == JSON_NULL)
            continue;
        if (!strcmp(k, "boot-source"))
            ret = boot_source(v, &b.doc, c, b.msg);
        else if (!strcmp(k, "vsock"))
            ret = vsock(v, &b.doc, c, b.msg);
        else if (!strcmp(k, "logger"))
            ret = logger(v, &b.doc, c, b.msg);
        else if (!strcmp(k, "metrics"))
            ret = metrics(v, &b.doc, c, b.msg);
        else if (!strcmp(k, "entropy"))
            ret = entropy(v, &b.doc, c, b.msg);
        else if (!strcmp(k, "machine-config"))
            ret = machine_config(v, &b.doc, c, true, b.msg);
        else if (list)
            for (int e = n[c].first; e >= 0; e = n[e].next)
                if ((ret = k[0] == 'd' ? drive(v, &b.doc, e, NULL, b.msg)
                                       : net_iface(v, &b.doc, e, NULL, b.msg)))
                    break;
        if (list || own || !strcmp(k, "boot-source") || !strcmp(k, "machine-config")) {
            if (ret) {
                snprintf(err, errlen, "%s: %s", k, b.msg);
                goto out;
            }
            continue;
        }
        ret = -EINVAL;
        for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++)
            if (!strcmp(k, other[i]))
                ret = 0;
        if (ret) {
            snprintf(err, errlen, "unknown section `%s`", k);
            goto out;
        }
        if (n[c].type != JSON_NULL) {
            snprintf(err, errlen, "%s: not supported by vx86", k);
            ret = -EINVAL;
            goto out;
        }
    }
    ret = 0;
out:
    json_doc_free(&b.doc);
    return ret;
}

/* ---- the machine ---- */

int api_vmm_init(struct api_vmm *v, const struct vm_config *base, const char *id, uint64_t mem_mib,
                 uint64_t max_mib, const char *version)
{
    *v = (struct api_vmm){.base = *base,
                          .version = version,
                          .vcpus = base->cpus > API_MAX_VCPUS ? API_MAX_VCPUS : base->cpus,
                          .mem_mib = mem_mib,
                          .max_mib = max_mib};
    snprintf(v->id, sizeof(v->id), "%s", id ? id : "anonymous-instance");
    v->base.nr_disks = 0;
    v->base.net = (struct vm_net){0};
    v->base.vsock_cid = 0;
    v->base.vsock_uds = NULL;
    if (base->kernel && (set_str(&v->kernel, base->kernel) || set_str(&v->initrd, base->initrd) ||
                         set_str(&v->boot_args, base->cmdline))) {
        api_vmm_free(v);
        return -ENOMEM;
    }
    return 0;
}

void api_vmm_free(struct api_vmm *v)
{
    free(v->kernel);
    free(v->initrd);
    free(v->boot_args);
    for (int i = 0; i < v->nr_drives; i++) {
        free(v->drives[i].path);
        free(v->drives[i].partuuid);
    }
    free(v->net.host_dev);
    free(v->vsock.uds);
    free(v->logger.path);
    free(v->metrics_path);
    free(v->update.path);
    for (int i = 0; i < v->nr_retired; i++)
        free(v->retired[i]);
    free(v->retired);
    free(v->cmdline);
    *v = (struct api_vmm){0};
}

int api_vmm_build(struct api_vmm *v, struct vm_config *cfg, char *err, size_t errlen)
{
    const struct api_drive *root = NULL;
    char *line = NULL;
    size_t size = 0;
    FILE *f;

    if (!v->kernel) {
        snprintf(err, errlen, "Cannot start microvm without kernel configuration.");
        return -EINVAL;
    }
    *cfg = v->base;
    cfg->kernel = v->kernel;
    cfg->initrd = v->initrd;
    cfg->cpus = v->vcpus;
    cfg->mem_size = v->mem_mib << 20;
    /* Firecracker's order: the root device first, so that it is /dev/vda. */
    for (int i = 0; i < v->nr_drives; i++)
        if (v->drives[i].root)
            root = &v->drives[i];
    if (root)
        cfg->disks[cfg->nr_disks++] =
            (struct vm_disk){.path = root->path, .ro = root->ro, .rl = root->rl};
    for (int i = 0; i < v->nr_drives; i++)
        if (&v->drives[i] != root)
            cfg->disks[cfg->nr_disks++] = (struct vm_disk){
                .path = v->drives[i].path, .ro = v->drives[i].ro, .rl = v->drives[i].rl};
    if (v->net.id[0]) {
        cfg->net = (struct vm_net){.mode = NET_TAP,
                                   .ifname = v->net.host_dev,
                                   .mac = {0x52, 0x54, 0x00, 0x12, 0x34, 0x56},
                                   .rx_rl = v->net.rx_rl,
                                   .tx_rl = v->net.tx_rl};
        if (v->net.has_mac)
            memcpy(cfg->net.mac, v->net.mac, 6);
    }
    if (v->vsock.cid) {
        cfg->vsock_cid = v->vsock.cid;
        cfg->vsock_uds = v->vsock.uds;
    }
    /* Firecracker appends the root device to the kernel command line. */
    f = open_memstream(&line, &size);
    if (!f)
        goto nomem;
    fputs(v->boot_args ? v->boot_args : "", f);
    if (root) {
        fprintf(f, "%s", v->boot_args && v->boot_args[0] ? " " : "");
        if (root->partuuid)
            fprintf(f, "root=PARTUUID=%s", root->partuuid);
        else
            fputs("root=/dev/vda", f);
        fputs(root->ro ? " ro" : " rw", f);
    }
    if (fclose(f))
        goto nomem;
    free(v->cmdline);
    v->cmdline = line;
    cfg->cmdline = line;
    return 0;
nomem:
    free(line);
    snprintf(err, errlen, "out of memory");
    return -ENOMEM;
}
