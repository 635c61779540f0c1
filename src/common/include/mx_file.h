/* Atomic output files: write a temporary file beside the destination, then rename it into place.
 *
 * An interrupted or failed run never leaves a half-written file at the destination, and an existing
 * file there stays intact until the new one is complete. */
#ifndef MX_FILE_H
#define MX_FILE_H

#include <stdbool.h>
#include <stdio.h>

struct mx_out {
    char *path;     /* read-only: the destination */
    char *tmp_path; /* read-only: where the data is written until commit */
    FILE *fp;       /* read-only: stream on tmp_path when opened with a stream, else NULL */
    struct mx_out_sink *sink; /* private: the file under fp, with the reason of a failed write */
};

/* Start writing path. With want_stream, out->fp is open for writing; without it, the caller writes
 * out->tmp_path itself (HDF5) and must close it before commit. Errors (MX_EIO) name the path. */
int mx_out_begin(const char *path, bool want_stream, struct mx_out *out);

/* Flush, sync, close and rename into place. A failed write is MX_EIO "PATH: cannot write:
 * REASON" and removes the temporary. Releases out. */
int mx_out_commit(struct mx_out *out);

/* Close and remove the temporary; the destination is untouched. Releases out. Safe on a zeroed out.
 */
void mx_out_abort(struct mx_out *out);

/* A writer's stream call failed: abort out and return MX_EIO "PATH: cannot write: REASON", with
 * the reason of the write that failed (or "cannot encode the data" when none did). */
int mx_out_fail(struct mx_out *out);

/* Remove every temporary file still being written. Async-signal-safe: the command line calls it
 * from its SIGINT and SIGTERM handlers, so an interrupted run leaves nothing behind. */
void mx_out_remove_temporaries(void);

/* Check that path names a readable regular file. A missing file, a directory, a device or an
 * unreadable file is MX_EINPUT with a message naming path. Every reader calls it first. */
int mx_input_check(const char *path);

/* Check, before any work, that an output can be created at path: its directory exists and is
 * writable, and path is not a directory. Otherwise MX_EUSAGE naming path. */
int mx_output_check(const char *path);

#endif
