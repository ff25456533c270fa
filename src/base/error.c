/*
 * error.c -- error codes, their names, and the per-handle messages.
 *
 * Every failure is reported twice: as a negative int code a program can switch on, and as
 * a sentence for a person that names the file, the offset and what was wrong.  The
 * sentence lives in the handle that failed (or, for a failed open, in a thread-local
 * buffer), so the library never prints.
 */
#define _GNU_SOURCE
#include "error.h"

#include <stdio.h>
#include <string.h>

const char *maplog_version(void)
{
#define MLG_STR2(x) #x
#define MLG_STR(x) MLG_STR2(x)
    return MLG_STR(MAPLOG_VERSION_MAJOR) "." MLG_STR(MAPLOG_VERSION_MINOR) "." MLG_STR(
        MAPLOG_VERSION_PATCH);
}

int maplog_version_number(void)
{
    return MAPLOG_VERSION_NUMBER;
}

const char *maplog_strerror(int code)
{
    switch (code) {
    case MAPLOG_OK:
        return "success";
    case MAPLOG_EINVAL:
        return "invalid argument";
    case MAPLOG_EIO:
        return "input/output error from a system call";
    case MAPLOG_ENOMEM:
        return "out of memory";
    case MAPLOG_ECORRUPT:
        return "log data is corrupt";
    case MAPLOG_ENOTLOG:
        return "not a maplog directory";
    case MAPLOG_ETOOBIG:
        return "record too large for a segment";
    case MAPLOG_ELOCKED:
        return "log is locked by another writer";
    case MAPLOG_ENOSPC:
        return "no space left on device";
    case MAPLOG_END:
        return "no more records";
    case MAPLOG_ETIMEDOUT:
        return "timed out";
    case MAPLOG_ENOENT:
        return "no such log or record";
    case MAPLOG_EVERSION:
        return "unsupported format version or feature";
    case MAPLOG_ECLOSED:
        return "log is closed or failed";
    case MAPLOG_ESTALE:
        return "cursor does not match this log";
    default:
        return "unknown error";
    }
}

int mlg__fail(mlg__err *e, int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->msg, sizeof e->msg, fmt, ap);
    va_end(ap);
    e->code = code;
    return code;
}

_Thread_local mlg__err mlg__tls_err;
_Thread_local mlg__err mlg__open_err;

const char *maplog_last_open_error(void)
{
    return mlg__open_err.msg;
}
