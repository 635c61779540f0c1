/* Inputs and outputs: atomic output files, output sets and the checks every command makes.
 *
 * An output file is written under a temporary name beside its destination and renamed into place
 * when complete, so an interrupted or failed run never leaves a half-written file, and an existing
 * file there stays intact until the new one is complete. Only a regular file is ever replaced: a
 * directory, a device, a FIFO or a socket at the destination is refused (MX_EUSAGE), and so is,
 * once mx_input_guard() was called, a file this process has read as an input (the same file through
 * any name: symbolic and hard links alike). "-" writes a text output to standard output.
 *
 * An output set makes a command's outputs appear together or not at all: between mx_outset_begin()
 * and mx_outset_commit(), every committed file stays under its temporary name; the set's commit
 * renames them all, its abort (or a SIGINT or SIGTERM, through mx_out_remove_temporaries()) removes
 * them and the folders the command made. */
#ifndef MX_FILE_H
#define MX_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <sys/types.h>

struct mx_out {
    char *path;     /* read-only: the destination ("-" for standard output) */
    char *tmp_path; /* read-only: where the data is written until commit; NULL for "-" */
    FILE *fp;       /* read-only: stream on tmp_path (or stdout) when opened with a stream */
    struct mx_out_sink *sink; /* private: the file under fp, with the reason of a failed write */
};

/* Start writing path. With want_stream, out->fp is open for writing; without it, the caller writes
 * out->tmp_path itself (gnuplot) and must close it before commit. "-" is standard output, with a
 * stream only. A destination that is not a regular file or is an input is MX_EUSAGE; a temporary
 * that cannot be made is MX_EIO. Errors name the path. */
int mx_out_begin(const char *path, bool want_stream, struct mx_out *out);

/* Flush, sync, close and rename into place (in an output set: keep it for the set's commit). A
 * failed write is MX_EIO "PATH: cannot write: REASON" and removes the temporary. Releases out. */
int mx_out_commit(struct mx_out *out);

/* Close and remove the temporary; the destination is untouched. Releases out. Safe on a zeroed out.
 */
void mx_out_abort(struct mx_out *out);

/* A writer's stream call failed: abort out and return MX_EIO "PATH: cannot write: REASON", with
 * the reason of the write that failed (or "cannot encode the data" when none did). */
int mx_out_fail(struct mx_out *out);

/* Remove every temporary file still being written or waiting for its set's commit, and the folders
 * an uncommitted output set made, after stopping a child process writing them (gnuplot).
 * Async-signal-safe: the command line calls it from its SIGINT and SIGTERM handlers, so an
 * interrupted run leaves nothing behind. */
void mx_out_remove_temporaries(void);

/* A child process (gnuplot) writing temporaries: mx_out_remove_temporaries() kills and reaps it
 * first. 0: none. */
void mx_out_set_writer(pid_t child);

/* Check that path names a readable regular file and note it as an input of this process (a later
 * output to the same file is refused). A missing file, a directory, a device or an unreadable file
 * is MX_EINPUT with a message naming path. Every reader calls it first. */
int mx_input_check(const char *path);

/* From now on, refuse an output onto a file this process has read (or noted) as an input. The
 * command line calls it first, a process being one command; without it (a library's own tests
 * rewriting a file they read) inputs are noted but outputs not checked against them. */
void mx_input_guard(void);

/* Note path as an input before reading it, so that mx_output_check() refuses the same file as an
 * output before any work. A missing path is ignored (its reader reports it). */
void mx_input_note(const char *path);

/* Check, before any work, that a file output can be created at path: its directory exists and is
 * writable, and path is not a directory, a device, a FIFO or an input of this command. Otherwise
 * MX_EUSAGE naming path. mx_output_check() refuses "-"; mx_output_check_text() accepts it for a
 * text output that can go to standard output. */
int mx_output_check(const char *path);
int mx_output_check_text(const char *path);

/* Start this process's output set. */
void mx_outset_begin(void);

/* An output folder of the set (sweep -o DIR, trace stats --plot DIR, compare --plans-dir DIR),
 * checked before any work: an existing folder must be writable; a missing one is created when its
 * parent folder exists (one level; a missing parent is MX_EUSAGE, as for files) and belongs to the
 * set: its abort removes it. "-" and anything that is not a folder are MX_EUSAGE. */
int mx_outset_dir(const char *path);

/* An earlier output at path that the set's commit removes unless the set writes path anew (a
 * previous sweep's files). */
void mx_outset_replace(const char *path);

/* Rename every file of the set into place, then remove the replaced earlier outputs. A SIGINT or
 * SIGTERM already pending aborts instead. Ends the set. */
int mx_outset_commit(void);

/* Remove every file of the set and the folders it made. Ends the set; safe without one. */
void mx_outset_abort(void);

/* MPI workers: hand this process's files of the set to another process as "TMP\0DEST\0" pairs in
 * buf (at most cap bytes; *len receives the length): this process no longer renames or removes
 * them. MX_EIO when they do not fit. mx_outset_adopt() makes them files of this process's set. */
int mx_outset_hand_over(char *buf, size_t cap, size_t *len);
void mx_outset_adopt(const char *buf, size_t len);

#endif
