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

#endif
