/*
 * The API socket (--api-sock): a Unix stream socket speaking HTTP/1.1
 * (http.h) with Firecracker's endpoints (endpoints.h, docs/api.md).
 *
 * Threads: one API thread serves every connection with poll(2) on
 * non-blocking sockets; a client that sends slowly, stops half-way, never
 * reads its answers or half-closes its end holds only its own connection
 * (at most API_MAX_CONNS at once; more are closed at once). The API thread
 * owns the struct api_vmm given to api_server_start. The main thread waits
 * in api_server_wait_start for an accepted InstanceStart, builds and starts
 * the machine, and reports with api_server_started; the API thread then
 * answers that request and keeps serving while the guest runs. The API
 * thread takes no signals. SIGTERM, SIGINT and SIGHUP are blocked from
 * api_server_start on, as console_init blocks them: until a guest runs the
 * API thread takes them (api_server_wait_start returns -EINTR), then the
 * console's loop.
 */
#ifndef VX86_MACHINE_API_API_H
#define VX86_MACHINE_API_API_H

#include "machine/api/endpoints.h"

#define API_MAX_CONNS 16

struct api_server;

/*
 * Creates the socket at path (which must not exist: a stale socket is the
 * caller's to remove, as with Firecracker) and starts the API thread, which
 * owns v from now on; blocks SIGTERM, SIGINT and SIGHUP in the calling
 * thread. Returns 0 or -errno after printing one line.
 */
int api_server_start(struct api_server **out, const char *path, struct api_vmm *v);

/*
 * Main thread: waits until a client's InstanceStart was accepted and fills
 * *cfg (api_vmm_build's; valid until api_server_started). Returns 0,
 * -EINTR if SIGTERM, SIGINT or SIGHUP came first (after printing one line),
 * or -EIO if the API thread ended.
 */
int api_server_wait_start(struct api_server *s, struct vm_config *cfg);

/*
 * Main thread, once per accepted InstanceStart (and for --config-file with
 * state API_STARTING): err 0, the guest runs (state Running, 204); else it
 * could not be built, msg says why (400; the configuration can be changed
 * and InstanceStart sent again).
 */
void api_server_started(struct api_server *s, int err, const char *msg);

/*
 * Main thread: the running machine, for actions on it (SendCtrlAltDel
 * presses Ctrl-Alt-Del on its i8042; PATCH /vm pauses and resumes its
 * vCPUs), or NULL before the machine is destroyed (a reset builds a new
 * one, which starts running, whatever the old one's state).
 */
struct vm;
void api_server_set_machine(struct api_server *s, struct vm *vm);

/*
 * The files PUT /logger and PUT /metrics (or a config file) named, for the
 * API thread or, without one (--no-api), the main thread. api_open_logger
 * makes util/log.h's log file of the logger's; api_open_metrics returns
 * the metrics file's fd; both -errno with err saying why (and the path
 * forgotten, so that another request may name one). api_write_metrics
 * writes one line (api_metrics_line): 0 or -errno.
 */
int api_open_logger(struct api_vmm *v, char *err, size_t len);
int api_open_metrics(struct api_vmm *v, char *err, size_t len);
int api_write_metrics(struct api_vmm *v, int fd);

/* Ends the API thread, closes every connection and removes the socket.
 * NULL is ignored. */
void api_server_stop(struct api_server *s);

#endif
