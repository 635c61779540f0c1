/* Atomic output (mkstemp in the destination's directory, so rename is atomic; fsync; rename), the
 * inputs this process has read, and the checks on inputs and outputs. */
#define _GNU_SOURCE /* fopencookie */
#include "mx_file.h"

#include "mx_alloc.h"
#include "mx_error.h"

#include <errno.h>
#include <pthread.h>
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

/* The inputs this process has read (or will), by device and inode. */
struct input {
    dev_t dev;
    ino_t ino;
    char *path;
};
static pthread_mutex_t inputs_lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    bool guard;
    size_t n, cap;
    struct input *list;
} inputs;

void mx_input_guard(void)
{
    pthread_mutex_lock(&inputs_lock);
    inputs.guard = true;
    pthread_mutex_unlock(&inputs_lock);
}

void mx_input_note(const char *path)
{
    struct stat st;
    if (!path || strcmp(path, "-") == 0 || stat(path, &st) != 0)
        return;
    pthread_mutex_lock(&inputs_lock);
    bool known = false;
    for (size_t i = 0; i < inputs.n && !known; i++)
        known = inputs.list[i].dev == st.st_dev && inputs.list[i].ino == st.st_ino;
    if (!known) {
        if (inputs.n == inputs.cap) {
            inputs.cap = inputs.cap ? 2 * inputs.cap : 8;
            inputs.list = mx_realloc_array(inputs.list, inputs.cap, sizeof(*inputs.list));
        }
        inputs.list[inputs.n++] = (struct input){st.st_dev, st.st_ino, mx_strdup(path)};
    }
    pthread_mutex_unlock(&inputs_lock);
}

/* The name an input with st's file was read by (caller frees), or NULL. */
static char *input_named(const struct stat *st)
{
    char *name = NULL;
    pthread_mutex_lock(&inputs_lock);
    for (size_t i = 0; inputs.guard && i < inputs.n && !name; i++)
        if (inputs.list[i].dev == st->st_dev && inputs.list[i].ino == st->st_ino)
            name = mx_strdup(inputs.list[i].path);
    pthread_mutex_unlock(&inputs_lock);
    return name;
}

/* What may be replaced at path: nothing, or a regular file that is no input of this process. */
static int check_destination(const char *path)
{
    struct stat st;
    if (stat(path, &st) != 0)
        return MX_OK;
    if (S_ISDIR(st.st_mode))
        return mx_error(MX_EUSAGE, "%s: is a directory; give a file name", path);
    if (!S_ISREG(st.st_mode))
        return mx_error(MX_EUSAGE,
                        "%s: exists and is not a regular file (a device, FIFO or socket); muxplan "
                        "only replaces regular files",
                        path);
    char *input = input_named(&st);
    if (!input)
        return MX_OK;
    int rc =
        strcmp(input, path) == 0
            ? mx_error(MX_EUSAGE,
                       "%s: is an input of this command; write the output to another file", path)
            : mx_error(MX_EUSAGE,
                       "%s: is the same file as %s, an input of this command; write the "
                       "output to another file",
                       path, input);
    free(input);
    return rc;
}

static int refuse_stdout(void)
{
    return mx_error(MX_EUSAGE, "-: this output cannot go to standard output; give a file name "
                               "(./- for a file named -)");
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
    if (strcmp(path, "-") == 0) {
        if (!want_stream)
            return refuse_stdout();
        out->path = mx_strdup(path);
        out->fp = stdout;
        return MX_OK;
    }
    int rc = check_destination(path);
    if (rc < 0)
        return rc;
    out->path = mx_strdup(path);
    out->tmp_path = temporary_template(path);
    int fd = mkstemp(out->tmp_path);
    if (fd < 0) {
        rc = mx_error(MX_EIO, "%s: cannot create: %s", path, strerror(errno));
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
        rc = mx_error(MX_EIO, "%s: cannot open: %s", path, strerror(errno));
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
    if (!out->tmp_path) { /* standard output: stays open */
        if (out->fp && (fflush(out->fp) != 0 || ferror(out->fp)))
            rc = mx_error(MX_EIO, "standard output: cannot write: %s", strerror(errno));
        release(out);
        return rc;
    }
    if (out->fp)
        rc = finish_stream(out);
    /* A folder, a device or an input may have appeared there since begin. */
    if (rc == MX_OK)
        rc = check_destination(out->path);
    if (rc == MX_OK && rename(out->tmp_path, out->path) != 0)
        rc = mx_error(MX_EIO, "%s: cannot rename into place: %s", out->path, strerror(errno));
    if (rc != MX_OK)
        unlink(out->tmp_path);
    release(out);
    return rc;
}

void mx_out_abort(struct mx_out *out)
{
    if (out->fp && out->tmp_path)
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
    } else if (out->fp && (fflush(out->fp) != 0 || ferror(out->fp))) {
        reason = errno ? errno : EIO;
    }
    int rc = mx_error(MX_EIO, "%s: cannot write: %s", out->tmp_path ? out->path : "standard output",
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
    mx_input_note(path);
    return MX_OK;
}

/* The folder holding path ("." for a bare name), without trailing slashes. Caller frees. */
static char *parent_of(const char *path)
{
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/')
        len--;
    while (len > 0 && path[len - 1] != '/')
        len--;
    if (len == 0)
        return mx_strdup(".");
    while (len > 1 && path[len - 1] == '/')
        len--;
    return mx_strfmt("%.*s", (int)len, path);
}

static int check_output(const char *path, bool text)
{
    if (!path || !*path)
        return mx_error(MX_EUSAGE, "an output path is empty");
    if (strcmp(path, "-") == 0)
        return text ? MX_OK : refuse_stdout();
    int rc = check_destination(path);
    if (rc < 0)
        return rc;
    struct stat st;
    char *dir = parent_of(path);
    if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = mx_error(MX_EUSAGE, "%s: cannot write there: directory %s does not exist", path, dir);
    else if (access(dir, W_OK) != 0)
        rc = mx_error(MX_EUSAGE, "%s: cannot write there: %s", path, strerror(errno));
    free(dir);
    return rc;
}

int mx_output_check(const char *path)
{
    return check_output(path, false);
}

int mx_output_check_text(const char *path)
{
    return check_output(path, true);
}
