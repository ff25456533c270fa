/*
 * error.h -- the error carrier (error.c): a code and a message that names the file, the
 * offset and what was wrong.
 */
#ifndef MLG_ERROR_H
#define MLG_ERROR_H

#include "maplog.h"

#include <stdarg.h>

#define MLG_ERRMSG_MAX 512

/* The one error carrier: what failed, as a code (maplog.h's MAPLOG_E*) and a sentence for a
 * person that names the file, the offset and what was wrong.  Every internal function that
 * can fail takes one and fills it with mlg__fail(); the public call decides where it lives:
 * in the calling thread (mlg__tls_err, for the writer, whose handle threads share, and
 * mlg__open_err, for the opens) or in the reader handle, which one thread uses. */
typedef struct mlg__err {
    int code;
    char msg[MLG_ERRMSG_MAX];
} mlg__err;

/* Fill e with code and the formatted message; returns code. */
int mlg__fail(mlg__err *e, int code, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* The calling thread's last failure on a log handle (maplog_errmsg): thread-local, so that
 * threads appending to one handle never race on it. */
extern _Thread_local mlg__err mlg__tls_err;
/* The calling thread's last failed open (maplog_last_open_error). */
extern _Thread_local mlg__err mlg__open_err;

#endif
