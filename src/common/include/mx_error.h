/* Recoverable errors: negative codes plus one message per thread.
 *
 * A function that detects a problem calls mx_error() once, with the place (file, then line:column,
 * dataset, row or JSON path) and what is wrong, and returns the code it gets back. Callers pass the
 * code up unchanged and never overwrite the message; only src/cli/ prints it and exits. */
#ifndef MX_ERROR_H
#define MX_ERROR_H

enum mx_err {
    MX_OK = 0,
    MX_EINPUT = -1, /* bad input: a file or value the user gave is wrong (exit status 2) */
    MX_EUSAGE = -2, /* bad command line (exit status 2) */
    MX_EIO = -3,    /* a failure while running: I/O, HDF5, threads (exit status 1) */
};

/* Record "MESSAGE" as this thread's error and return code (which must be negative). */
int mx_error(int code, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* This thread's last message ("" if none). Borrowed; valid until the next mx_error() here. */
const char *mx_error_message(void);

/* A short name for a code: "bad input", "bad usage", "I/O failure", "ok". */
const char *mx_strerror(int code);

/* The process exit status the command line uses for code: 0, 1 or 2. */
int mx_exit_status(int code);

#endif
