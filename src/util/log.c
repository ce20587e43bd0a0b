#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>

bool log_verbose;

static void vlog(const char *fmt, va_list ap)
{
    char line[512];

    vsnprintf(line, sizeof(line), fmt, ap);
    /* One fprintf so that lines from different threads do not interleave. */
    fprintf(stderr, "vx86: %s\n", line);
}

void log_err(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;

    if (!log_verbose)
        return;
    va_start(ap, fmt);
    vlog(fmt, ap);
    va_end(ap);
}
