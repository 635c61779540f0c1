/* HDF5 access behind mx_h5.h: error translation, type checks, deterministic property lists.
 *
 * Every HDF5 call that can fail goes through CHECK(), which records "FILE: PATH: WHAT: REASON" with
 * the innermost message of HDF5's error stack and jumps to the one cleanup path. */
#include "mx_h5.h"

#include "mx_alloc.h"
#include "mx_error.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

struct error_walk {
    char text[256];
};

/* HDF5 walks its stack from the innermost call outwards: keep the first description. */
static herr_t keep_innermost(unsigned n, const H5E_error2_t *e, void *data)
{
    struct error_walk *walk = data;
    /* Some descriptions run over several lines of diagnostics: the first says what failed. */
    if (n == 0 && e->desc)
        snprintf(walk->text, sizeof(walk->text), "%.*s", (int)strcspn(e->desc, "\n"), e->desc);
    return 0;
}

static int h5_fail(int code, const char *file, const char *path, const char *what)
{
    struct error_walk walk = {.text = ""};
    H5Ewalk2(H5E_DEFAULT, H5E_WALK_UPWARD, keep_innermost, &walk);
    H5Eclear2(H5E_DEFAULT);
    if (walk.text[0])
        return mx_error(code, "%s: %s: %s: %s", file, path, what, walk.text);
    return mx_error(code, "%s: %s: %s", file, path, what);
}

#define CHECK(expr, code, what)                                                                    \
    do {                                                                                           \
        if ((expr) < 0) {                                                                          \
            rc = h5_fail((code), h->path, path, (what));                                           \
            goto fail;                                                                             \
        }                                                                                          \
    } while (0)

static void silence_hdf5(void)
{
    H5Eset_auto2(H5E_DEFAULT, NULL, NULL);
}

/* How an element type is held in memory and stored in files (little-endian, fixed width, whatever
 * the machine). HDF5's type ids are run-time values, so this is a switch, not a static table. */
struct type_info {
    size_t size;
    hid_t memory, file;
};

static struct type_info type_info(enum mx_h5_type t)
{
    switch (t) {
    case MX_H5_F64:
        return (struct type_info){8, H5T_NATIVE_DOUBLE, H5T_IEEE_F64LE};
    case MX_H5_I64:
        return (struct type_info){8, H5T_NATIVE_INT64, H5T_STD_I64LE};
    case MX_H5_I32:
        return (struct type_info){4, H5T_NATIVE_INT32, H5T_STD_I32LE};
    case MX_H5_U8:
        return (struct type_info){1, H5T_NATIVE_UINT8, H5T_STD_U8LE};
    }
    MX_BUG("unknown HDF5 element type %d", (int)t);
}

size_t mx_h5_type_size(enum mx_h5_type t)
{
    return type_info(t).size;
}

static const char *type_label(enum mx_h5_type t)
{
    return t == MX_H5_F64 ? "a floating-point" : "an integer";
}

/* Creation properties shared by groups and datasets: no timestamps, so equal content gives equal
 * bytes. Groups also track link creation order, so listings come back in the order written. */
static hid_t object_properties(hid_t cls)
{
    hid_t plist = H5Pcreate(cls);
    if (plist < 0)
        return plist;
    H5Pset_obj_track_times(plist, 0);
    if (cls == H5P_GROUP_CREATE)
        H5Pset_link_creation_order(plist, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    return plist;
}

int mx_h5_open(const char *path, const char *kind, int max_version, struct mx_h5 *h)
{
    int rc = MX_OK;
    char *format = NULL;
    memset(h, 0, sizeof(*h));
    h->id = H5I_INVALID_HID;
    silence_hdf5();
    if ((rc = mx_input_check(path)) < 0)
        return rc;
    struct stat st;
    h->bytes = stat(path, &st) == 0 ? (uint64_t)st.st_size : 0;
    h->path = mx_strdup(path);
    h->id = H5Fopen(path, H5F_ACC_RDONLY, H5P_DEFAULT);
    if (h->id < 0) {
        rc = h5_fail(MX_EINPUT, path, "/", "not a readable HDF5 file (truncated or corrupt?)");
        goto fail;
    }
    if ((rc = mx_h5_attr_read_str(h, "/", "format", &format)) < 0)
        goto fail;
    char expect[64];
    int n = snprintf(expect, sizeof(expect), "muxplan-%s/", kind);
    char *end = NULL;
    long version = strncmp(format, expect, (size_t)n) == 0 ? strtol(format + n, &end, 10) : 0;
    if (!end || *end || version < 1) {
        rc = mx_error(MX_EINPUT, "%s: /: format attribute is \"%s\", expected \"%s%d\"", path,
                      format, expect, max_version);
        goto fail;
    }
    if (version > max_version) {
        rc =
            mx_error(MX_EINPUT, "%s: /: format version %ld is newer than this muxplan reads (%s%d)",
                     path, version, expect, max_version);
        goto fail;
    }
    free(format);
    return MX_OK;
fail:
    free(format);
    mx_h5_abort(h);
    return rc;
}

/* A file being written is built in memory by HDF5's core driver (no backing store) and written
 * out whole by mx_h5_close(), through the atomic output like every other file, so HDF5 itself never
 * writes to disk. When a write inside HDF5 fails (a full disk), H5Fclose() fails too, and HDF5
 * 1.10 keeps the half-closed file in its tables and crashes closing it again at exit; in memory,
 * nothing but muxplan's own write can fail. The image callbacks grow the buffer geometrically and
 * keep it when the driver closes the file. */
struct mx_h5_image {
    unsigned char *data; /* the buffer handed to the driver */
    size_t cap;          /* its allocated bytes */
    size_t size;         /* the driver's length of it */
    unsigned char *kept; /* the buffer as the driver closed the file */
};

static void *image_malloc(size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    struct mx_h5_image *img = udata;
    img->data = malloc(size ? size : 1);
    img->cap = img->size = img->data ? size : 0;
    return img->data;
}

static void *image_memcpy(void *dest, const void *src, size_t size, H5FD_file_image_op_t op,
                          void *udata)
{
    (void)op;
    (void)udata;
    return memcpy(dest, src, size);
}

static void *image_realloc(void *ptr, size_t size, H5FD_file_image_op_t op, void *udata)
{
    (void)op;
    struct mx_h5_image *img = udata;
    if (ptr != img->data)
        return NULL;
    if (size > img->cap || !img->data) {
        size_t cap = img->cap * 2 > size ? img->cap * 2 : size;
        unsigned char *grown = realloc(img->data, cap ? cap : 1);
        if (!grown)
            return NULL;
        img->data = grown;
        img->cap = cap;
    }
    img->size = size;
    return img->data;
}

static herr_t image_free(void *ptr, H5FD_file_image_op_t op, void *udata)
{
    struct mx_h5_image *img = udata;
    if (op == H5FD_FILE_IMAGE_OP_FILE_CLOSE && ptr && ptr == img->data)
        img->kept = ptr;
    else
        free(ptr);
    if (ptr == img->data)
        img->data = NULL;
    return 0;
}

static void *image_udata_copy(void *udata)
{
    return udata; /* one image per file: the property lists share it */
}

static herr_t image_udata_free(void *udata)
{
    (void)udata;
    return 0;
}

static void free_image(struct mx_h5 *h)
{
    if (h->image) {
        free(h->image->kept);
        free(h->image->data);
        free(h->image);
    }
    h->image = NULL;
}

int mx_h5_create(const char *file, const char *kind, int version, struct mx_h5 *h)
{
    int rc;
    const char *path = "/";
    hid_t fcpl = H5I_INVALID_HID, fapl = H5I_INVALID_HID;
    char format[64];
    memset(h, 0, sizeof(*h));
    h->id = H5I_INVALID_HID;
    silence_hdf5();
    if (file && strcmp(file, "-") == 0)
        return mx_error(MX_EUSAGE, "-: an HDF5 file cannot go to standard output; give a file "
                                   "name (./- for a file named -)");
    if ((rc = mx_out_begin(file, true, &h->out)) < 0)
        return rc;
    h->writing = true;
    h->path = mx_strdup(file);
    h->image = MX_NEW(struct mx_h5_image);
    fcpl = object_properties(H5P_FILE_CREATE);
    CHECK(fcpl, MX_EIO, "cannot set file properties");
    H5Pset_link_creation_order(fcpl, H5P_CRT_ORDER_TRACKED | H5P_CRT_ORDER_INDEXED);
    /* Root attributes in dense storage: a provenance with raw measurements can pass the 64 KiB
     * that compact attributes allow. */
    H5Pset_attr_phase_change(fcpl, 0, 0);
    fapl = H5Pcreate(H5P_FILE_ACCESS);
    CHECK(fapl, MX_EIO, "cannot set file access properties");
    H5Pset_libver_bounds(fapl, H5F_LIBVER_V18, H5F_LIBVER_LATEST);
    CHECK(H5Pset_fapl_core(fapl, 1 << 16, 0), MX_EIO, "cannot set the memory driver");
    H5FD_file_image_callbacks_t callbacks = {image_malloc, image_memcpy,     image_realloc,
                                             image_free,   image_udata_copy, image_udata_free,
                                             h->image};
    CHECK(H5Pset_file_image_callbacks(fapl, &callbacks), MX_EIO, "cannot set the memory driver");
    /* The name only tells open files apart: nothing is written there. */
    h->id = H5Fcreate(h->out.tmp_path, H5F_ACC_TRUNC, fcpl, fapl);
    H5Pclose(fapl);
    fapl = H5I_INVALID_HID;
    CHECK(h->id, MX_EIO, "cannot create HDF5 file");
    H5Pclose(fcpl);
    fcpl = H5I_INVALID_HID;
    snprintf(format, sizeof(format), "muxplan-%s/%d", kind, version);
    if ((rc = mx_h5_attr_write_str(h, "/", "format", format)) < 0)
        goto fail;
    return MX_OK;
fail:
    if (fcpl >= 0)
        H5Pclose(fcpl);
    if (fapl >= 0)
        H5Pclose(fapl);
    mx_h5_abort(h);
    return rc;
}

/* The length of a closed file's image: its superblock's end-of-file address. The library writes
 * superblock version 2 or 3 (H5F_LIBVER_V18 and later): signature, version, size of offsets, size
 * of lengths, flags, then the base, extension, end-of-file and root addresses and a checksum. The
 * memory driver keeps its buffer's tail past that address (space freed at close), which a file on
 * disk loses by truncation. */
static int image_length(const struct mx_h5 *h, const unsigned char *p, size_t have, size_t *len)
{
    static const unsigned char signature[8] = {0x89, 'H', 'D', 'F', '\r', '\n', 0x1a, '\n'};
    size_t o = have > 9 ? p[9] : 0;
    if (have < 12 || memcmp(p, signature, 8) != 0 || (p[8] != 2 && p[8] != 3) || o < 2 || o > 8 ||
        have < 12 + 4 * o + 4)
        return mx_error(MX_EIO, "%s: unexpected HDF5 superblock in the file written", h->path);
    uint64_t base = 0, eof = 0;
    for (size_t k = o; k-- > 0;) {
        base = base << 8 | p[12 + k];
        eof = eof << 8 | p[12 + 2 * o + k];
    }
    if (base != 0 || eof < 12 + 4 * o + 4 || eof > have)
        return mx_error(MX_EIO, "%s: unexpected HDF5 superblock in the file written", h->path);
    *len = (size_t)eof;
    return MX_OK;
}

int mx_h5_close(struct mx_h5 *h)
{
    int rc = MX_OK;
    const char *path = "/";
    if (h->id >= 0) {
        herr_t closed = H5Fclose(h->id);
        h->id = H5I_INVALID_HID; /* never closed twice, even when closing failed */
        CHECK(closed, MX_EIO, "cannot close");
    }
    if (h->writing) {
        size_t len = 0;
        struct mx_h5_image *img = h->image;
        if (!img->kept)
            rc = mx_error(MX_EIO, "%s: the memory driver kept no file", h->path);
        if (rc == MX_OK)
            rc = image_length(h, img->kept, img->size, &len);
        /* A failed write shows at commit, which names the file and the reason. */
        if (rc == MX_OK)
            fwrite(img->kept, 1, len, h->out.fp);
        if (rc < 0)
            goto fail;
        h->writing = false;
        rc = mx_out_commit(&h->out);
    }
    free_image(h);
    free(h->path);
    h->path = NULL;
    return rc;
fail:
    mx_h5_abort(h);
    return rc;
}

void mx_h5_abort(struct mx_h5 *h)
{
    if (h->id >= 0)
        H5Fclose(h->id);
    h->id = H5I_INVALID_HID;
    if (h->writing)
        mx_out_abort(&h->out);
    h->writing = false;
    free_image(h);
    free(h->path);
    h->path = NULL;
    H5Eclear2(H5E_DEFAULT);
}

bool mx_h5_exists(const struct mx_h5 *h, const char *path)
{
    if (strcmp(path, "/") == 0)
        return true;
    /* H5Lexists needs every parent to exist: check each prefix in turn. */
    char *copy = mx_strdup(path);
    bool exists = true;
    for (char *slash = strchr(copy + 1, '/'); exists; slash = strchr(slash + 1, '/')) {
        if (slash)
            *slash = '\0';
        exists = H5Lexists(h->id, copy, H5P_DEFAULT) > 0;
        if (!slash)
            break;
        *slash = '/';
    }
    free(copy);
    H5Eclear2(H5E_DEFAULT);
    return exists;
}

/* A dataset may not declare more elements than its file could plausibly hold (compression of 64
 * to 1 at most): a corrupt or crafted file must not make us allocate terabytes. */
static int check_extent(const struct mx_h5 *h, const char *path, uint64_t count, size_t size)
{
    uint64_t limit = 64 * h->bytes + (1u << 20);
    if (count > limit / size)
        return mx_error(MX_EINPUT,
                        "%s: %s: declares %llu elements, more than a file of %llu bytes "
                        "can hold",
                        h->path, path, (unsigned long long)count, (unsigned long long)h->bytes);
    return MX_OK;
}

int mx_h5_read(const struct mx_h5 *h, const char *path, enum mx_h5_type type, int rank,
               size_t dims[2], void **out)
{
    int rc = MX_OK;
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID, ftype = H5I_INVALID_HID;
    void *data = NULL;
    hsize_t shape[2] = {0, 0};
    if (!mx_h5_exists(h, path))
        return mx_error(MX_EINPUT, "%s: %s: missing dataset", h->path, path);
    dset = H5Dopen2(h->id, path, H5P_DEFAULT);
    CHECK(dset, MX_EINPUT, "not a dataset");
    ftype = H5Dget_type(dset);
    CHECK(ftype, MX_EINPUT, "unreadable type");
    H5T_class_t cls = H5Tget_class(ftype);
    if ((type == MX_H5_F64) != (cls == H5T_FLOAT) || (cls != H5T_FLOAT && cls != H5T_INTEGER)) {
        rc = mx_error(MX_EINPUT, "%s: %s: expected %s dataset", h->path, path, type_label(type));
        goto fail;
    }
    space = H5Dget_space(dset);
    CHECK(space, MX_EINPUT, "unreadable shape");
    int ndims = H5Sget_simple_extent_ndims(space);
    if (ndims != rank) {
        rc = mx_error(MX_EINPUT, "%s: %s: expected %d dimension%s, got %d", h->path, path, rank,
                      rank == 1 ? "" : "s", ndims);
        goto fail;
    }
    H5Sget_simple_extent_dims(space, shape, NULL);
    uint64_t count = (uint64_t)shape[0] * (rank == 2 ? (uint64_t)shape[1] : 1);
    if (rank == 2 && shape[1] != 0 && count / shape[1] != shape[0])
        count = UINT64_MAX;
    if ((rc = check_extent(h, path, count, mx_h5_type_size(type))) < 0)
        goto fail;
    data = mx_malloc_array((size_t)count, mx_h5_type_size(type));
    if (count > 0)
        CHECK(H5Dread(dset, type_info(type).memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), MX_EINPUT,
              "cannot read (truncated file?)");
    dims[0] = (size_t)shape[0];
    if (rank == 2)
        dims[1] = (size_t)shape[1];
    *out = data;
    data = NULL;
fail:
    free(data);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (dset >= 0)
        H5Dclose(dset);
    return rc;
}

int mx_h5_read_strings(const struct mx_h5 *h, const char *path, size_t *n, char ***out)
{
    int rc = MX_OK;
    hid_t dset = H5I_INVALID_HID, space = H5I_INVALID_HID, ftype = H5I_INVALID_HID;
    hid_t mtype = H5I_INVALID_HID;
    char **raw = NULL, **strings = NULL;
    hsize_t count = 0;
    if (!mx_h5_exists(h, path))
        return mx_error(MX_EINPUT, "%s: %s: missing dataset", h->path, path);
    dset = H5Dopen2(h->id, path, H5P_DEFAULT);
    CHECK(dset, MX_EINPUT, "not a dataset");
    ftype = H5Dget_type(dset);
    CHECK(ftype, MX_EINPUT, "unreadable type");
    if (H5Tget_class(ftype) != H5T_STRING || H5Tis_variable_str(ftype) <= 0) {
        rc = mx_error(MX_EINPUT, "%s: %s: expected a dataset of variable-length strings", h->path,
                      path);
        goto fail;
    }
    space = H5Dget_space(dset);
    CHECK(space, MX_EINPUT, "unreadable shape");
    if (H5Sget_simple_extent_ndims(space) != 1) {
        rc = mx_error(MX_EINPUT, "%s: %s: expected 1 dimension", h->path, path);
        goto fail;
    }
    H5Sget_simple_extent_dims(space, &count, NULL);
    if ((rc = check_extent(h, path, count, sizeof(char *))) < 0)
        goto fail;
    mtype = H5Tcopy(H5T_C_S1);
    H5Tset_size(mtype, H5T_VARIABLE);
    H5Tset_cset(mtype, H5Tget_cset(ftype));
    raw = MX_NEW_ARRAY(char *, count);
    strings = MX_NEW_ARRAY(char *, count);
    if (count > 0)
        CHECK(H5Dread(dset, mtype, H5S_ALL, H5S_ALL, H5P_DEFAULT, raw), MX_EINPUT,
              "cannot read (truncated file?)");
    for (hsize_t i = 0; i < count; i++)
        strings[i] = mx_strdup(raw[i] ? raw[i] : "");
    if (count > 0)
        H5Dvlen_reclaim(mtype, space, H5P_DEFAULT, raw);
    *n = (size_t)count;
    *out = strings;
    strings = NULL;
fail:
    free(raw);
    free(strings);
    if (mtype >= 0)
        H5Tclose(mtype);
    if (space >= 0)
        H5Sclose(space);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (dset >= 0)
        H5Dclose(dset);
    return rc;
}

struct name_list {
    size_t n, cap;
    char **names;
};

/* The link-info type of H5Literate changed in HDF5 1.12; the callback ignores it either way. */
#if H5_VERSION_GE(1, 12, 0)
typedef H5L_info2_t link_info;
#else
typedef H5L_info_t link_info;
#endif

static herr_t collect_name(hid_t group, const char *name, const link_info *info, void *data)
{
    (void)group;
    (void)info;
    struct name_list *list = data;
    if (list->n == list->cap) {
        list->cap = list->cap ? 2 * list->cap : 8;
        list->names = mx_realloc_array(list->names, list->cap, sizeof(char *));
    }
    list->names[list->n++] = mx_strdup(name);
    return 0;
}

int mx_h5_list(const struct mx_h5 *h, const char *path, size_t *n, char ***out)
{
    int rc = MX_OK;
    struct name_list list = {0, 0, NULL};
    hid_t group = H5I_INVALID_HID, gcpl = H5I_INVALID_HID;
    unsigned order_flags = 0;
    if (!mx_h5_exists(h, path))
        return mx_error(MX_EINPUT, "%s: %s: missing group", h->path, path);
    group = H5Gopen2(h->id, path, H5P_DEFAULT);
    CHECK(group, MX_EINPUT, "not a group");
    gcpl = H5Gget_create_plist(group);
    CHECK(gcpl, MX_EINPUT, "unreadable group properties");
    H5Pget_link_creation_order(gcpl, &order_flags);
    H5_index_t index = (order_flags & H5P_CRT_ORDER_INDEXED) ? H5_INDEX_CRT_ORDER : H5_INDEX_NAME;
    CHECK(H5Literate(group, index, H5_ITER_INC, NULL, collect_name, &list), MX_EINPUT,
          "cannot list members");
    *n = list.n;
    *out = list.names;
    list.names = NULL;
fail:
    if (list.names) {
        for (size_t i = 0; i < list.n; i++)
            free(list.names[i]);
        free(list.names);
    }
    if (gcpl >= 0)
        H5Pclose(gcpl);
    if (group >= 0)
        H5Gclose(group);
    return rc;
}

/* An attribute is read into one value: it must hold exactly one (a scalar, or an array of one),
 * or HDF5 would write past it. */
static int check_single(const struct mx_h5 *h, const char *path, const char *name, hid_t attr)
{
    int rc = MX_OK;
    hid_t space = H5Aget_space(attr);
    CHECK(space, MX_EINPUT, "unreadable attribute shape");
    hssize_t n = H5Sget_simple_extent_npoints(space);
    if (n != 1)
        rc = mx_error(MX_EINPUT, "%s: %s: attribute \"%s\" holds %lld values, expected one",
                      h->path, path, name, (long long)n);
fail:
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

/* Read a scalar attribute of memory type mtype into buf after checking its class and shape. */
static int read_attr_scalar(const struct mx_h5 *h, const char *path, const char *name,
                            H5T_class_t want, hid_t mtype, void *buf)
{
    int rc = MX_OK;
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID;
    if (H5Aexists_by_name(h->id, path, name, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return mx_error(MX_EINPUT, "%s: %s: missing attribute \"%s\"", h->path, path, name);
    }
    attr = H5Aopen_by_name(h->id, path, name, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(attr, MX_EINPUT, "cannot open attribute");
    ftype = H5Aget_type(attr);
    CHECK(ftype, MX_EINPUT, "unreadable attribute type");
    H5T_class_t cls = H5Tget_class(ftype);
    if (cls != want && !(want == H5T_FLOAT && cls == H5T_INTEGER)) {
        rc =
            mx_error(MX_EINPUT, "%s: %s: attribute \"%s\" has the wrong type", h->path, path, name);
        goto fail;
    }
    if ((rc = check_single(h, path, name, attr)) < 0)
        goto fail;
    CHECK(H5Aread(attr, mtype, buf), MX_EINPUT, "cannot read attribute");
fail:
    if (ftype >= 0)
        H5Tclose(ftype);
    if (attr >= 0)
        H5Aclose(attr);
    return rc;
}

int mx_h5_attr_read_i64(const struct mx_h5 *h, const char *path, const char *name, int64_t *out)
{
    return read_attr_scalar(h, path, name, H5T_INTEGER, H5T_NATIVE_INT64, out);
}

int mx_h5_attr_read_f64(const struct mx_h5 *h, const char *path, const char *name, double *out)
{
    return read_attr_scalar(h, path, name, H5T_FLOAT, H5T_NATIVE_DOUBLE, out);
}

int mx_h5_attr_read_opt_str(const struct mx_h5 *h, const char *path, const char *name, char **out)
{
    int rc = MX_OK;
    hid_t attr = H5I_INVALID_HID, ftype = H5I_INVALID_HID, mtype = H5I_INVALID_HID;
    *out = NULL;
    if (H5Aexists_by_name(h->id, path, name, H5P_DEFAULT) <= 0) {
        H5Eclear2(H5E_DEFAULT);
        return MX_OK;
    }
    attr = H5Aopen_by_name(h->id, path, name, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(attr, MX_EINPUT, "cannot open attribute");
    ftype = H5Aget_type(attr);
    CHECK(ftype, MX_EINPUT, "unreadable attribute type");
    if (H5Tget_class(ftype) != H5T_STRING) {
        rc = mx_error(MX_EINPUT, "%s: %s: attribute \"%s\" is not a string", h->path, path, name);
        goto fail;
    }
    if ((rc = check_single(h, path, name, attr)) < 0)
        goto fail;
    mtype = H5Tcopy(H5T_C_S1);
    H5Tset_cset(mtype, H5Tget_cset(ftype)); /* HDF5 does not convert between character sets */
    if (H5Tis_variable_str(ftype) > 0) {
        char *value = NULL;
        H5Tset_size(mtype, H5T_VARIABLE);
        CHECK(H5Aread(attr, mtype, &value), MX_EINPUT, "cannot read attribute");
        *out = mx_strdup(value ? value : "");
        H5free_memory(value);
    } else {
        size_t size = H5Tget_size(ftype);
        H5Tset_size(mtype, size + 1);
        char *value = mx_calloc(size + 1, 1);
        if (H5Aread(attr, mtype, value) < 0) {
            free(value);
            rc = h5_fail(MX_EINPUT, h->path, path, "cannot read attribute");
            goto fail;
        }
        *out = value;
    }
fail:
    if (mtype >= 0)
        H5Tclose(mtype);
    if (ftype >= 0)
        H5Tclose(ftype);
    if (attr >= 0)
        H5Aclose(attr);
    return rc;
}

int mx_h5_attr_read_str(const struct mx_h5 *h, const char *path, const char *name, char **out)
{
    int rc = mx_h5_attr_read_opt_str(h, path, name, out);
    if (rc == MX_OK && !*out)
        rc = mx_error(MX_EINPUT, "%s: %s: missing attribute \"%s\"", h->path, path, name);
    return rc;
}

int mx_h5_group(struct mx_h5 *h, const char *path)
{
    int rc = MX_OK;
    hid_t gcpl = object_properties(H5P_GROUP_CREATE);
    hid_t group = H5I_INVALID_HID;
    CHECK(gcpl, MX_EIO, "cannot set group properties");
    group = H5Gcreate2(h->id, path, H5P_DEFAULT, gcpl, H5P_DEFAULT);
    CHECK(group, MX_EIO, "cannot create group");
fail:
    if (group >= 0)
        H5Gclose(group);
    if (gcpl >= 0)
        H5Pclose(gcpl);
    return rc;
}

int mx_h5_write(struct mx_h5 *h, const char *path, enum mx_h5_type type, int rank,
                const size_t dims[2], const void *data)
{
    int rc = MX_OK;
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID;
    hid_t dcpl = object_properties(H5P_DATASET_CREATE);
    hsize_t shape[2] = {dims[0], rank == 2 ? dims[1] : 1};
    CHECK(dcpl, MX_EIO, "cannot set dataset properties");
    space = H5Screate_simple(rank, shape, NULL);
    CHECK(space, MX_EIO, "cannot create dataspace");
    dset = H5Dcreate2(h->id, path, type_info(type).file, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(dset, MX_EIO, "cannot create dataset");
    if (shape[0] * shape[1] > 0)
        CHECK(H5Dwrite(dset, type_info(type).memory, H5S_ALL, H5S_ALL, H5P_DEFAULT, data), MX_EIO,
              "cannot write dataset");
fail:
    if (dset >= 0)
        H5Dclose(dset);
    if (space >= 0)
        H5Sclose(space);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return rc;
}

int mx_h5_write_strings(struct mx_h5 *h, const char *path, size_t n, const char *const *strings)
{
    int rc = MX_OK;
    hid_t space = H5I_INVALID_HID, dset = H5I_INVALID_HID, stype = H5I_INVALID_HID;
    hid_t dcpl = object_properties(H5P_DATASET_CREATE);
    hsize_t shape = n;
    CHECK(dcpl, MX_EIO, "cannot set dataset properties");
    stype = H5Tcopy(H5T_C_S1);
    H5Tset_size(stype, H5T_VARIABLE);
    H5Tset_cset(stype, H5T_CSET_UTF8);
    space = H5Screate_simple(1, &shape, NULL);
    CHECK(space, MX_EIO, "cannot create dataspace");
    dset = H5Dcreate2(h->id, path, stype, space, H5P_DEFAULT, dcpl, H5P_DEFAULT);
    CHECK(dset, MX_EIO, "cannot create dataset");
    if (n > 0)
        CHECK(H5Dwrite(dset, stype, H5S_ALL, H5S_ALL, H5P_DEFAULT, strings), MX_EIO,
              "cannot write dataset");
fail:
    if (dset >= 0)
        H5Dclose(dset);
    if (space >= 0)
        H5Sclose(space);
    if (stype >= 0)
        H5Tclose(stype);
    if (dcpl >= 0)
        H5Pclose(dcpl);
    return rc;
}

static int write_attr(struct mx_h5 *h, const char *path, const char *name, hid_t ftype, hid_t mtype,
                      const void *value)
{
    int rc = MX_OK;
    hid_t space = H5Screate(H5S_SCALAR), attr = H5I_INVALID_HID;
    CHECK(space, MX_EIO, "cannot create dataspace");
    attr =
        H5Acreate_by_name(h->id, path, name, ftype, space, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
    CHECK(attr, MX_EIO, "cannot create attribute");
    CHECK(H5Awrite(attr, mtype, value), MX_EIO, "cannot write attribute");
fail:
    if (attr >= 0)
        H5Aclose(attr);
    if (space >= 0)
        H5Sclose(space);
    return rc;
}

int mx_h5_attr_write_str(struct mx_h5 *h, const char *path, const char *name, const char *value)
{
    /* Fixed-length strings sized to the value: simplest for other tools (h5dump, h5py) to read. */
    hid_t stype = H5Tcopy(H5T_C_S1);
    size_t len = strlen(value);
    H5Tset_size(stype, len > 0 ? len : 1);
    H5Tset_strpad(stype, H5T_STR_NULLPAD);
    H5Tset_cset(stype, H5T_CSET_UTF8);
    int rc = write_attr(h, path, name, stype, stype, len > 0 ? value : "");
    H5Tclose(stype);
    return rc;
}

int mx_h5_attr_write_i64(struct mx_h5 *h, const char *path, const char *name, int64_t value)
{
    return write_attr(h, path, name, H5T_STD_I64LE, H5T_NATIVE_INT64, &value);
}

int mx_h5_attr_write_f64(struct mx_h5 *h, const char *path, const char *name, double value)
{
    return write_attr(h, path, name, H5T_IEEE_F64LE, H5T_NATIVE_DOUBLE, &value);
}
