/* The per-thread error message behind mx_error(). Planner threads report independently, so the
 * buffer is thread-local; a message longer than the buffer is cut, never overflowed. */
#include "mx_error.h"

#include <stdarg.h>
#include <stdio.h>

static _Thread_local char message[2048];

int mx_error(int code, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(message, sizeof(message), fmt, ap);
    va_end(ap);
    return code;
}

const char *mx_error_message(void)
{
    return message;
}

const char *mx_strerror(int code)
{
    switch (code) {
    case MX_OK:
        return "ok";
    case MX_EINPUT:
        return "bad input";
    case MX_EUSAGE:
        return "bad usage";
    case MX_EIO:
        return "I/O failure";
    default:
        return "unknown error";
    }
}

int mx_exit_status(int code)
{
    if (code == MX_OK)
        return 0;
    return code == MX_EINPUT || code == MX_EUSAGE ? 2 : 1;
}
