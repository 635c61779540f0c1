/* Validating JSON access for muxplan's readers, and atomic JSON writers.
 *
 * jansson parses; this file turns its values into checked C values and its failures into messages
 * that name the file and the place. jansson keeps no positions after parsing, so semantic errors
 * name the JSON path and syntax errors name line:column. */
#include "mx_json.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_file.h"

#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

/* Significant digits that write v so that it reads back exactly: 15 for every number a person
 * types, up to 17 for computed ones. */
static int exact_digits(double v)
{
    char buf[32];
    for (int digits = 15; digits < 17; digits++) {
        snprintf(buf, sizeof(buf), "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            return digits;
    }
    return 17;
}

/* The digits the document's reals need: jansson takes one precision per dump. */
static int document_digits(json_t *v)
{
    int most = 15;
    size_t i;
    const char *key;
    json_t *child;
    switch (json_typeof(v)) {
    case JSON_REAL:
        return exact_digits(json_real_value(v));
    case JSON_ARRAY:
        json_array_foreach(v, i, child)
        {
            int d = document_digits(child);
            most = d > most ? d : most;
        }
        return most;
    case JSON_OBJECT:
        json_object_foreach(v, key, child)
        {
            int d = document_digits(child);
            most = d > most ? d : most;
        }
        return most;
    default:
        return most;
    }
}

static size_t write_flags(json_t *root)
{
    return JSON_INDENT(2) | JSON_REAL_PRECISION(document_digits(root));
}

/* Append the path from the root to at into buf (without the file). */
static size_t format_path(const struct mx_jpath *at, char *buf, size_t size)
{
    if (!at || !at->parent)
        return 0;
    size_t len = format_path(at->parent, buf, size);
    int n;
    if (at->key)
        n = snprintf(buf + len, size - len, "%s%s", len ? "." : "", at->key);
    else
        n = snprintf(buf + len, size - len, "[%zu]", at->index);
    if (n < 0)
        return len;
    len += (size_t)n;
    return len < size ? len : size - 1;
}

static const char *root_file(const struct mx_jpath *at)
{
    while (at->parent)
        at = at->parent;
    return at->file ? at->file : "<json>";
}

void mx_jpath_describe(const struct mx_jpath *at, char *buf, size_t size)
{
    char path[512] = "";
    format_path(at, path, sizeof(path));
    if (path[0])
        snprintf(buf, size, "%s: %s", root_file(at), path);
    else
        snprintf(buf, size, "%s", root_file(at));
}

int mx_jpath_error(const struct mx_jpath *at, const char *fmt, ...)
{
    char place[640];
    char what[1024];
    va_list ap;
    mx_jpath_describe(at, place, sizeof(place));
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mx_error(MX_EINPUT, "%s: %s", place, what);
}

int mx_json_load(const char *file, json_t **out)
{
    json_error_t err;
    int rc = mx_input_check(file);
    if (rc < 0)
        return rc;
    FILE *fp = fopen(file, "rb");
    if (!fp)
        return mx_error(MX_EINPUT, "%s: cannot open: %s", file, strerror(errno));
    json_t *root = json_loadf(fp, JSON_REJECT_DUPLICATES, &err);
    fclose(fp);
    if (!root) {
        /* jansson names its decoding flag; say what is wrong with the text instead. */
        if (strstr(err.text, "NUL") || strstr(err.text, "\\u0000"))
            snprintf(err.text, sizeof(err.text), "a NUL character (\\u0000) in a string");
        if (err.line > 0)
            return mx_error(MX_EINPUT, "%s:%d:%d: %s", file, err.line, err.column, err.text);
        return mx_error(MX_EINPUT, "%s: %s", file, err.text);
    }
    *out = root;
    return MX_OK;
}

static const char *type_name(json_t *v)
{
    switch (json_typeof(v)) {
    case JSON_OBJECT:
        return "an object";
    case JSON_ARRAY:
        return "an array";
    case JSON_STRING:
        return "a string";
    case JSON_INTEGER:
    case JSON_REAL:
        return "a number";
    case JSON_TRUE:
    case JSON_FALSE:
        return "a boolean";
    case JSON_NULL:
        return "null";
    }
    return "a value";
}

int mx_json_expect_object(const struct mx_jpath *at, json_t *v)
{
    if (!json_is_object(v))
        return mx_jpath_error(at, "expected an object, got %s", type_name(v));
    return MX_OK;
}

int mx_json_expect_array(const struct mx_jpath *at, json_t *v, size_t min_len, size_t *len)
{
    if (len)
        *len = 0; /* a caller that sizes an allocation by it before checking gets none */
    if (!json_is_array(v))
        return mx_jpath_error(at, "expected an array, got %s", type_name(v));
    if (json_array_size(v) < min_len)
        return mx_jpath_error(at, "expected at least %zu element%s, got %zu", min_len,
                              min_len == 1 ? "" : "s", json_array_size(v));
    if (len)
        *len = json_array_size(v);
    return MX_OK;
}

int mx_json_to_i64(const struct mx_jpath *at, json_t *v, int64_t min, int64_t max, int64_t *out)
{
    int64_t value;
    if (json_is_integer(v)) {
        value = json_integer_value(v);
    } else if (json_is_real(v)) {
        double d = json_real_value(v);
        if (!(d == floor(d) && fabs(d) < 9.0e18))
            return mx_jpath_error(at, "expected an integer, got %.17g", d);
        value = (int64_t)d;
    } else {
        return mx_jpath_error(at, "expected an integer, got %s", type_name(v));
    }
    if (value < min || value > max)
        return mx_jpath_error(at, "%lld is out of range [%lld, %lld]", (long long)value,
                              (long long)min, (long long)max);
    *out = value;
    return MX_OK;
}

int mx_json_to_f64(const struct mx_jpath *at, json_t *v, double min, double max, double *out)
{
    if (!json_is_number(v))
        return mx_jpath_error(at, "expected a number, got %s", type_name(v));
    double value = json_number_value(v);
    if (!isfinite(value))
        return mx_jpath_error(at, "expected a finite number");
    if (value < min || value > max)
        return mx_jpath_error(at, "%.17g is out of range [%.17g, %.17g]", value, min, max);
    *out = value;
    return MX_OK;
}

int mx_json_to_str(const struct mx_jpath *at, json_t *v, const char **out)
{
    if (!json_is_string(v))
        return mx_jpath_error(at, "expected a string, got %s", type_name(v));
    if (json_string_length(v) == 0)
        return mx_jpath_error(at, "expected a non-empty string");
    if (strlen(json_string_value(v)) != json_string_length(v))
        return mx_jpath_error(at, "string contains a NUL character");
    *out = json_string_value(v);
    return MX_OK;
}

int mx_json_check_format(const struct mx_jpath *at, json_t *root, const char *kind, int max_version)
{
    const char *format;
    char prefix[64];
    int rc = mx_json_expect_object(at, root);
    if (rc < 0)
        return rc;
    if ((rc = mx_json_get_str(at, root, "format", &format)) < 0)
        return rc;
    int n = snprintf(prefix, sizeof(prefix), "muxplan-%s/", kind);
    char *end = NULL;
    long version = 0;
    if (strncmp(format, prefix, (size_t)n) == 0) {
        errno = 0;
        version = strtol(format + n, &end, 10);
    }
    if (!end || *end || errno || version < 1) {
        struct mx_jpath fp = mx_jpath_key(at, "format");
        return mx_jpath_error(&fp, "expected \"%s%d\", got \"%s\"", prefix, max_version, format);
    }
    if (version > max_version) {
        struct mx_jpath fp = mx_jpath_key(at, "format");
        return mx_jpath_error(&fp, "version %ld is newer than this muxplan reads (%s%d)", version,
                              prefix, max_version);
    }
    return MX_OK;
}

int mx_json_check_keys(const struct mx_jpath *at, json_t *obj, const char *const *allowed)
{
    const char *key;
    json_t *value;
    json_object_foreach(obj, key, value)
    {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = strcmp(*a, key) == 0;
        if (!known) {
            char list[512] = "";
            size_t len = 0;
            for (const char *const *a = allowed; *a && len < sizeof(list); a++) {
                int n =
                    snprintf(list + len, sizeof(list) - len, "%s%s", a == allowed ? "" : ", ", *a);
                len += n > 0 ? (size_t)n : 0;
            }
            return mx_jpath_error(at, "unknown member \"%s\" (expected one of: %s)", key, list);
        }
    }
    return MX_OK;
}

int mx_json_get(const struct mx_jpath *at, json_t *obj, const char *key, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    if (!v)
        return mx_jpath_error(at, "missing member \"%s\"", key);
    *out = v;
    return MX_OK;
}

/* The shared body of the typed getters: look up key, then convert it at its own place. */
#define GET_TYPED(convert, ...)                                                                    \
    do {                                                                                           \
        json_t *v;                                                                                 \
        int rc_ = mx_json_get(at, obj, key, &v);                                                   \
        if (rc_ < 0)                                                                               \
            return rc_;                                                                            \
        struct mx_jpath child = mx_jpath_key(at, key);                                             \
        return convert(&child, v, __VA_ARGS__);                                                    \
    } while (0)

#define OPT_TYPED(convert, ...)                                                                    \
    do {                                                                                           \
        json_t *v = json_object_get(obj, key);                                                     \
        if (present)                                                                               \
            *present = v != NULL;                                                                  \
        if (!v)                                                                                    \
            return MX_OK;                                                                          \
        struct mx_jpath child = mx_jpath_key(at, key);                                             \
        return convert(&child, v, __VA_ARGS__);                                                    \
    } while (0)

int mx_json_get_i64(const struct mx_jpath *at, json_t *obj, const char *key, int64_t min,
                    int64_t max, int64_t *out)
{
    GET_TYPED(mx_json_to_i64, min, max, out);
}

int mx_json_get_f64(const struct mx_jpath *at, json_t *obj, const char *key, double min, double max,
                    double *out)
{
    GET_TYPED(mx_json_to_f64, min, max, out);
}

int mx_json_get_str(const struct mx_jpath *at, json_t *obj, const char *key, const char **out)
{
    GET_TYPED(mx_json_to_str, out);
}

int mx_json_opt_f64(const struct mx_jpath *at, json_t *obj, const char *key, double min, double max,
                    double *out, bool *present)
{
    OPT_TYPED(mx_json_to_f64, min, max, out);
}

int mx_json_opt_str(const struct mx_jpath *at, json_t *obj, const char *key, const char **out,
                    bool *present)
{
    OPT_TYPED(mx_json_to_str, out);
}

int mx_json_opt_i64(const struct mx_jpath *at, json_t *obj, const char *key, int64_t min,
                    int64_t max, int64_t *out, bool *present)
{
    OPT_TYPED(mx_json_to_i64, min, max, out);
}

int mx_name_index(const char *const *names, int n, const char *name)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], name) == 0)
            return i;
    return -1;
}

int mx_json_opt_choice(const struct mx_jpath *at, json_t *obj, const char *key,
                       const char *const *names, int n, int *out)
{
    const char *name;
    bool present;
    int rc = mx_json_opt_str(at, obj, key, &name, &present);
    if (rc < 0 || !present)
        return rc;
    int index = mx_name_index(names, n, name);
    if (index >= 0) {
        *out = index;
        return MX_OK;
    }
    char expected[256] = "";
    for (int i = 0; i < n; i++)
        snprintf(expected + strlen(expected), sizeof expected - strlen(expected), "%s%s",
                 i == 0       ? ""
                 : i + 1 == n ? " or "
                              : ", ",
                 names[i]);
    struct mx_jpath child = mx_jpath_key(at, key);
    return mx_jpath_error(&child, "unknown \"%s\" (expected %s)", name, expected);
}

int mx_json_write_file(const char *path, json_t *root)
{
    struct mx_out out;
    int rc = mx_out_begin(path, true, &out);
    if (rc < 0)
        return rc;
    if (json_dumpf(root, out.fp, write_flags(root)) != 0 || fputc('\n', out.fp) == EOF)
        return mx_out_fail(&out);
    return mx_out_commit(&out);
}

int mx_json_print(FILE *stream, json_t *root)
{
    if (json_dumpf(root, stream, write_flags(root)) != 0 || fputc('\n', stream) == EOF)
        return mx_error(MX_EIO, "cannot write JSON output");
    return MX_OK;
}

void mx_json_set(json_t *obj, const char *key, json_t *value)
{
    if (!value || json_object_set_new(obj, key, value) != 0)
        MX_BUG("cannot set JSON member \"%s\"", key);
}

void mx_json_append(json_t *array, json_t *value)
{
    if (!value || json_array_append_new(array, value) != 0)
        MX_BUG("cannot append to a JSON array");
}

json_t *mx_json_real_or_null(double v)
{
    return isfinite(v) ? json_real(v) : json_null();
}

json_t *mx_json_f64_array(const double *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        mx_json_append(a, json_real(v[i]));
    return a;
}

json_t *mx_json_i64_array(const int64_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        mx_json_append(a, json_integer(v[i]));
    return a;
}
