/*
 * libFuzzer target: the API's request path without a socket and without a
 * VM. The first byte picks the mode: even, the rest is a stream of HTTP
 * requests (several per input, as one keep-alive connection sends them),
 * each parsed by http_parse, routed by api_handle and answered with
 * http_response; odd, the rest is a Firecracker config file for
 * api_load_config. An accepted InstanceStart builds the vm_config
 * (api_vmm_build) and then, by the byte's bit 1, "runs" (state Running, so
 * that later requests meet the post-boot rules) or fails (Not started).
 *
 * What would be a bug: a read or write outside the input or a reply
 * (ASan), an HTTP answer other than 200/204/400 for a parsed request, a 200
 * or 400 reply whose body is not a JSON object, a built configuration that
 * breaks vm_config's rules (no kernel, too many disks, a NULL command line),
 * or a leak (LeakSanitizer).
 */
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "machine/api/endpoints.h"
#include "machine/api/http.h"
#include "util/json_parse.h"

static void check(bool ok, const char *what)
{
    if (!ok) {
        fprintf(stderr, "fuzz_api: %s\n", what);
        abort();
    }
}

static void check_reply(const struct api_reply *r)
{
    struct json_doc doc;
    char err[160];
    char out[512];

    check(r->status == 200 || r->status == 204 || r->status == 400, "unexpected status");
    check((r->status == 204) == !r->body, "a 204 with a body, or another without");
    if (r->body) {
        check(!json_parse(r->body, r->len, &doc, err, sizeof(err)), "a reply that is not JSON");
        check(doc.nodes[0].type == JSON_OBJECT, "a reply that is not a JSON object");
        check(r->status != 400 || json_member(&doc, 0, "fault_message") >= 0,
              "a 400 without fault_message");
        json_doc_free(&doc);
    }
    check(http_response(out, sizeof(out), r->status, r->body, r->len, true) != 0,
          "an empty response");
}

static void start(struct api_vmm *v, bool runs)
{
    struct vm_config cfg;
    char err[320];

    if (api_vmm_build(v, &cfg, err, sizeof(err))) {
        v->state = API_NOT_STARTED;
        return;
    }
    check(cfg.kernel && cfg.cmdline && cfg.nr_disks <= VM_MAX_DISKS, "a bad vm_config");
    check(cfg.cpus >= 1 && cfg.cpus <= API_MAX_VCPUS, "a bad vCPU count");
    check(cfg.mem_size >= MEM_MIN_SIZE, "too little memory");
    v->state = runs ? API_RUNNING : API_NOT_STARTED;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    struct vm_config base = {.cmdline = "", .serial = "stdio", .cpus = 1, .mem_size = 256 << 20};
    const char *buf = (const char *)data + 1;
    struct api_vmm v;
    char err[320];

    if (!size)
        return 0;
    check(!api_vmm_init(&v, &base, NULL, 128, 4096, "0"), "api_vmm_init");
    if (data[0] & 1) {
        if (!api_load_config(&v, buf, size - 1, err, sizeof(err)))
            start(&v, data[0] & 2);
        api_vmm_free(&v);
        return 0;
    }
    for (size_t left = size - 1; left;) {
        struct http_request req;
        struct api_reply r;
        int ret = http_parse(buf, left, &req);

        if (ret) {
            check(ret == -EAGAIN || (req.status >= 400 && req.status < 600 && req.error),
                  "a parse error without its status");
            break;
        }
        check(req.size && req.size <= left && req.body_len <= HTTP_MAX_BODY, "a bad request size");
        api_handle(&v, req.method, req.path, req.body, req.body_len, &r);
        if (r.action == API_START) {
            check(v.state == API_STARTING, "InstanceStart accepted, yet not starting");
            start(&v, data[0] & 2);
        } else if (r.action == API_CTRL_ALT_DEL || r.action == API_PAUSE ||
                   r.action == API_RESUME) {
            /* The server's to carry out on the machine: none here. */
            check(v.state == API_RUNNING, "an action on the machine accepted before it runs");
        } else if (r.action == API_UPDATE_DRIVE) {
            check(v.state == API_RUNNING && (v.update.path || v.update.has_rl),
                  "a drive update without an image or a rate limiter");
            check(!api_drive_updated(&v, data[0] & 4), "a drive update lost");
        } else if (r.action == API_UPDATE_NET) {
            check(v.state == API_RUNNING && v.net.id[0], "a NIC update without a running NIC");
            api_net_updated(&v);
        } else if (r.action == API_FLUSH_METRICS) {
            char *line;
            size_t n;

            check(v.metrics_path != NULL, "FlushMetrics accepted without metrics");
            check(!api_metrics_line(&v, &line, &n) && n && line[n - 1] == '\n' &&
                      !memchr(line, '\n', n - 1),
                  "a metrics line that is not one line");
            free(line);
        } else {
            /* PUT /logger and /metrics name files the server opens: none
             * is opened here. */
            check_reply(&r);
            api_reply_free(&r);
        }
        buf += req.size;
        left -= req.size;
    }
    api_vmm_free(&v);
    return 0;
}
