/* Atomic output (mkstemp in the destination's directory, so rename is atomic; fsync; rename),
 * output sets, the inputs this process has read, and the checks on inputs and outputs. */
#define _GNU_SOURCE /* fopencookie */
#include "mx_file.h"

#include "mx_alloc.h"
#include "mx_error.h"

#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

/* What a signal handler removes: temporaries being written or waiting for their set's commit, and
 * the folders an uncommitted set made. Chunks of slots, linked and never freed, so that the handler
 * can walk them while other threads add and clear slots. */
#define SLOTS_PER_CHUNK 256
struct slots {
    char *_Atomic path[SLOTS_PER_CHUNK];
    struct slots *_Atomic next;
};
static struct slots temporaries, made_folders;
static _Atomic pid_t writer_child;

static void slots_add(struct slots *s, char *path)
{
    for (;;) {
        for (int k = 0; k < SLOTS_PER_CHUNK; k++) {
            char *expected = NULL;
            if (atomic_compare_exchange_strong(&s->path[k], &expected, path))
                return;
        }
        struct slots *next = atomic_load(&s->next);
        if (!next) {
            struct slots *fresh = MX_NEW(struct slots), *none = NULL;
            if (atomic_compare_exchange_strong(&s->next, &none, fresh)) {
                next = fresh;
            } else {
                free(fresh);
                next = none;
            }
        }
        s = next;
    }
}

static void slots_clear(struct slots *s, char *path)
{
    for (; s; s = atomic_load(&s->next))
        for (int k = 0; k < SLOTS_PER_CHUNK; k++) {
            char *expected = path;
            if (atomic_compare_exchange_strong(&s->path[k], &expected, NULL))
                return;
        }
}

void mx_out_set_writer(pid_t child)
{
    atomic_store(&writer_child, child);
}

void mx_out_remove_temporaries(void)
{
    int saved = errno;
    pid_t child = atomic_load(&writer_child);
    if (child > 0) {
        kill(child, SIGKILL);
        while (waitpid(child, NULL, 0) < 0 && errno == EINTR)
            ;
    }
    for (struct slots *s = &temporaries; s; s = atomic_load(&s->next))
        for (int k = 0; k < SLOTS_PER_CHUNK; k++) {
            char *path = atomic_load(&s->path[k]);
            if (path)
                unlink(path);
        }
    /* Folders in folders: pass until none goes. One holding anything else stays. */
    for (bool removed = true; removed;) {
        removed = false;
        for (struct slots *s = &made_folders; s; s = atomic_load(&s->next))
            for (int k = 0; k < SLOTS_PER_CHUNK; k++) {
                char *path = atomic_load(&s->path[k]);
                if (path && rmdir(path) == 0)
                    removed = true;
            }
    }
    errno = saved;
}

/* The inputs this process has read (or will), by device and inode, and the output set. */
struct input {
    dev_t dev;
    ino_t ino;
    char *path;
};
struct set_file {
    char *tmp, *dest;
};
static pthread_mutex_t inputs_lock = PTHREAD_MUTEX_INITIALIZER, lock = PTHREAD_MUTEX_INITIALIZER;
static struct {
    bool guard;
    size_t n, cap;
    struct input *list;
} inputs;
static struct {
    bool active;
    size_t n_files, cap_files, n_old, cap_old, n_folders, cap_folders;
    struct set_file *files;
    char **old, **folders;
} set;

#define GROW(array, n, cap)                                                                        \
    do {                                                                                           \
        if ((n) == (cap)) {                                                                        \
            (cap) = (cap) ? 2 * (cap) : 8;                                                         \
            (array) = mx_realloc_array((array), (cap), sizeof(*(array)));                          \
        }                                                                                          \
    } while (0)

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
        GROW(inputs.list, inputs.n, inputs.cap);
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
        slots_clear(&temporaries, out->tmp_path);
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
    int rc;
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
    if ((rc = check_destination(path)) < 0)
        return rc;
    out->path = mx_strdup(path);
    out->tmp_path = temporary_template(path);
    /* Tracked before it exists: a signal between mkstemp and here would leave it behind. */
    slots_add(&temporaries, out->tmp_path);
    int fd = mkstemp(out->tmp_path);
    if (fd < 0) {
        rc = mx_error(MX_EIO, "%s: cannot create: %s", path, strerror(errno));
        release(out);
        return rc;
    }
    fchmod(fd, 0644);
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
    if (rc == MX_OK) {
        pthread_mutex_lock(&lock);
        bool deferred = set.active;
        if (deferred) { /* the set's commit renames it; the temporary stays tracked until then */
            GROW(set.files, set.n_files, set.cap_files);
            set.files[set.n_files++] = (struct set_file){out->tmp_path, out->path};
            out->tmp_path = out->path = NULL;
        }
        pthread_mutex_unlock(&lock);
        if (deferred)
            return MX_OK;
    }
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

void mx_outset_begin(void)
{
    pthread_mutex_lock(&lock);
    set.active = true;
    pthread_mutex_unlock(&lock);
}

int mx_outset_dir(const char *path)
{
    struct stat st;
    if (!path || !*path)
        return mx_error(MX_EUSAGE, "an output folder is empty");
    if (strcmp(path, "-") == 0)
        return mx_error(MX_EUSAGE, "-: a folder of outputs cannot go to standard output; give a "
                                   "folder name (./- for a folder named -)");
    if (stat(path, &st) == 0) {
        if (!S_ISDIR(st.st_mode))
            return mx_error(MX_EUSAGE, "%s: exists and is not a folder", path);
        if (access(path, W_OK | X_OK) != 0)
            return mx_error(MX_EUSAGE, "%s: cannot write there: %s", path, strerror(errno));
        return MX_OK;
    }
    if (errno != ENOENT)
        return mx_error(MX_EUSAGE, "%s: %s", path, strerror(errno));
    int rc = MX_OK;
    char *parent = parent_of(path);
    if (stat(parent, &st) != 0 || !S_ISDIR(st.st_mode))
        rc = mx_error(MX_EUSAGE, "%s: cannot create the folder: %s does not exist", path, parent);
    else if (access(parent, W_OK | X_OK) != 0)
        rc = mx_error(MX_EUSAGE, "%s: cannot create the folder: %s", path, strerror(errno));
    free(parent);
    if (rc < 0)
        return rc;
    char *made = mx_strdup(path);
    slots_add(&made_folders, made);
    if (mkdir(path, 0755) != 0) {
        rc = mx_error(MX_EIO, "%s: cannot create the folder: %s", path, strerror(errno));
        slots_clear(&made_folders, made);
        free(made);
        return rc;
    }
    pthread_mutex_lock(&lock);
    GROW(set.folders, set.n_folders, set.cap_folders);
    set.folders[set.n_folders++] = made;
    pthread_mutex_unlock(&lock);
    return MX_OK;
}

void mx_outset_replace(const char *path)
{
    pthread_mutex_lock(&lock);
    GROW(set.old, set.n_old, set.cap_old);
    set.old[set.n_old++] = mx_strdup(path);
    pthread_mutex_unlock(&lock);
}

/* Forget the set, removing nothing more. Called with lock held. */
static void end_set(void)
{
    for (size_t i = 0; i < set.n_files; i++) {
        slots_clear(&temporaries, set.files[i].tmp);
        free(set.files[i].tmp);
        free(set.files[i].dest);
    }
    for (size_t i = 0; i < set.n_folders; i++) {
        slots_clear(&made_folders, set.folders[i]);
        free(set.folders[i]);
    }
    for (size_t i = 0; i < set.n_old; i++)
        free(set.old[i]);
    free(set.files);
    free(set.folders);
    free(set.old);
    memset(&set, 0, sizeof(set));
}

/* Remove the set's files and folders (the innermost first). Called with lock held. */
static void abort_set(void)
{
    for (size_t i = 0; i < set.n_files; i++)
        unlink(set.files[i].tmp);
    for (size_t i = set.n_folders; i-- > 0;)
        rmdir(set.folders[i]);
    end_set();
}

void mx_outset_abort(void)
{
    pthread_mutex_lock(&lock);
    abort_set();
    pthread_mutex_unlock(&lock);
}

int mx_outset_commit(void)
{
    /* No signal between the first rename and the last: it would leave a mixture. One already
     * pending aborts the set; its handler runs once it is unblocked. */
    sigset_t block, saved, pending;
    sigemptyset(&block);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGTERM);
    pthread_sigmask(SIG_BLOCK, &block, &saved);
    int rc = MX_OK;
    if (sigpending(&pending) == 0 &&
        (sigismember(&pending, SIGINT) == 1 || sigismember(&pending, SIGTERM) == 1))
        rc = mx_error(MX_EIO, "interrupted");
    pthread_mutex_lock(&lock);
    for (size_t i = 0; rc == MX_OK && i < set.n_files; i++)
        rc = check_destination(set.files[i].dest);
    if (rc < 0) {
        abort_set();
    } else {
        for (size_t i = 0; i < set.n_files; i++)
            if (rename(set.files[i].tmp, set.files[i].dest) != 0) {
                if (rc == MX_OK)
                    rc = mx_error(MX_EIO, "%s: cannot rename into place: %s", set.files[i].dest,
                                  strerror(errno));
                unlink(set.files[i].tmp);
            }
        for (size_t i = 0; i < set.n_old; i++) {
            bool rewritten = false;
            for (size_t j = 0; j < set.n_files && !rewritten; j++)
                rewritten = strcmp(set.old[i], set.files[j].dest) == 0;
            if (!rewritten)
                unlink(set.old[i]);
        }
        end_set();
    }
    pthread_mutex_unlock(&lock);
    pthread_sigmask(SIG_SETMASK, &saved, NULL);
    return rc;
}

int mx_outset_hand_over(char *buf, size_t cap, size_t *len)
{
    int rc = MX_OK;
    size_t used = 0;
    pthread_mutex_lock(&lock);
    for (size_t i = 0; i < set.n_files; i++) {
        size_t a = strlen(set.files[i].tmp) + 1, b = strlen(set.files[i].dest) + 1;
        if (used + a + b > cap) {
            rc = mx_error(MX_EIO, "%s: too many files to hand over", set.files[i].dest);
            break;
        }
        memcpy(buf + used, set.files[i].tmp, a);
        memcpy(buf + used + a, set.files[i].dest, b);
        used += a + b;
    }
    if (rc == MX_OK) {
        for (size_t i = 0; i < set.n_files; i++) {
            slots_clear(&temporaries, set.files[i].tmp);
            free(set.files[i].tmp);
            free(set.files[i].dest);
        }
        set.n_files = 0;
    }
    pthread_mutex_unlock(&lock);
    *len = rc == MX_OK ? used : 0;
    return rc;
}

void mx_outset_adopt(const char *buf, size_t len)
{
    pthread_mutex_lock(&lock);
    for (size_t at = 0; at < len;) {
        char *tmp = mx_strdup(buf + at);
        at += strlen(tmp) + 1;
        char *dest = mx_strdup(buf + at);
        at += strlen(dest) + 1;
        slots_add(&temporaries, tmp);
        GROW(set.files, set.n_files, set.cap_files);
        set.files[set.n_files++] = (struct set_file){tmp, dest};
    }
    pthread_mutex_unlock(&lock);
}
