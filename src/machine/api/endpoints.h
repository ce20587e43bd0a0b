/*
 * The endpoints of the Firecracker-compatible API (docs/api.md): the
 * configuration a control plane builds up before InstanceStart, each
 * request's validation and answer, and the struct vm_config the machine is
 * then built from. Pure: no sockets and no VM here, so that the fuzz target
 * drives every handler; the server (api.h) owns the one struct api_vmm and
 * calls these from its thread only, and the Firecracker config file goes
 * through the same handlers.
 *
 * Bodies are checked as Firecracker's serde structs with deny_unknown_fields
 * check them: an unknown or repeated field, a missing required one or a
 * value of the wrong type is a 400 naming it. Every answer is 204 without a
 * body, 200 with JSON, or 400 with {"fault_message": "..."}.
 */
#ifndef VX86_MACHINE_API_ENDPOINTS_H
#define VX86_MACHINE_API_ENDPOINTS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/token_bucket.h"
#include "virtio/devices.h"
#include "vm/vm.h"

/* The Firecracker release whose API this one follows (GET /version, vx86
 * --version). */
#define API_FIRECRACKER_VERSION "1.10.0"
#define API_MAX_ID              64
#define API_MAX_VCPUS           32 /* Firecracker's limit, below VM_MAX_CPUS */

enum api_state { API_NOT_STARTED, API_STARTING, API_RUNNING, API_PAUSED };

struct api_drive {
    char id[API_MAX_ID + 1];
    char *path, *partuuid; /* partuuid NULL: none */
    bool root, ro;
    bool writeback; /* cache_type "Writeback" (kept for GET; vx86 flushes either way) */
    bool async;     /* io_engine "Async" (kept for GET; vx86's I/O thread serves both) */
    struct rate_limiter_cfg rl; /* zero: none */
};

struct api_net {
    char id[API_MAX_ID + 1]; /* "" while there is none */
    char *host_dev;
    bool has_mac;
    uint8_t mac[6];
    struct rate_limiter_cfg rx_rl, tx_rl; /* zero: none */
};

struct api_vsock {
    uint32_t cid; /* 0: none */
    char *uds;
    char id[API_MAX_ID + 1]; /* vsock_id, "" when not given */
};

/* PUT /logger and PUT /metrics: recorded here, opened by the server. */
struct api_logger {
    char *path; /* NULL: not configured */
    int level;  /* enum log_level */
    bool show_level, show_origin;
};

/* Requests served since the last metrics line (Firecracker's counters are
 * deltas). */
struct api_counts {
    uint64_t get_info, get_machine, get_vm_config, get_version;
    uint64_t put_actions, put_actions_fails, put_boot, put_boot_fails, put_drive, put_drive_fails,
        put_logger, put_logger_fails, put_machine, put_machine_fails, put_metrics,
        put_metrics_fails, put_net, put_net_fails, put_vsock, put_vsock_fails;
    uint64_t patch_machine, patch_machine_fails, patch_vm, patch_vm_fails, patch_drive,
        patch_drive_fails, patch_net, patch_net_fails;
    /* The devices' (api.c's count_devices), all disks and NICs together. */
    struct virtio_blk_metrics blk;
    struct virtio_net_metrics net;
};

struct api_vmm {
    struct vm_config base; /* the command line's: what the API does not set */
    char id[API_MAX_ID + 1];
    const char *version; /* vx86's own, for GET / */
    enum api_state state;
    int vcpus;
    uint64_t mem_mib, max_mib;
    bool track_dirty_pages;
    char *kernel, *initrd, *boot_args; /* kernel NULL: no boot source yet */
    struct api_drive drives[VM_MAX_DISKS];
    int nr_drives;
    struct api_net net;
    struct api_vsock vsock;
    struct api_logger logger;
    char *metrics_path; /* NULL: not configured */
    bool metrics_emit_id;
    bool entropy; /* PUT /entropy came (the virtio-rng is there either way) */
    struct api_counts counts;
    /* PATCH /drives accepted: the disk (by the machine's order: root
     * first), its new image (NULL: the same) and its rate limiter (has_rl:
     * a new one), for the server to put in place. */
    struct {
        int disk, drive;
        char *path;
        bool has_rl;
        struct rate_limiter_cfg rl;
    } update;
    /* PATCH /network-interfaces accepted: the NIC's new rate limiters. */
    struct rate_limiter_cfg update_rx_rl, update_tx_rl;
    char **retired; /* images swapped out: a restarted machine's config may name them */
    int nr_retired;
    char *cmdline; /* built by api_vmm_build */
};

/* What a request needs next. */
enum api_action {
    API_REPLY,
    API_START,         /* InstanceStart was accepted; no answer yet */
    API_CTRL_ALT_DEL,  /* the running machine's keyboard; answer 204 or 400 after */
    API_OPEN_LOGGER,   /* open v->logger.path; answer 204 or 400 after */
    API_OPEN_METRICS,  /* open v->metrics_path; answer 204 or 400 after */
    API_FLUSH_METRICS, /* write a metrics line; answer 204 or 400 after */
    API_PAUSE,         /* pause the running machine's vCPUs; answer after */
    API_UPDATE_DRIVE,  /* swap v->update's disk's image; answer after */
    API_RESUME,        /* resume them; answer after */
    API_UPDATE_NET,    /* set the NIC's rate limiters to v->update_*_rl; answer after */
};

struct api_reply {
    int status; /* 200, 204 or 400 */
    char *body; /* malloc'd JSON (NULL for 204); api_reply_free */
    size_t len;
    enum api_action action;
};

/*
 * Starts from the command line's configuration base: its engine, console,
 * transport and CPU model hold for the machine; its kernel, initrd and
 * command line (if --kernel was given) are the initial boot source, its
 * cpus the initial vcpu_count; it has no disks, no NIC and no vsock (those come
 * through the API). mem_mib: the initial memory size; id: the instance id
 * (NULL: "anonymous-instance", as Firecracker's); max_mib: the host's
 * memory; version: vx86's. Returns 0 or -ENOMEM.
 */
int api_vmm_init(struct api_vmm *v, const struct vm_config *base, const char *id, uint64_t mem_mib,
                 uint64_t max_mib, const char *version);

void api_vmm_free(struct api_vmm *v);

/*
 * Answers one request. path is the request's path (no query). With action
 * API_START (InstanceStart accepted; state is now API_STARTING) the caller
 * builds the machine (api_vmm_build, then the run path) and answers once it
 * runs (204) or could not be built (api_error_reply; state back to
 * API_NOT_STARTED).
 */
void api_handle(struct api_vmm *v, const char *method, const char *path, const char *body,
                size_t len, struct api_reply *r);

/* Counts a request answered with an error later than api_handle (an
 * action the server carried out), for the metrics. */
void api_request_failed(struct api_vmm *v, const char *method, const char *path);

/* After API_UPDATE_DRIVE: the swap done (ok: v->update's image and rate
 * limiter are now the drive's) or refused. Returns -ENOMEM only. */
int api_drive_updated(struct api_vmm *v, bool ok);

/* After API_UPDATE_NET, done: v->update_*_rl are now the NIC's. */
void api_net_updated(struct api_vmm *v);

/* A 400 reply with {"fault_message": msg}. */
void api_error_reply(struct api_reply *r, const char *msg);

/*
 * One line of Firecracker-shaped metrics (JSON, newline-terminated) into
 * *line (malloc'd) for PUT /metrics' file: utc_timestamp_ms, the id when
 * metrics_emit_id, the API's request counters and the devices' rate
 * limiter counters since the last line (which it resets). Returns 0 or
 * -ENOMEM.
 */
int api_metrics_line(struct api_vmm *v, char **line, size_t *len);

void api_reply_free(struct api_reply *r);

/*
 * Applies a Firecracker config file (JSON: "boot-source", "drives",
 * "machine-config", "network-interfaces"; the other sections must be absent
 * or null) through the endpoints' handlers. Returns 0, or -EINVAL with err
 * saying which section and why.
 */
int api_load_config(struct api_vmm *v, const char *text, size_t len, char *err, size_t errlen);

/*
 * Turns the accumulated configuration into *cfg for InstanceStart: the
 * pointers in *cfg point into v (and base), valid until v changes. Returns 0,
 * or -EINVAL with err saying why (no boot source). Does not change state.
 */
int api_vmm_build(struct api_vmm *v, struct vm_config *cfg, char *err, size_t errlen);

#endif
