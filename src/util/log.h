/* Diagnostics: every user-facing message is one line prefixed "vx86: ". */
#ifndef VX86_UTIL_LOG_H
#define VX86_UTIL_LOG_H

#include <stdbool.h>

/* Set once by the command line before any thread starts; read-only afterwards. */
extern bool log_verbose;

/* Prints "vx86: <message>\n" on stderr. */
void log_err(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* As log_err, only when --verbose was given. */
void log_info(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

#endif
