#include "machine/api/api.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>

#include "hw/pc.h"
#include "machine/api/http.h"
#include "util/log.h"
#include "util/loop.h"
#include "virtio/devices.h"
#include "vm/vm.h"

#define IN_CAP (HTTP_MAX_HEAD + HTTP_MAX_BODY)

struct api_server;

struct conn {
    struct api_server *s;
    struct loop_watch w; /* added while the connection waits for an event */
    int fd;              /* -1: a free slot */
    char *in;            /* IN_CAP bytes */
    size_t in_len;
    char *out; /* the answer being sent; NULL when none */
    size_t out_len, out_off;
    bool eof;            /* the client closed its end: answer what came, then close */
    bool close_after;    /* close once out is sent */
    bool continue_sent;  /* 100 Continue went out for the request at the head of in */
    bool waiting;        /* its InstanceStart waits for api_server_started */
    bool waiting_keep;   /* that request's keep-alive */
    size_t waiting_size; /* that request's length in in */
};

struct api_server {
    char path[sizeof(((struct sockaddr_un *)0)->sun_path)];
    struct loop *loop;
    int listen_fd;
    struct loop_watch listen_w;
    struct api_vmm *v;
    struct conn conns[API_MAX_CONNS];

    bool start_pending; /* InstanceStart accepted; cfg is for api_server_wait_start */
    struct vm_config cfg;
    struct vm *vm; /* the running machine, or NULL */

    int metrics_fd; /* PUT /metrics' file, or -1 */
    struct loop_timer metrics_timer;
};

/* Firecracker writes a metrics line every minute, and on FlushMetrics. */
#define METRICS_PERIOD_NS 60000000000LL

/* A file or named pipe for lines of log or metrics, appended to. Not
 * blocking: a pipe nobody reads loses lines rather than stall vx86 (and
 * one nobody has open is refused, ENXIO). */
static int open_output(const char *what, const char *path, char *err, size_t len)
{
    int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_NONBLOCK | O_CLOEXEC, 0600);

    if (fd < 0) {
        fd = -errno;
        snprintf(err, len, "%s %s: %s", what, path, strerror(-fd));
    }
    return fd;
}

int api_open_logger(struct api_vmm *v, char *err, size_t len)
{
    int fd = open_output("log_path", v->logger.path, err, len);

    if (fd < 0) {
        free(v->logger.path);
        v->logger.path = NULL;
        return fd;
    }
    log_set_file(fd, v->id, (enum log_level)v->logger.level, v->logger.show_level);
    log_note("Running vx86 %s with Firecracker v%s's API", v->version, API_FIRECRACKER_VERSION);
    return 0;
}

int api_open_metrics(struct api_vmm *v, char *err, size_t len)
{
    int fd = open_output("metrics_path", v->metrics_path, err, len);

    if (fd < 0) {
        free(v->metrics_path);
        v->metrics_path = NULL;
    }
    return fd;
}

int api_write_metrics(struct api_vmm *v, int fd)
{
    char *line;
    size_t n;
    ssize_t w;

    if (api_metrics_line(v, &line, &n))
        return -ENOMEM;
    w = write(fd, line, n);
    free(line);
    return w == (ssize_t)n ? 0 : w < 0 ? -errno : -EAGAIN;
}

static void conn_close(struct conn *c)
{
    struct api_server *s = c->s;

    loop_watch_del(&c->w);
    close(c->fd);
    free(c->in);
    free(c->out);
    *c = (struct conn){.s = s, .fd = -1};
}

/* Queues an answer; the connection reads no more requests until it is sent. */
static void respond(struct conn *c, int status, const char *body, size_t len, bool keep)
{
    size_t cap = len + 256;
    int n;

    c->out = malloc(cap);
    if (!c->out || (n = http_response(c->out, cap, status, body, len, keep)) < 0) {
        free(c->out);
        c->out = NULL;
        c->close_after = true;
        return;
    }
    c->out_len = (size_t)n;
    c->out_off = 0;
    if (!keep)
        c->close_after = true;
}

static void respond_reply(struct conn *c, struct api_reply *r, bool keep)
{
    respond(c, r->status, r->body, r->len, keep);
    api_reply_free(r);
}

static void consume(struct conn *c, size_t n)
{
    memmove(c->in, c->in + n, c->in_len - n);
    c->in_len -= n;
    c->continue_sent = false;
}

/* Hands an accepted InstanceStart to the main thread. */
static void start(struct api_server *s, struct conn *c, const struct http_request *req)
{
    struct api_reply r;
    struct vm_config cfg;
    char err[320];

    if (api_vmm_build(s->v, &cfg, err, sizeof(err))) {
        s->v->state = API_NOT_STARTED;
        api_error_reply(&r, err);
        respond_reply(c, &r, req->keep_alive);
        consume(c, req->size);
        return;
    }
    c->waiting = true;
    c->waiting_keep = req->keep_alive;
    c->waiting_size = req->size;
    s->cfg = cfg;
    s->start_pending = true;
    /* api_server_wait_start's loop_run returns: the machine is built. */
    loop_quit(s->loop);
}

/* PATCH /drives/{id}: the new image behind the machine's disk, its new
 * rate limiter, or both. */
static void drive_update(struct api_server *s, struct api_reply *r)
{
    struct virtio_dev *d = NULL;
    int err = -ENODEV;

    if (s->vm)
        for (int i = 0, k = 0; i < s->vm->nr_virtio && !d; i++)
            if (virtio_is_blk(s->vm->virtio[i]) && k++ == s->v->update.disk)
                d = s->vm->virtio[i];
    if (d)
        err = s->v->update.path ? virtio_blk_update(d, s->v->update.path) : 0;
    if (!err && s->v->update.has_rl)
        virtio_blk_set_rate_limiter(d, &s->v->update.rl);
    if (api_drive_updated(s->v, !err) || err) {
        api_request_failed(s->v, "PATCH", "/drives/");
        return api_error_reply(r, err == -ENODEV ? "the machine is between boots"
                                  : err          ? log_last_error()
                                                 : "out of memory");
    }
    *r = (struct api_reply){.status = 204};
}

/* PATCH /network-interfaces/{id}: the NIC's new rate limiters. */
static void net_update(struct api_server *s, struct api_reply *r)
{
    struct virtio_dev *d = NULL;

    if (s->vm)
        for (int i = 0; i < s->vm->nr_virtio && !d; i++)
            if (virtio_is_net(s->vm->virtio[i]))
                d = s->vm->virtio[i];
    if (d)
        virtio_net_set_rate_limiters(d, &s->v->update_rx_rl, &s->v->update_tx_rl);
    if (!d) {
        api_request_failed(s->v, "PATCH", "/network-interfaces/");
        return api_error_reply(r, "the machine is between boots");
    }
    api_net_updated(s->v);
    *r = (struct api_reply){.status = 204};
}

/* Adds the running machine's device counters to the metrics. */
static void count_devices(struct api_server *s)
{
    struct api_counts *c = &s->v->counts;

    for (int i = 0; s->vm && i < s->vm->nr_virtio; i++) {
        struct virtio_dev *d = s->vm->virtio[i];

        if (virtio_is_blk(d))
            virtio_blk_take_metrics(d, &c->blk);
        else if (virtio_is_net(d))
            virtio_net_take_metrics(d, &c->net);
    }
}

/* PATCH /vm: pauses or resumes the machine's vCPUs (the loop waits for
 * them to park, a few microseconds to a pass of the block loop). */
static void pause_resume(struct api_server *s, struct api_reply *r)
{
    int err = -ENODEV;

    if (s->vm) {
        if (r->action == API_PAUSE) {
            err = vm_pause(s->vm);
        } else {
            vm_resume(s->vm);
            err = 0;
        }
    }
    if (err) {
        api_request_failed(s->v, "PATCH", "/vm");
        return api_error_reply(r, err == -ENODEV ? "the machine is between boots"
                                                 : "the machine stopped");
    }
    s->v->state = r->action == API_PAUSE ? API_PAUSED : API_RUNNING;
    *r = (struct api_reply){.status = 204};
}

/* PUT /logger, PUT /metrics and FlushMetrics, which api_handle accepted:
 * the files, which the configuration only names. */
static void outputs(struct api_server *s, struct api_reply *r)
{
    char err[320];

    switch (r->action) {
    case API_OPEN_LOGGER:
        if (api_open_logger(s->v, err, sizeof(err))) {
            api_request_failed(s->v, "PUT", "/logger");
            return api_error_reply(r, err);
        }
        break;
    case API_OPEN_METRICS:
        if ((s->metrics_fd = api_open_metrics(s->v, err, sizeof(err))) < 0) {
            api_request_failed(s->v, "PUT", "/metrics");
            return api_error_reply(r, err);
        }
        loop_timer_arm(&s->metrics_timer, METRICS_PERIOD_NS, METRICS_PERIOD_NS);
        break;
    default: /* API_FLUSH_METRICS */
        count_devices(s);
        if (s->metrics_fd < 0 || api_write_metrics(s->v, s->metrics_fd)) {
            api_request_failed(s->v, "PUT", "/actions");
            return api_error_reply(r, "FlushMetrics: the metrics file takes no more lines");
        }
        break;
    }
}

/* SendCtrlAltDel: the keys on the running machine's keyboard. */
static void ctrl_alt_del(struct api_server *s, struct api_reply *r)
{
    int err = -ENODEV;

    if (s->vm)
        err = i8042_ctrl_alt_del(&s->vm->pc->i8042);
    if (err)
        api_request_failed(s->v, "PUT", "/actions");
    if (err == -ENODEV)
        return api_error_reply(r, "SendCtrlAltDel: the machine is between boots");
    if (err)
        return api_error_reply(r, "SendCtrlAltDel: the guest's keyboard does not take keys "
                                  "(scanning is off, or earlier keys are still unread)");
    *r = (struct api_reply){.status = 204};
}

/* Answers the requests complete in c->in, one at a time. */
static void process(struct api_server *s, struct conn *c)
{
    while (!c->out && !c->waiting && !c->close_after) {
        struct http_request req;
        struct api_reply r;
        int ret = http_parse(c->in, c->in_len, &req);

        if (ret == -EAGAIN) {
            if (c->eof && c->in_len) /* cut short: there is nothing to answer */
                c->close_after = true;
            else if (req.head_done && req.expect_continue && !c->continue_sent) {
                static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";

                c->out = malloc(sizeof(cont));
                if (c->out) {
                    memcpy(c->out, cont, sizeof(cont) - 1);
                    c->out_len = sizeof(cont) - 1;
                    c->out_off = 0;
                }
                c->continue_sent = true;
            }
            return;
        }
        if (ret) {
            api_error_reply(&r, req.error);
            r.status = req.status;
            respond_reply(c, &r, false);
            return;
        }
        api_handle(s->v, req.method, req.path, req.body, req.body_len, &r);
        if (r.action == API_START) {
            start(s, c, &req);
            continue;
        }
        if (r.action == API_CTRL_ALT_DEL)
            ctrl_alt_del(s, &r);
        else if (r.action == API_PAUSE || r.action == API_RESUME)
            pause_resume(s, &r);
        else if (r.action == API_UPDATE_DRIVE)
            drive_update(s, &r);
        else if (r.action == API_UPDATE_NET)
            net_update(s, &r);
        else if (r.action != API_REPLY)
            outputs(s, &r);
        respond_reply(c, &r, req.keep_alive);
        consume(c, req.size);
    }
}

static void conn_event(void *opaque, uint32_t events);

/*
 * Closes c if it is done, else has the loop wait for what it waits for: its
 * answer to go out, or more of its request. A connection that waits for
 * neither (its InstanceStart is being built) leaves the loop, whose
 * hang-ups would otherwise call it again and again.
 */
static void conn_update(struct conn *c)
{
    uint32_t ev = c->out ? EPOLLOUT : 0;

    if (!c->out && (c->close_after || (c->eof && !c->waiting))) {
        conn_close(c);
        return;
    }
    if (!c->eof && c->in_len < IN_CAP && !c->out)
        ev |= EPOLLIN;
    if (!ev) {
        loop_watch_del(&c->w);
        return;
    }
    if (c->w.added ? loop_watch_set(&c->w, ev)
                   : loop_watch_add(c->s->loop, &c->w, c->fd, ev, conn_event, c))
        conn_close(c);
}

static void conn_read(struct api_server *s, struct conn *c)
{
    ssize_t n = recv(c->fd, c->in + c->in_len, IN_CAP - c->in_len, 0);

    if (n > 0)
        c->in_len += (size_t)n;
    else if (n == 0 || (errno != EAGAIN && errno != EINTR))
        c->eof = true;
    process(s, c);
}

static void conn_write(struct api_server *s, struct conn *c)
{
    ssize_t n = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);

    if (n < 0) {
        if (errno != EAGAIN && errno != EINTR)
            conn_close(c);
        return;
    }
    c->out_off += (size_t)n;
    if (c->out_off < c->out_len)
        return;
    free(c->out);
    c->out = NULL;
    process(s, c);
}

static void conn_event(void *opaque, uint32_t events)
{
    struct conn *c = opaque;

    if (events & EPOLLERR) {
        conn_close(c);
        return;
    }
    if (events & EPOLLOUT)
        conn_write(c->s, c);
    else if (events & (EPOLLIN | EPOLLHUP))
        conn_read(c->s, c);
    if (c->fd >= 0)
        conn_update(c);
}

static void accept_all(void *opaque, uint32_t events)
{
    struct api_server *s = opaque;

    (void)events;
    for (;;) {
        int fd = accept4(s->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC), i;

        if (fd < 0)
            return;
        for (i = 0; i < API_MAX_CONNS && s->conns[i].fd >= 0; i++)
            ;
        if (i == API_MAX_CONNS || !(s->conns[i].in = malloc(IN_CAP))) {
            close(fd);
            continue;
        }
        s->conns[i].fd = fd;
        conn_update(&s->conns[i]);
    }
}

static void metrics_due(void *opaque, uint32_t events)
{
    struct api_server *s = opaque;

    (void)events;
    if (s->metrics_fd < 0)
        return;
    count_devices(s);
    if (api_write_metrics(s->v, s->metrics_fd))
        log_note("metrics_path: a line was lost");
}

/* The socket at path, served on s->loop. 0 or -errno after one line. */
static int listen_on(struct api_server *s, const char *path, struct sockaddr_un *addr)
{
    int ret;

    strcpy(s->path, path);
    strcpy(addr->sun_path, path);
    s->listen_fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (s->listen_fd < 0) {
        ret = -errno;
        log_err("--api-sock %s: socket: %s", path, strerror(errno));
        return ret;
    }
    if (bind(s->listen_fd, (struct sockaddr *)addr, sizeof(*addr)) < 0) {
        ret = -errno;
        log_err("--api-sock %s: %s%s", path, strerror(errno),
                errno == EADDRINUSE ? " (remove the old socket first)" : "");
        goto out_close;
    }
    if (listen(s->listen_fd, 16) < 0) {
        ret = -errno;
        log_err("--api-sock %s: %s", path, strerror(errno));
        goto out_unlink;
    }
    if ((ret = loop_watch_add(s->loop, &s->listen_w, s->listen_fd, EPOLLIN, accept_all, s))) {
        log_err("--api-sock %s: cannot serve it: %s", path, strerror(-ret));
        goto out_unlink;
    }
    return 0;
out_unlink:
    unlink(path);
out_close:
    close(s->listen_fd);
    s->listen_fd = -1;
    return ret;
}

static void unlisten(struct api_server *s)
{
    if (s->listen_fd < 0)
        return;
    loop_watch_del(&s->listen_w);
    close(s->listen_fd);
    unlink(s->path);
    s->listen_fd = -1;
}

int api_server_start(struct api_server **out, const char *path, struct api_vmm *v,
                     struct loop *loop)
{
    struct sockaddr_un addr = {.sun_family = AF_UNIX};
    struct api_server *s;
    char err[320];
    int ret;

    if (path && strlen(path) >= sizeof(addr.sun_path)) {
        log_err("--api-sock %s: a socket path has at most %zu characters", path,
                sizeof(addr.sun_path) - 1);
        return -ENAMETOOLONG;
    }
    s = calloc(1, sizeof(*s));
    if (!s) {
        log_err("out of memory");
        return -ENOMEM;
    }
    s->v = v;
    s->loop = loop;
    s->metrics_fd = -1;
    s->listen_fd = -1;
    for (int i = 0; i < API_MAX_CONNS; i++)
        s->conns[i] = (struct conn){.s = s, .fd = -1};
    if ((ret = loop_timer_add(loop, &s->metrics_timer, metrics_due, s))) {
        log_err("metrics: no timer: %s", strerror(-ret));
        goto out_free;
    }
    if (path && (ret = listen_on(s, path, &addr)))
        goto out_timer;
    /* The logger and metrics of the command line or a config file. */
    if ((v->logger.path && api_open_logger(v, err, sizeof(err))) ||
        (v->metrics_path && (s->metrics_fd = api_open_metrics(v, err, sizeof(err))) < 0)) {
        ret = -EINVAL;
        log_err("%s", err);
        goto out_listen;
    }
    if (s->metrics_fd >= 0)
        loop_timer_arm(&s->metrics_timer, METRICS_PERIOD_NS, METRICS_PERIOD_NS);
    *out = s;
    return 0;
out_listen:
    unlisten(s);
out_timer:
    loop_timer_del(&s->metrics_timer);
out_free:
    free(s);
    return ret;
}

int api_server_wait_start(struct api_server *s, struct vm_config *cfg)
{
    int err = loop_run(s->loop);

    if (err) {
        log_err("--api-sock: the event loop failed: %s", strerror(-err));
        return -EIO;
    }
    if (!s->start_pending)
        return -EINTR;
    *cfg = s->cfg;
    s->start_pending = false;
    return 0;
}

void api_server_started(struct api_server *s, int err, const char *msg)
{
    struct api_reply r = {.status = 204};
    struct conn *c = NULL;

    if (err) {
        api_error_reply(&r, msg && *msg ? msg
                                        : "the machine could not be built (vx86's standard "
                                          "error says why)");
        api_request_failed(s->v, "PUT", "/actions");
    }
    s->v->state = err ? API_NOT_STARTED : API_RUNNING;
    for (int i = 0; i < API_MAX_CONNS; i++)
        if (s->conns[i].fd >= 0 && s->conns[i].waiting)
            c = &s->conns[i];
    if (!c) { /* the client left, or --config-file started the guest */
        api_reply_free(&r);
        return;
    }
    c->waiting = false;
    respond_reply(c, &r, c->waiting_keep);
    consume(c, c->waiting_size);
    conn_update(c);
}

void api_server_set_machine(struct api_server *s, struct vm *vm)
{
    /* The machine's counters since the last metrics line stay for the
     * next one. */
    if (!vm)
        count_devices(s);
    s->vm = vm;
    /* A new boot runs until paused again. */
    if (vm && s->v->state == API_PAUSED)
        s->v->state = API_RUNNING;
}

void api_server_stop(struct api_server *s)
{
    if (!s)
        return;
    for (int i = 0; i < API_MAX_CONNS; i++)
        if (s->conns[i].fd >= 0)
            conn_close(&s->conns[i]);
    unlisten(s);
    loop_timer_del(&s->metrics_timer);
    /* A last line, as Firecracker writes at its exit. */
    if (s->metrics_fd >= 0) {
        count_devices(s);
        if (api_write_metrics(s->v, s->metrics_fd))
            log_note("metrics_path: a line was lost");
        close(s->metrics_fd);
    }
    free(s);
}
