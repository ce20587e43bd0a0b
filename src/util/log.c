#include "util/log.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

bool log_verbose;

static _Thread_local char last_error[512];

static void vlog(bool error, const char *fmt, va_list ap)
{
    char line[512];

    vsnprintf(line, sizeof(line), fmt, ap);
    if (error)
        memcpy(last_error, line, sizeof(line));
    /* One fprintf so that lines from different threads do not interleave. */
    fprintf(stderr, "vx86: %s\n", line);
}

void log_err(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(true, fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;

    if (!log_verbose)
        return;
    va_start(ap, fmt);
    vlog(false, fmt, ap);
    va_end(ap);
}

const char *log_last_error(void)
{
    return last_error;
}
