/* Delimited text (CSV, TSV): a line-numbered row reader with RFC 4180 quoting, and number
 * formatting that reads back exactly. */
#ifndef MX_CSV_H
#define MX_CSV_H

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>

struct mx_csv {
    const char *path; /* read-only: borrowed, for messages */
    size_t line;      /* read-only: line number of the current row (1-based) */
    size_t n_fields;  /* read-only: fields in the current row */
    char **fields;    /* read-only: [n_fields], valid until the next mx_csv_next() */
    FILE *fp;         /* private */
    char sep;         /* private */
    char *buf;        /* private */
    size_t last_line; /* private: the last physical line consumed */
    size_t *offsets;  /* private: field starts in buf while a row is read */
    size_t buf_cap, fields_cap;
};

/* Open path; sep is ',' or '\t'. A missing file is MX_EINPUT. */
int mx_csv_open(const char *path, char sep, struct mx_csv *csv);

/* Read the next non-blank row: 1 when a row was read, 0 at the end, MX_EINPUT for an unterminated
 * quote or a NUL byte ("FILE:LINE: ..."). CR before LF is dropped. */
int mx_csv_next(struct mx_csv *csv);

void mx_csv_close(struct mx_csv *csv);

/* Index of the field equal to name in the current row (the header), or -1. */
int mx_csv_column(const struct mx_csv *csv, const char *name);

/* Read the first row as the header: MX_EINPUT for an empty file or a column named twice. */
int mx_csv_header(struct mx_csv *csv);

/* Write s as one field, quoted when it contains sep, a quote or a line break. */
void mx_csv_write_field(FILE *fp, const char *s, char sep);

/* Parse all of s as a finite double in decimal notation (surrounding blanks allowed; not
 * hexadecimal, "inf" or "nan"). */
bool mx_parse_f64(const char *s, double *out);

/* The shortest decimal text ("%.15g" to "%.17g") that reads back as exactly v. buf holds 32 bytes.
 */
void mx_format_f64(char buf[32], double v);

#endif
