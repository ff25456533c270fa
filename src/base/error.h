/*
 * error.h -- error text (error.c): a message names the file, the offset and what was
 * wrong; codes are maplog.h's MAPLOG_E*.
 */
#ifndef MLG_ERROR_H
#define MLG_ERROR_H

#include "maplog.h"

#include <stdarg.h>

#define MLG_ERRMSG_MAX 512

/* Format a message into buf (MLG_ERRMSG_MAX bytes) and return code. */
int mlg__errf(char *buf, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
/* The calling thread's last writer failure (maplog_errmsg): thread-local, so that
 * threads appending to one handle never race on it. */
extern _Thread_local char mlg__werr[MLG_ERRMSG_MAX];
/* Remember buf as this thread's last open error (maplog_last_open_error). */
void mlg__set_open_error(const char *buf);

#endif
