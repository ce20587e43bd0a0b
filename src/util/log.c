#include "util/log.h"

#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

bool log_verbose;

static _Thread_local char last_error[512];

/* The log file (log_set_file): set once, read by every thread. */
static pthread_mutex_t file_lock = PTHREAD_MUTEX_INITIALIZER;
static int file_fd = -1;
static enum log_level file_level;
static bool file_show_level;
static char file_id[72];

static void to_file(enum log_level level, const char *msg)
{
    static const char *const names[] = {"", "ERROR", "WARN", "INFO", "DEBUG", "TRACE"};
    char line[700], thread[16] = "vx86";
    struct timespec ts;
    struct tm tm;
    int n;

    pthread_mutex_lock(&file_lock);
    if (file_fd >= 0 && level <= file_level) {
        clock_gettime(CLOCK_REALTIME, &ts);
        gmtime_r(&ts.tv_sec, &tm);
        pthread_getname_np(pthread_self(), thread, sizeof(thread));
        n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%09ld [%s:%s%s%s] %s\n",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec,
                     ts.tv_nsec, file_id, thread, file_show_level ? ":" : "",
                     file_show_level ? names[level] : "", msg);
        /* A line that does not fit a full FIFO is dropped. */
        if (n > 0) {
            ssize_t w =
                write(file_fd, line, (size_t)n < sizeof(line) ? (size_t)n : sizeof(line) - 1);

            (void)w;
        }
    }
    pthread_mutex_unlock(&file_lock);
}

static void vlog(enum log_level level, bool to_stderr, const char *fmt, va_list ap)
{
    char line[512];

    vsnprintf(line, sizeof(line), fmt, ap);
    if (level == LOG_ERROR)
        memcpy(last_error, line, sizeof(line));
    /* One fprintf so that lines from different threads do not interleave. */
    if (to_stderr)
        fprintf(stderr, "vx86: %s\n", line);
    to_file(level, line);
}

void log_err(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_ERROR, true, fmt, ap);
    va_end(ap);
}

void log_info(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_INFO, log_verbose, fmt, ap);
    va_end(ap);
}

void log_note(const char *fmt, ...)
{
    va_list ap;

    va_start(ap, fmt);
    vlog(LOG_INFO, false, fmt, ap);
    va_end(ap);
}

int log_level_parse(const char *name)
{
    static const char *const names[] = {
        [LOG_OFF] = "Off",   [LOG_ERROR] = "Error", [LOG_WARNING] = "Warning",
        [LOG_INFO] = "Info", [LOG_DEBUG] = "Debug", [LOG_TRACE] = "Trace",
    };

    for (int i = 0; i < (int)(sizeof(names) / sizeof(names[0])); i++)
        if (!strcasecmp(name, names[i]))
            return i;
    return -1;
}

void log_set_file(int fd, const char *id, enum log_level level, bool show_level)
{
    pthread_mutex_lock(&file_lock);
    if (file_fd >= 0)
        close(file_fd);
    file_fd = fd;
    file_level = level;
    file_show_level = show_level;
    snprintf(file_id, sizeof(file_id), "%s", id);
    pthread_mutex_unlock(&file_lock);
}

const char *log_last_error(void)
{
    return last_error;
}
