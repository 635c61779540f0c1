/* Timestamp traces in delimited text (CSV, TSV) and JSON Lines: one request per row, a time column
 * and an optional key column. */
#include "wl_import_int.h"

#include "mx_alloc.h"
#include "mx_csv.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_time.h"

#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

char *wl__file_key(const char *path)
{
    const char *slash = strrchr(path, '/');
    char *name = mx_strdup(slash ? slash + 1 : path);
    char *dot = strrchr(name, '.');
    if (dot && dot != name)
        *dot = '\0';
    return name;
}

int wl__accept_row(struct wl_source *src, const char *path, size_t line, const char *time_column,
                   double time_s, const char *key)
{
    struct wl_arrivals *a = &src->arrivals;
    src->rows++;
    if (!key[0]) {
        src->skipped_rows++;
        return MX_OK;
    }
    if (!mx_time_s_valid(time_s))
        return mx_error(MX_EINPUT, "%s:%zu: %s: %.6g s after the first row is out of range", path,
                        line, time_column, time_s);
    if (a->n > 0 && time_s < a->time_s[a->n - 1])
        return mx_error(MX_EINPUT,
                        "%s:%zu: %s: time goes backwards (%.9g s before the previous row); "
                        "rows must be sorted by time",
                        path, line, time_column, a->time_s[a->n - 1] - time_s);
    wl__arrivals_push(a, time_s, wl__keys_intern(&a->keys, key));
    return MX_OK;
}

/* The requests were all read: at least one is needed, and time 0 becomes the first request's. */
static int finish(struct wl_source *src, const char *path)
{
    struct wl_arrivals *a = &src->arrivals;
    if (a->n == 0)
        return mx_error(MX_EINPUT, "%s: no requests%s", path,
                        src->skipped_rows ? " (every row has an empty key)" : "");
    double origin = a->time_s[0];
    for (size_t i = 0; i < a->n; i++)
        a->time_s[i] -= origin;
    a->end_s = a->time_s[a->n - 1];
    return MX_OK;
}

static int header_column(const struct mx_csv *csv, const char *name, const char *what)
{
    int column = mx_csv_column(csv, name);
    if (column < 0)
        return mx_error(MX_EINPUT, "%s:%zu: the header has no %s column \"%s\"", csv->path,
                        csv->line, what, name);
    return column;
}

int wl__read_text(const char *path, const struct wl_import_spec *spec, char sep,
                  struct wl_source *out)
{
    const char *time_column = spec->time_column ? spec->time_column : "arrival_s";
    struct wl_time_parser parser;
    struct mx_csv csv;
    char *default_key = NULL;
    int time_at, key_at = -1, rc;
    if ((rc = wl__time_parser_init(&parser, spec->time_unit, spec->time_format)) < 0)
        return rc;
    if ((rc = mx_csv_open(path, sep, &csv)) < 0)
        return rc;
    if ((rc = mx_csv_header(&csv)) < 0)
        goto done;
    if ((rc = time_at = header_column(&csv, time_column, "time")) < 0)
        goto done;
    if (spec->key_column && (rc = key_at = header_column(&csv, spec->key_column, "key")) < 0)
        goto done;
    default_key = wl__file_key(path);
    int needed = key_at > time_at ? key_at : time_at;
    while ((rc = mx_csv_next(&csv)) > 0) {
        if ((size_t)needed >= csv.n_fields) {
            rc = mx_error(MX_EINPUT, "%s:%zu: the row has %zu fields, the header names %d or more",
                          path, csv.line, csv.n_fields, needed + 1);
            goto done;
        }
        double time_s;
        const char *text = csv.fields[time_at];
        if (!wl__time_parse(&parser, text, &time_s)) {
            rc = mx_error(MX_EINPUT, "%s:%zu: %s: \"%s\" is not a time (%s)", path, csv.line,
                          time_column, text, spec->time_unit ? spec->time_unit : "s");
            goto done;
        }
        const char *key = key_at >= 0 ? csv.fields[key_at] : default_key;
        if ((rc = wl__accept_row(out, path, csv.line, time_column, time_s, key)) < 0)
            goto done;
    }
    if (rc == 0)
        rc = finish(out, path);
done:
    free(default_key);
    mx_csv_close(&csv);
    return rc;
}

/* A JSON key value as text: strings as they are, integers in decimal; NULL otherwise. */
static const char *json_key_text(const json_t *value, char buf[32])
{
    if (json_is_string(value))
        return json_string_value(value);
    if (json_is_integer(value)) {
        snprintf(buf, 32, "%lld", (long long)json_integer_value(value));
        return buf;
    }
    return NULL;
}

/* One JSONL line into (time, key); rc < 0 names the problem. */
static int jsonl_row(const char *path, size_t line, const char *text, size_t len,
                     const char *time_field, const char *key_field, struct wl_time_parser *parser,
                     double *time_s, const char **key, char key_buf[32], json_t **holder)
{
    json_error_t error;
    json_t *row = json_loadb(text, len, JSON_DECODE_ANY | JSON_REJECT_DUPLICATES, &error);
    *holder = row;
    if (!row)
        return mx_error(MX_EINPUT, "%s:%zu:%d: %s", path, line, error.column, error.text);
    if (!json_is_object(row))
        return mx_error(MX_EINPUT, "%s:%zu: expected a JSON object", path, line);
    json_t *time = json_object_get(row, time_field);
    if (!time)
        return mx_error(MX_EINPUT, "%s:%zu: no field \"%s\"", path, line, time_field);
    bool ok = parser->unit_s > 0
                  ? json_is_number(time) &&
                        (*time_s = wl__time_from_number(parser, json_number_value(time)), true)
                  : json_is_string(time) && wl__time_parse(parser, json_string_value(time), time_s);
    if (!ok)
        return mx_error(MX_EINPUT, "%s:%zu: %s: not a time (%s)", path, line, time_field,
                        parser->unit_s > 0 ? "expected a number" : "expected a date-time string");
    if (!key_field)
        return MX_OK;
    json_t *key_value = json_object_get(row, key_field);
    if (!key_value || json_is_null(key_value)) {
        *key = "";
        return MX_OK;
    }
    if (!(*key = json_key_text(key_value, key_buf)))
        return mx_error(MX_EINPUT, "%s:%zu: %s: expected a string or an integer", path, line,
                        key_field);
    return MX_OK;
}

int wl__read_jsonl(const char *path, const struct wl_import_spec *spec, struct wl_source *out)
{
    const char *time_field = spec->time_column ? spec->time_column : "timestamp";
    struct wl_time_parser parser;
    char *text = NULL, *default_key = NULL;
    size_t cap = 0, line = 0;
    ssize_t len;
    int rc;
    if ((rc = wl__time_parser_init(&parser, spec->time_unit, spec->time_format)) < 0)
        return rc;
    if ((rc = mx_input_check(path)) < 0)
        return rc;
    FILE *fp = fopen(path, "rb");
    if (!fp)
        return mx_error(MX_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    default_key = wl__file_key(path);
    while ((len = getline(&text, &cap, fp)) >= 0) {
        line++;
        while (len > 0 && (text[len - 1] == '\n' || text[len - 1] == '\r'))
            len--;
        if (len == 0)
            continue;
        double time_s = 0;
        const char *key = default_key;
        char key_buf[32];
        json_t *row;
        rc = jsonl_row(path, line, text, (size_t)len, time_field, spec->key_column, &parser,
                       &time_s, &key, key_buf, &row);
        if (rc == MX_OK)
            rc = wl__accept_row(out, path, line, time_field, time_s, key);
        json_decref(row);
        if (rc < 0)
            goto done;
    }
    rc = ferror(fp)  ? mx_error(MX_EINPUT, "%s: read error", path)
         : line == 0 ? mx_error(MX_EINPUT, "%s: empty file", path)
                     : finish(out, path);
done:
    fclose(fp);
    free(text);
    free(default_key);
    return rc;
}
