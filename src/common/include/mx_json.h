/* Reading and writing muxplan's JSON files with jansson.
 *
 * Readers walk the document with a place (struct mx_jpath) that lives on the stack and chains to
 * its parent, so every error names the file and the member: "plan.json: groups[2].devices[0]:
 * expected a non-negative integer". Syntax errors carry jansson's line and column: "plan.json:3:14:
 * ...". Every function returns MX_OK or MX_EINPUT with the message already recorded (mx_error). */
#ifndef MX_JSON_H
#define MX_JSON_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A place in a JSON document: the root names the file, each child one member or element. */
struct mx_jpath {
    const struct mx_jpath *parent; /* NULL at the root */
    const char *file;              /* root only: the file name used in messages */
    const char *key;               /* member name, or NULL for an array element */
    size_t index;                  /* array element index when key is NULL */
};

static inline struct mx_jpath mx_jpath_root(const char *file)
{
    return (struct mx_jpath){.parent = NULL, .file = file, .key = NULL, .index = 0};
}

static inline struct mx_jpath mx_jpath_key(const struct mx_jpath *parent, const char *key)
{
    return (struct mx_jpath){.parent = parent, .file = NULL, .key = key, .index = 0};
}

static inline struct mx_jpath mx_jpath_index(const struct mx_jpath *parent, size_t index)
{
    return (struct mx_jpath){.parent = parent, .file = NULL, .key = NULL, .index = index};
}

/* Write "FILE: PATH" (or "FILE" at the root) into buf, cut to size. */
void mx_jpath_describe(const struct mx_jpath *at, char *buf, size_t size);

/* Record "FILE: PATH: MESSAGE" (or "FILE: MESSAGE" at the root) and return MX_EINPUT. */
int mx_jpath_error(const struct mx_jpath *at, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Load file. A missing or unreadable file, a syntax error (with line:column) or duplicate keys are
 * MX_EINPUT. On success the caller owns *out and releases it with json_decref(). */
int mx_json_load(const char *file, json_t **out);

/* Check that root is an object whose "format" is "muxplan-KIND/N" with 1 <= N <= max_version. */
int mx_json_check_format(const struct mx_jpath *at, json_t *root, const char *kind,
                         int max_version);

/* Check that every member of obj is named in allowed (a NULL-terminated list). */
int mx_json_check_keys(const struct mx_jpath *at, json_t *obj, const char *const *allowed);

/* Type checks on a value at a place. mx_json_expect_array gives the array's length in *len (may be
 * NULL), 0 when v is no array of at least min_len elements. */
int mx_json_expect_object(const struct mx_jpath *at, json_t *v);
int mx_json_expect_array(const struct mx_jpath *at, json_t *v, size_t min_len, size_t *len);
/* An integer within [min, max]; an integral real such as 4.0 is accepted. */
int mx_json_to_i64(const struct mx_jpath *at, json_t *v, int64_t min, int64_t max, int64_t *out);
/* A finite number within [min, max]. */
int mx_json_to_f64(const struct mx_jpath *at, json_t *v, double min, double max, double *out);
/* A non-empty string; borrowed from v. */
int mx_json_to_str(const struct mx_jpath *at, json_t *v, const char **out);

/* Members of obj. The required forms fail when the member is absent; the optional ones leave *out
 * unchanged and set *present (if not NULL) to false. */
int mx_json_get(const struct mx_jpath *at, json_t *obj, const char *key, json_t **out);
int mx_json_get_i64(const struct mx_jpath *at, json_t *obj, const char *key, int64_t min,
                    int64_t max, int64_t *out);
int mx_json_get_f64(const struct mx_jpath *at, json_t *obj, const char *key, double min, double max,
                    double *out);
int mx_json_get_str(const struct mx_jpath *at, json_t *obj, const char *key, const char **out);
int mx_json_opt_f64(const struct mx_jpath *at, json_t *obj, const char *key, double min, double max,
                    double *out, bool *present);
int mx_json_opt_str(const struct mx_jpath *at, json_t *obj, const char *key, const char **out,
                    bool *present);
int mx_json_opt_i64(const struct mx_jpath *at, json_t *obj, const char *key, int64_t min,
                    int64_t max, int64_t *out, bool *present);
/* A string member that must be one of names[0..n): *out is its index. */
int mx_json_opt_choice(const struct mx_jpath *at, json_t *obj, const char *key,
                       const char *const *names, int n, int *out);

/* The index of name among names[0..n), or -1. */
int mx_name_index(const char *const *names, int n, const char *name);

/* Write root to path atomically, indented, keys in insertion order, reals with the fewest digits
 * (15 to 17, one count for the whole document) that read back exactly. Errors are MX_EIO. Borrows
 * root. */
int mx_json_write_file(const char *path, json_t *root);

/* Print root to stream with the same formatting and a final newline. */
int mx_json_print(FILE *stream, json_t *root);

/* Builders that abort on out-of-memory, for writers: mx_json_set(obj, "k", json_integer(3)). */
void mx_json_set(json_t *obj, const char *key, json_t *value);
void mx_json_append(json_t *array, json_t *value);
/* A real, or null when v is not finite (an undefined statistic such as the mean of nothing). */
json_t *mx_json_real_or_null(double v);
/* A new array of n doubles, or of n int64 values. */
json_t *mx_json_f64_array(const double *v, size_t n);
json_t *mx_json_i64_array(const int64_t *v, size_t n);

#endif
