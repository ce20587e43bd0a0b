#include "util/thread.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>

struct start {
    char name[16];
    enum seccomp_role role;
    void *(*fn)(void *);
    void *arg;
};

static void *trampoline(void *p)
{
    struct start s = *(struct start *)p;

    free(p);
    /* Before the filter: PR_SET_NAME is not in any role's list. */
    pthread_setname_np(pthread_self(), s.name);
    seccomp_apply(s.role);
    return s.fn(s.arg);
}

int thread_start(pthread_t *t, const char *name, enum seccomp_role role, void *(*fn)(void *),
                 void *arg)
{
    struct start *s = malloc(sizeof(*s));
    sigset_t all, old;
    int err;

    if (!s)
        return -ENOMEM;
    snprintf(s->name, sizeof(s->name), "%s", name);
    s->role = role;
    s->fn = fn;
    s->arg = arg;
    /* The new thread inherits the mask in force at pthread_create. */
    sigfillset(&all);
    /* Before the new thread's own filter, its creator's applies (a main
     * thread building a machine again): a forbidden call must still get
     * seccomp.c's line, not a silent death. */
    sigdelset(&all, SIGSYS);
    if (role == SECCOMP_VCPU)
        sigdelset(&all, THREAD_KICK_SIGNAL);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    err = pthread_create(t, NULL, trampoline, s);
    pthread_sigmask(SIG_SETMASK, &old, NULL);
    if (err)
        free(s);
    return -err;
}
