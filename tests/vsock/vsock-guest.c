/*
 * The guest's end of tests/integration/test_vsock.py, built static with the
 * host's gcc and put into a test initramfs (busybox has no vsock applet).
 *
 *   vsock-guest listen PORT     prints "listening PORT", then echoes every
 *                               connection (one process each) until its EOF
 *   vsock-guest connect CID PORT
 *                               sends stdin, then shuts its sending side;
 *                               copies what comes back to stdout until EOF
 *
 * Exit status 1 with one line on stderr when a call fails (a refused
 * connect says "connect: Connection reset by peer").
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include <linux/vm_sockets.h>

static char buf[65536];

static int fail(const char *what)
{
    fprintf(stderr, "vsock-guest: %s: %s\n", what, strerror(errno));
    return 1;
}

/* Copies from to to until EOF; returns 0 or -1. */
static int copy(int from, int to)
{
    for (;;) {
        ssize_t n = read(from, buf, sizeof(buf));

        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return (int)n;
        for (ssize_t off = 0; off < n;) {
            ssize_t w = write(to, buf + off, (size_t)(n - off));

            if (w < 0 && errno == EINTR)
                continue;
            if (w <= 0)
                return -1;
            off += w;
        }
    }
}

static int do_listen(unsigned port)
{
    struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = VMADDR_CID_ANY, .svm_port = port};
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);

    if (s < 0)
        return fail("socket");
    if (bind(s, (struct sockaddr *)&sa, sizeof(sa)) || listen(s, 128))
        return fail("bind");
    signal(SIGCHLD, SIG_IGN);
    printf("listening %u\n", port);
    fflush(stdout);
    for (;;) {
        int c = accept(s, NULL, NULL);

        if (c < 0) {
            if (errno == EINTR)
                continue;
            return fail("accept");
        }
        if (fork() == 0) {
            close(s);
            if (copy(c, c))
                return fail("echo");
            return 0;
        }
        close(c);
    }
}

static int do_connect(unsigned cid, unsigned port)
{
    struct sockaddr_vm sa = {.svm_family = AF_VSOCK, .svm_cid = cid, .svm_port = port};
    int s = socket(AF_VSOCK, SOCK_STREAM, 0);
    pid_t pid;
    int status;

    if (s < 0)
        return fail("socket");
    if (connect(s, (struct sockaddr *)&sa, sizeof(sa)))
        return fail("connect");
    pid = fork();
    if (pid < 0)
        return fail("fork");
    if (pid == 0) {
        if (copy(0, s))
            return fail("send");
        shutdown(s, SHUT_WR);
        return 0;
    }
    if (copy(s, 1))
        return fail("receive");
    if (waitpid(pid, &status, 0) < 0 || !WIFEXITED(status) || WEXITSTATUS(status))
        return 1;
    return 0;
}

int main(int argc, char **argv)
{
    if (argc == 3 && !strcmp(argv[1], "listen"))
        return do_listen((unsigned)strtoul(argv[2], NULL, 0));
    if (argc == 4 && !strcmp(argv[1], "connect"))
        return do_connect((unsigned)strtoul(argv[2], NULL, 0), (unsigned)strtoul(argv[3], NULL, 0));
    fprintf(stderr, "usage: vsock-guest listen PORT | connect CID PORT\n");
    return 2;
}
