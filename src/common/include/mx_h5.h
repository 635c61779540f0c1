/* HDF5 files for muxplan: validated reads, deterministic atomic writes.
 *
 * Objects are named by absolute path ("/models/bert-1.3b/dp1_op1_pp2/weight_bytes"); every error
 * names the file and that path and carries HDF5's own innermost reason. HDF5's automatic error
 * printing is silenced. Writers produce byte-identical files for identical content: object
 * modification times are not recorded, and links keep their creation order. */
#ifndef MX_H5_H
#define MX_H5_H

#include "mx_file.h"

#include <hdf5.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* An open muxplan HDF5 file. */
struct mx_h5 {
    hid_t id;                  /* read-only: the HDF5 file */
    char *path;                /* read-only: the name used in messages */
    bool writing;              /* private */
    uint64_t bytes;            /* private: the file's size when opened for reading */
    struct mx_out out;         /* private: the atomic output when writing */
    struct mx_h5_image *image; /* private: the file in memory when writing */
};

/* Element types of datasets and attributes. */
enum mx_h5_type { MX_H5_F64, MX_H5_I64, MX_H5_I32, MX_H5_U8 };

/* Size in bytes of one element of t in memory. */
size_t mx_h5_type_size(enum mx_h5_type t);

/* Open path for reading and check its root "format" attribute is "muxplan-KIND/N" with
 * N <= max_version. Not an HDF5 file, truncated, or wrong format: MX_EINPUT. */
int mx_h5_open(const char *path, const char *kind, int max_version, struct mx_h5 *h);

/* Create path (atomically: nothing appears there before mx_h5_close) and write the root "format"
 * attribute "muxplan-KIND/VERSION". */
int mx_h5_create(const char *file, const char *kind, int version, struct mx_h5 *h);

/* Close; a file being written is moved into place. On failure nothing is left at the path. */
int mx_h5_close(struct mx_h5 *h);

/* Close without keeping anything; safe on a zeroed or already closed handle. */
void mx_h5_abort(struct mx_h5 *h);

/* Whether the object at path (a group or dataset) exists. */
bool mx_h5_exists(const struct mx_h5 *h, const char *path);

/* Read the numeric dataset at path, of rank 1 or 2, converting to type. The dataset's class must
 * match (float for MX_H5_F64, integer otherwise). dims receives its shape ([n] or [rows, cols]).
 * The caller frees *out. */
int mx_h5_read(const struct mx_h5 *h, const char *path, enum mx_h5_type type, int rank,
               size_t dims[2], void **out);

/* Read a 1-D dataset of strings. The caller frees each string and the array. */
int mx_h5_read_strings(const struct mx_h5 *h, const char *path, size_t *n, char ***out);

/* Names of the children of the group at path, in creation order (name order for files written
 * without creation order). The caller frees each name and the array. */
int mx_h5_list(const struct mx_h5 *h, const char *path, size_t *n, char ***out);

/* Attributes on the object at path ("/" for the root). A missing attribute is an error for the
 * required forms; the optional string form returns MX_OK with *out NULL. */
int mx_h5_attr_read_str(const struct mx_h5 *h, const char *path, const char *name, char **out);
int mx_h5_attr_read_opt_str(const struct mx_h5 *h, const char *path, const char *name, char **out);
int mx_h5_attr_read_i64(const struct mx_h5 *h, const char *path, const char *name, int64_t *out);
int mx_h5_attr_read_f64(const struct mx_h5 *h, const char *path, const char *name, double *out);

/* Writers. Groups along path must exist (mx_h5_group). */
int mx_h5_group(struct mx_h5 *h, const char *path);
int mx_h5_write(struct mx_h5 *h, const char *path, enum mx_h5_type type, int rank,
                const size_t dims[2], const void *data);
int mx_h5_write_strings(struct mx_h5 *h, const char *path, size_t n, const char *const *strings);
int mx_h5_attr_write_str(struct mx_h5 *h, const char *path, const char *name, const char *value);
int mx_h5_attr_write_i64(struct mx_h5 *h, const char *path, const char *name, int64_t value);
int mx_h5_attr_write_f64(struct mx_h5 *h, const char *path, const char *name, double value);

#endif
