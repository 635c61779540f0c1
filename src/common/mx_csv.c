/* A small CSV reader: one logical row per call, quoted fields may hold separators, quotes ("") and
 * line breaks. Fields point into one reused buffer, so reading allocates only while rows grow. */
#include "mx_csv.h"

#include "mx_alloc.h"
#include "mx_error.h"
#include "mx_file.h"

#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int mx_csv_open(const char *path, char sep, struct mx_csv *csv)
{
    memset(csv, 0, sizeof(*csv));
    int rc = mx_input_check(path);
    if (rc < 0)
        return rc;
    csv->fp = fopen(path, "rb");
    if (!csv->fp)
        return mx_error(MX_EINPUT, "%s: cannot open: %s", path, strerror(errno));
    csv->path = path;
    csv->sep = sep;
    return MX_OK;
}

void mx_csv_close(struct mx_csv *csv)
{
    if (csv->fp)
        fclose(csv->fp);
    free(csv->buf);
    free(csv->fields);
    free(csv->offsets);
    memset(csv, 0, sizeof(*csv));
}

/* The rare path of push_char(): grow the buffer. */
static __attribute__((noinline)) void grow_buffer(struct mx_csv *csv)
{
    csv->buf_cap = csv->buf_cap ? 2 * csv->buf_cap : 256;
    csv->buf = mx_realloc_array(csv->buf, csv->buf_cap, 1);
}

static inline void push_char(struct mx_csv *csv, size_t *len, char c)
{
    if (__builtin_expect(*len + 1 >= csv->buf_cap, 0))
        grow_buffer(csv);
    csv->buf[(*len)++] = c;
}

/* Field starts are kept as offsets while the buffer may move, then turned into pointers. */
static void push_field(struct mx_csv *csv, size_t start)
{
    if (csv->n_fields == csv->fields_cap) {
        csv->fields_cap = csv->fields_cap ? 2 * csv->fields_cap : 16;
        csv->fields = mx_realloc_array(csv->fields, csv->fields_cap, sizeof(char *));
        csv->offsets = mx_realloc_array(csv->offsets, csv->fields_cap, sizeof(size_t));
    }
    csv->offsets[csv->n_fields++] = start;
}

int mx_csv_next(struct mx_csv *csv)
{
    for (;;) {
        size_t len = 0, start = 0;
        bool quoted = false, any = false;
        int c;
        size_t first_line = ++csv->last_line;
        csv->n_fields = 0;
        while ((c = getc_unlocked(csv->fp)) != EOF) {
            any = true;
            if (c == '\0') /* a C string would end there, and the field with it */
                return mx_error(MX_EINPUT, "%s:%zu: a NUL byte in the text", csv->path,
                                csv->last_line);
            if (quoted) {
                if (c == '"') {
                    int next = getc_unlocked(csv->fp);
                    if (next == '"') {
                        push_char(csv, &len, '"');
                        continue;
                    }
                    quoted = false;
                    if (next == EOF)
                        break;
                    c = next;
                } else {
                    if (c == '\n')
                        csv->last_line++;
                    push_char(csv, &len, (char)c);
                    continue;
                }
            }
            if (c == '"') {
                quoted = true;
            } else if (c == csv->sep) {
                push_char(csv, &len, '\0');
                push_field(csv, start);
                start = len;
            } else if (c == '\n') {
                break;
            } else if (c != '\r') {
                push_char(csv, &len, (char)c);
            }
        }
        if (ferror(csv->fp))
            return mx_error(MX_EINPUT, "%s:%zu: read error", csv->path, first_line);
        if (quoted)
            return mx_error(MX_EINPUT, "%s:%zu: unterminated quoted field", csv->path, first_line);
        if (!any)
            return 0;
        push_char(csv, &len, '\0');
        push_field(csv, start);
        for (size_t f = 0; f < csv->n_fields; f++)
            csv->fields[f] = csv->buf + csv->offsets[f];
        if (first_line == 1 && strncmp(csv->fields[0], "\xef\xbb\xbf", 3) == 0)
            csv->fields[0] += 3; /* a UTF-8 byte-order mark */
        csv->line = first_line;
        if (csv->n_fields == 1 && csv->fields[0][0] == '\0')
            continue; /* blank line */
        return 1;
    }
}

int mx_csv_header(struct mx_csv *csv)
{
    int rc = mx_csv_next(csv);
    if (rc == 0)
        return mx_error(MX_EINPUT, "%s: empty file (expected a header line)", csv->path);
    if (rc < 0)
        return rc;
    for (size_t f = 0; f < csv->n_fields; f++)
        for (size_t g = 0; g < f; g++)
            if (strcmp(csv->fields[f], csv->fields[g]) == 0)
                return mx_error(MX_EINPUT, "%s:%zu: the header names column \"%s\" twice",
                                csv->path, csv->line, csv->fields[f]);
    return MX_OK;
}

int mx_csv_column(const struct mx_csv *csv, const char *name)
{
    for (size_t f = 0; f < csv->n_fields; f++)
        if (strcmp(csv->fields[f], name) == 0)
            return (int)f;
    return -1;
}

void mx_csv_write_field(FILE *fp, const char *s, char sep)
{
    if (!strchr(s, sep) && !strpbrk(s, "\"\r\n")) {
        fputs(s, fp);
        return;
    }
    fputc('"', fp);
    for (; *s; s++) {
        if (*s == '"')
            fputc('"', fp);
        fputc(*s, fp);
    }
    fputc('"', fp);
}

/* Plain decimals ("-12.345") of at most 15 significant digits are exact as integers below 2^53,
 * and dividing by an exact power of ten (10^0 .. 10^22) rounds correctly once: the same double
 * strtod gives, several times faster. Anything else returns false and goes to strtod. */
static bool parse_plain_decimal(const char *s, double *out)
{
    static const double powers_of_ten[23] = {1e0,  1e1,  1e2,  1e3,  1e4,  1e5,  1e6,  1e7,
                                             1e8,  1e9,  1e10, 1e11, 1e12, 1e13, 1e14, 1e15,
                                             1e16, 1e17, 1e18, 1e19, 1e20, 1e21, 1e22};
    bool negative = *s == '-';
    s += negative || *s == '+';
    uint64_t mantissa = 0;
    int digits = 0, decimals = 0;
    bool any = false, point = false;
    for (;; s++) {
        if (*s >= '0' && *s <= '9') {
            any = true;
            if (mantissa == 0 && *s == '0' && !point)
                continue; /* leading zeros count for nothing */
            if (++digits > 15)
                return false;
            mantissa = mantissa * 10 + (uint64_t)(*s - '0');
            decimals += point;
        } else if (*s == '.' && !point) {
            point = true;
        } else {
            break;
        }
    }
    while (isspace((unsigned char)*s))
        s++;
    if (!any || *s)
        return false;
    double v = (double)mantissa / powers_of_ten[decimals];
    *out = negative ? -v : v;
    return true;
}

bool mx_parse_f64(const char *s, double *out)
{
    char *end;
    while (isspace((unsigned char)*s))
        s++;
    if (!*s)
        return false;
    if (parse_plain_decimal(s, out))
        return true;
    /* Decimal notation only: strtod would also read hexadecimal ("0x10"), "inf" and "nan". */
    size_t number = strspn(s, "0123456789.eE+-");
    for (const char *rest = s + number; *rest; rest++)
        if (!isspace((unsigned char)*rest))
            return false;
    errno = 0;
    double v = strtod(s, &end);
    while (isspace((unsigned char)*end))
        end++;
    if (*end || errno == ERANGE || !isfinite(v))
        return false;
    *out = v;
    return true;
}

void mx_format_f64(char buf[32], double v)
{
    for (int digits = 15; digits <= 17; digits++) {
        snprintf(buf, 32, "%.*g", digits, v);
        if (strtod(buf, NULL) == v)
            return;
    }
}
