/* Diagnostics: every user-facing message is one line prefixed "vx86: ". */
#ifndef VX86_UTIL_LOG_H
#define VX86_UTIL_LOG_H

#include <stdbool.h>

/* Set once by the command line before any thread starts; read-only afterwards. */
extern bool log_verbose;

/* Prints "vx86: <message>\n" on stderr. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* The last message log_err printed on the calling thread, without "vx86: "
 * ("" if none): the API answers a failed InstanceStart with it. */
const char *log_last_error(void);

/* As log_err, only when --verbose was given. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Levels of the log file (Firecracker's, for its logger's level filter). */
enum log_level { LOG_OFF, LOG_ERROR, LOG_WARNING, LOG_INFO, LOG_DEBUG, LOG_TRACE };

/* The level Firecracker names name (Off, Error, Warning, Info, Debug,
 * Trace; any case), or -1. */
int log_level_parse(const char *name);

/*
 * A copy of every message at or above level on fd (once; the API's PUT
 * /logger), a line each in Firecracker's format: the UTC time to the
 * nanosecond, [id:thread] (with :LEVEL when show_level), the message.
 * log_info's messages go there whether or not --verbose was given. Each
 * line is one write(2); on a non-blocking fd (a FIFO nobody drains) a line
 * that does not fit is dropped. Any thread; takes fd.
 */
void log_set_file(int fd, const char *id, enum log_level level, bool show_level);

/* A message for the log file only (level LOG_INFO): what stderr does not
 * need to see. */
void log_note(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
