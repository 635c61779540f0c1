/* Atomic output: mkstemp in the destination's directory (so rename is atomic), fsync, rename. */
#define _GNU_SOURCE /* fopencookie */
#include "mx_file.h"

#include "mx_alloc.h"
#include "mx_error.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

/* Temporaries being written, for mx_out_remove_temporaries(). A full table only means an
 * interrupted run may leave that temporary behind. */
#define MAX_TEMPORARIES 64
static char *_Atomic temporaries[MAX_TEMPORARIES];

static void track(char *tmp_path)
{
    for (int k = 0; k < MAX_TEMPORARIES; k++) {
        char *expected = NULL;
        if (atomic_compare_exchange_strong(&temporaries[k], &expected, tmp_path))
            return;
    }
}

static void untrack(char *tmp_path)
{
    for (int k = 0; k < MAX_TEMPORARIES; k++) {
        char *expected = tmp_path;
        if (atomic_compare_exchange_strong(&temporaries[k], &expected, NULL))
            return;
    }
}

void mx_out_remove_temporaries(void)
{
    for (int k = 0; k < MAX_TEMPORARIES; k++) {
        char *path = atomic_load(&temporaries[k]);
        if (path)
            unlink(path);
    }
}

static char *temporary_template(const char *path)
{
    const char *slash = strrchr(path, '/');
    size_t dir_len = slash ? (size_t)(slash - path) + 1 : 0;
    const char *base = path + dir_len;
    size_t len = dir_len + 1 + strlen(base) + sizeof(".tmp.XXXXXX");
    char *tmpl = mx_calloc(len, 1);
    memcpy(tmpl, path, dir_len);
    snprintf(tmpl + dir_len, len - dir_len, ".%s.tmp.XXXXXX", base);
    return tmpl;
}

static void release(struct mx_out *out)
{
    if (out->tmp_path)
        untrack(out->tmp_path);
    free(out->path);
    free(out->tmp_path);
    out->path = out->tmp_path = NULL;
    out->fp = NULL;
    out->sink = NULL;
}

/* The file under an output stream. stdio keeps no reason for a failed write, and a later flush
 * may have nothing left to write: the sink keeps the first write's errno for the message. */
struct mx_out_sink {
    int fd;
    int error;
};

static ssize_t sink_write(void *cookie, const char *buf, size_t size)
{
    struct mx_out_sink *sink = cookie;
    size_t done = 0;
    while (done < size) {
        ssize_t n = write(sink->fd, buf + done, size - done);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            if (!sink->error)
                sink->error = n < 0 ? errno : EIO;
            return done ? (ssize_t)done : -1;
        }
        done += (size_t)n;
    }
    return (ssize_t)size;
}

static int sink_close(void *cookie)
{
    struct mx_out_sink *sink = cookie;
    int rc = close(sink->fd);
    free(sink);
    return rc;
}

int mx_out_begin(const char *path, bool want_stream, struct mx_out *out)
{
    memset(out, 0, sizeof(*out));
    if (!path || !*path)
        return mx_error(MX_EUSAGE, "an output path is empty");
    out->path = mx_strdup(path);
    out->tmp_path = temporary_template(path);
    int fd = mkstemp(out->tmp_path);
    if (fd < 0) {
        int rc = mx_error(MX_EIO, "%s: cannot create: %s", path, strerror(errno));
        release(out);
        return rc;
    }
    fchmod(fd, 0644);
    track(out->tmp_path);
    if (!want_stream) {
        close(fd);
        return MX_OK;
    }
    out->sink = MX_NEW(struct mx_out_sink);
    out->sink->fd = fd;
    out->fp = fopencookie(out->sink, "w",
                          (cookie_io_functions_t){.write = sink_write, .close = sink_close});
    if (!out->fp) {
        int rc = mx_error(MX_EIO, "%s: cannot open: %s", path, strerror(errno));
        free(out->sink);
        close(fd);
        unlink(out->tmp_path);
        release(out);
        return rc;
    }
    return MX_OK;
}

/* Flush, sync and close out's stream; MX_EIO naming the file and the reason on failure. */
static int finish_stream(struct mx_out *out)
{
    struct mx_out_sink *sink = out->sink;
    errno = 0;
    bool failed = fflush(out->fp) != 0 || ferror(out->fp);
    int reason = sink->error ? sink->error : errno;
    if (!failed && fsync(sink->fd) != 0) {
        failed = true;
        reason = errno;
    }
    if (fclose(out->fp) != 0 && !failed) { /* closes the sink */
        failed = true;
        reason = errno;
    }
    out->fp = NULL;
    out->sink = NULL;
    if (!failed)
        return MX_OK;
    return mx_error(MX_EIO, "%s: cannot write: %s", out->path,
                    reason ? strerror(reason) : "I/O error");
}

int mx_out_commit(struct mx_out *out)
{
    int rc = MX_OK;
    if (out->fp)
        rc = finish_stream(out);
    if (rc == MX_OK && rename(out->tmp_path, out->path) != 0)
        rc = mx_error(MX_EIO, "%s: cannot rename into place: %s", out->path, strerror(errno));
    if (rc != MX_OK)
        unlink(out->tmp_path);
    release(out);
    return rc;
}

void mx_out_abort(struct mx_out *out)
{
    if (out->fp)
        fclose(out->fp);
    if (out->tmp_path)
        unlink(out->tmp_path);
    release(out);
}

int mx_out_fail(struct mx_out *out)
{
    int reason = 0;
    if (out->fp && out->sink) {
        fflush(out->fp);
        reason = out->sink->error;
    }
    int rc = mx_error(MX_EIO, "%s: cannot write: %s", out->path,
                      reason ? strerror(reason) : "cannot encode the data");
    mx_out_abort(out);
    return rc;
}

int mx_input_check(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return mx_error(MX_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    if (S_ISDIR(st.st_mode))
        return mx_error(MX_EINPUT, "%s: is a directory, not a file", path);
    if (!S_ISREG(st.st_mode))
        return mx_error(MX_EINPUT, "%s: not a regular file", path);
    if (access(path, R_OK) != 0)
        return mx_error(MX_EINPUT, "%s: cannot read: %s", path, strerror(errno));
    return MX_OK;
}

int mx_output_check(const char *path)
{
    struct stat st;
    if (!path || !*path)
        return mx_error(MX_EUSAGE, "an output path is empty");
    if (stat(path, &st) == 0 && S_ISDIR(st.st_mode))
        return mx_error(MX_EUSAGE, "%s: is a directory; give a file name", path);
    const char *slash = strrchr(path, '/');
    char *dir =
        slash ? mx_strfmt("%.*s", (int)(slash - path) + (slash == path), path) : mx_strdup(".");
    int rc = MX_OK;
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = mx_error(MX_EUSAGE, "%s: cannot write there: directory %s does not exist", path, dir);
    else if (access(dir, W_OK) != 0)
        rc = mx_error(MX_EUSAGE, "%s: cannot write there: %s", path, strerror(errno));
    free(dir);
    return rc;
}
