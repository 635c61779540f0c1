/* Timestamp traces in delimited text (CSV, TSV) and JSON Lines: one request per row, a time column,
 * an optional key column, and optional token columns (and in JSON Lines, block hashes). */
#include "wl_import_int.h"

#include "mx_alloc.h"
#include "mx_csv.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_time.h"

#include <errno.h>
#include <math.h>
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

bool wl__parse_token_count(const char *text, int32_t *out)
{
    /* Plain digits, the common case, without strtod's cost; anything else ("12.0", blanks) as a
     * number that must be whole. */
    uint32_t v = 0;
    const char *p = text;
    while (*p >= '0' && *p <= '9' && v <= WL_LENGTHS_MAX_TOKENS)
        v = 10 * v + (uint32_t)(*p++ - '0');
    if (!*p && p != text && p - text <= 9) {
        *out = (int32_t)v;
        return v <= WL_LENGTHS_MAX_TOKENS;
    }
    double x;
    if (!mx_parse_f64(text, &x) || x != floor(x) || x < 0 || x > WL_LENGTHS_MAX_TOKENS)
        return false;
    *out = (int32_t)x;
    return true;
}

int wl__accept_row(struct wl_source *src, const char *path, size_t line, const char *time_column,
                   double time_s, const char *key, const struct wl_request_tokens *tokens,
                   const struct wl_token_columns *columns)
{
    struct wl_arrivals *a = &src->arrivals;
    src->rows++;
    if (!key[0]) {
        src->skipped_rows++;
        if (tokens)
            a->n_hashes -= tokens->n_hashes; /* its hashes were the pool's last */
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
    if (tokens) {
        if ((uint32_t)tokens->input + (uint32_t)tokens->output > WL_LENGTHS_MAX_TOKENS)
            return mx_error(MX_EINPUT, "%s:%zu: %s plus %s: %u tokens, over the limit of %u", path,
                            line, columns->input, columns->output,
                            (uint32_t)tokens->input + (uint32_t)tokens->output,
                            WL_LENGTHS_MAX_TOKENS);
        /* A request that read or wrote nothing is no request a decoder serves (BurstGPT marks
         * failures so): dropped, and counted for the summary. */
        if (tokens->input == 0 || tokens->output == 0) {
            src->zero_token_rows++;
            a->n_hashes -= tokens->n_hashes; /* its hashes were the pool's last */
            return MX_OK;
        }
    }
    wl__arrivals_push(a, time_s, wl__keys_intern(&a->keys, key), tokens);
    return MX_OK;
}

/* The requests were all read: at least one is needed, and time 0 becomes the first request's. */
static int finish(struct wl_source *src, const char *path)
{
    struct wl_arrivals *a = &src->arrivals;
    if (a->n == 0)
        return mx_error(MX_EINPUT, "%s: no requests%s", path,
                        src->zero_token_rows && src->skipped_rows
                            ? " (every row has an empty key or 0 tokens)"
                        : src->zero_token_rows ? " (every row has 0 input or 0 output tokens)"
                        : src->skipped_rows    ? " (every row has an empty key)"
                                               : "");
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

/* One token field of a text row. */
static int text_tokens(const struct mx_csv *csv, int at, const char *column, int32_t *out)
{
    if (!wl__parse_token_count(csv->fields[at], out))
        return mx_error(MX_EINPUT,
                        "%s:%zu: %s: \"%s\" is not a token count (a whole number from 0 to %u)",
                        csv->path, csv->line, column, csv->fields[at], WL_LENGTHS_MAX_TOKENS);
    return MX_OK;
}

int wl__read_text(const char *path, const struct wl_import_spec *spec,
                  const struct wl_token_columns *columns, char sep, struct wl_source *out)
{
    const char *time_column = spec->time_column ? spec->time_column : "arrival_s";
    struct wl_time_parser parser;
    struct mx_csv csv;
    char *default_key = NULL;
    int time_at, key_at = -1, input_at = -1, output_at = -1, rc;
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
    if (columns->input &&
        ((rc = input_at = header_column(&csv, columns->input, "input token")) < 0 ||
         (rc = output_at = header_column(&csv, columns->output, "output token")) < 0))
        goto done;
    out->arrivals.has_tokens = columns->input != NULL;
    default_key = wl__file_key(path);
    int needed = key_at > time_at ? key_at : time_at;
    needed = input_at > needed ? input_at : needed;
    needed = output_at > needed ? output_at : needed;
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
        struct wl_request_tokens tokens = {0};
        if (input_at >= 0 &&
            ((rc = text_tokens(&csv, input_at, columns->input, &tokens.input)) < 0 ||
             (rc = text_tokens(&csv, output_at, columns->output, &tokens.output)) < 0))
            goto done;
        if ((rc = wl__accept_row(out, path, csv.line, time_column, time_s, key,
                                 input_at >= 0 ? &tokens : NULL, columns)) < 0)
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

/* A token count field of a JSONL row: a whole number from 0 to WL_LENGTHS_MAX_TOKENS. */
static int jsonl_tokens(const char *path, size_t line, json_t *row, const char *field, int32_t *out)
{
    json_t *v = json_object_get(row, field);
    if (!v)
        return mx_error(MX_EINPUT, "%s:%zu: no field \"%s\"", path, line, field);
    double x = json_is_number(v) ? json_number_value(v) : -1;
    if (!(x >= 0 && x <= WL_LENGTHS_MAX_TOKENS && x == floor(x)))
        return mx_error(MX_EINPUT, "%s:%zu: %s: not a token count (a whole number from 0 to %u)",
                        path, line, field, WL_LENGTHS_MAX_TOKENS);
    *out = (int32_t)x;
    return MX_OK;
}

/* The block hashes of a JSONL row, an array of whole numbers, appended to the pool. */
static int jsonl_hashes(const char *path, size_t line, json_t *row, const char *field,
                        struct wl_arrivals *a, struct wl_request_tokens *tokens)
{
    json_t *v = json_object_get(row, field), *item;
    size_t k;
    if (!v)
        return mx_error(MX_EINPUT, "%s:%zu: no field \"%s\"", path, line, field);
    if (!json_is_array(v))
        return mx_error(MX_EINPUT, "%s:%zu: %s: expected an array of block hashes", path, line,
                        field);
    tokens->first_hash = a->n_hashes;
    tokens->n_hashes = (uint32_t)json_array_size(v);
    json_array_foreach(v, k, item)
    {
        if (!json_is_integer(item) || json_integer_value(item) < 0)
            return mx_error(MX_EINPUT,
                            "%s:%zu: %s[%zu]: expected a block hash (a whole number >= 0)", path,
                            line, field, k);
        int64_t h = (int64_t)json_integer_value(item);
        wl__arrivals_add_hashes(a, &h, 1);
    }
    return MX_OK;
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

int wl__read_jsonl(const char *path, const struct wl_import_spec *spec,
                   const struct wl_token_columns *columns, struct wl_source *out)
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
    struct wl_arrivals *a = &out->arrivals;
    a->has_tokens = columns->input != NULL;
    a->has_hashes = a->has_tokens && columns->hashes;
    a->hash_block_tokens = columns->hash_block_tokens;
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
        struct wl_request_tokens tokens = {0};
        rc = jsonl_row(path, line, text, (size_t)len, time_field, spec->key_column, &parser,
                       &time_s, &key, key_buf, &row);
        if (rc == MX_OK && a->has_tokens &&
            ((rc = jsonl_tokens(path, line, row, columns->input, &tokens.input)) < 0 ||
             (rc = jsonl_tokens(path, line, row, columns->output, &tokens.output)) < 0))
            ;
        else if (rc == MX_OK && a->has_hashes)
            rc = jsonl_hashes(path, line, row, columns->hashes, a, &tokens);
        if (rc == MX_OK)
            rc = wl__accept_row(out, path, line, time_field, time_s, key,
                                a->has_tokens ? &tokens : NULL, columns);
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
