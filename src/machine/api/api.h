/*
 * The API socket (--api-sock): a Unix stream socket speaking HTTP/1.1
 * (http.h) with Firecracker's endpoints (endpoints.h, docs/api.md).
 *
 * Threads: the main thread's event loop (util/loop.h) serves every
 * connection, non-blocking; a client that sends slowly, stops half-way,
 * never reads its answers or half-closes its end holds only its own
 * connection (at most API_MAX_CONNS at once; more are closed at once).
 * Every function here is the main thread's. Before a guest runs,
 * api_server_wait_start runs the loop until a client's InstanceStart is
 * accepted; the main thread then builds and starts the machine and reports
 * with api_server_started, which answers that request; while the guest
 * runs, the machine's loop (vm_run) serves the API too. The server owns the
 * struct api_vmm given to api_server_start; the periodic metrics line is a
 * timer on the loop.
 */
#ifndef VX86_MACHINE_API_API_H
#define VX86_MACHINE_API_API_H

#include "machine/api/endpoints.h"

#define API_MAX_CONNS 16

struct api_server;

/*
 * Creates the socket at path (which must not exist: a stale socket is the
 * caller's to remove, as with Firecracker) and serves it on loop; owns v
 * from now on. path NULL (--no-api): no socket, only v's logger and
 * metrics, whose line goes out every minute as with one. Returns 0 or
 * -errno after printing one line.
 */
struct loop;
int api_server_start(struct api_server **out, const char *path, struct api_vmm *v,
                     struct loop *loop);

/*
 * Runs the loop until a client's InstanceStart was accepted and fills *cfg
 * (api_vmm_build's; valid until api_server_started). Returns 0, -EINTR if
 * something else quit the loop first (the main thread's signal watch,
 * SIGTERM, SIGINT or SIGHUP), or -EIO if the loop failed (one line said
 * why).
 */
int api_server_wait_start(struct api_server *s, struct vm_config *cfg);

/*
 * Once per accepted InstanceStart (and for --config-file with state
 * API_STARTING): err 0, the guest runs (state Running, 204); else it
 * could not be built, msg says why (400; the configuration can be changed
 * and InstanceStart sent again).
 */
void api_server_started(struct api_server *s, int err, const char *msg);

/*
 * The running machine, for actions on it (SendCtrlAltDel
 * presses Ctrl-Alt-Del on its i8042; PATCH /vm pauses and resumes its
 * vCPUs), or NULL before the machine is destroyed (a reset builds a new
 * one, which starts running, whatever the old one's state).
 */
struct vm;
void api_server_set_machine(struct api_server *s, struct vm *vm);

/*
 * The files PUT /logger and PUT /metrics (or a config file) named, for the
 * API server or, without one (--no-api), main. api_open_logger
 * makes util/log.h's log file of the logger's; api_open_metrics returns
 * the metrics file's fd; both -errno with err saying why (and the path
 * forgotten, so that another request may name one). api_write_metrics
 * writes one line (api_metrics_line): 0 or -errno.
 */
int api_open_logger(struct api_vmm *v, char *err, size_t len);
int api_open_metrics(struct api_vmm *v, char *err, size_t len);
int api_write_metrics(struct api_vmm *v, int fd);

/* Leaves the loop, closes every connection and removes the socket. NULL is
 * ignored. */
void api_server_stop(struct api_server *s);

#endif
