/*
 * Starting vx86's own threads: one helper for every thread but main, so
 * that each starts the same way - named (what `top -H`, /proc/PID/task and
 * the log file's lines show), with every signal blocked (SIGTERM, SIGINT
 * and SIGHUP belong to the main thread's event loop, util/loop.h) but
 * SIGSYS (host/seccomp.h's) and, for a vCPU, THREAD_KICK_SIGNAL, and confined to its seccomp role
 * (host/seccomp.h) before it runs a line of its own.
 *
 * host/seccomp.h is the one header above util/ that this file includes: the
 * role is what a thread is, and seccomp.c itself uses nothing but
 * util/log.h.
 */
#ifndef VX86_UTIL_THREAD_H
#define VX86_UTIL_THREAD_H

#include <pthread.h>
#include <signal.h>

#include "host/seccomp.h"

/* What kicks a vCPU thread out of KVM_RUN (accel/kvm/kvm.c's KICK_SIGNAL,
 * the same signal): left unblocked in SECCOMP_VCPU threads. */
#define THREAD_KICK_SIGNAL SIGUSR1

/*
 * Starts fn(arg) on a new thread named name (at most 15 characters are
 * kept, the kernel's limit) with the signal mask above and role's filter
 * installed. The caller's own signal mask is left as it was. Returns 0 or
 * -errno (the caller says what could not start).
 */
int thread_start(pthread_t *t, const char *name, enum seccomp_role role, void *(*fn)(void *),
                 void *arg);

#endif
