/* Time fields of imported traces: numbers in a unit, ISO 8601 date-times, or strptime(3) formats.
 * Every time becomes seconds after the first row's time, computed as (whole seconds - the first
 * row's whole seconds) + fraction, so that epoch timestamps with 100 ns digits survive in a double.
 */
/* strptime(3) is an X/Open function. */
#define _XOPEN_SOURCE 700

#include "wl_import_int.h"

#include "mx_csv.h"
#include "mx_error.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

struct unit_name {
    const char *name;
    double seconds;
};

static const struct unit_name units[] = {
    {"s", 1}, {"ms", 1e-3}, {"us", 1e-6}, {"ns", 1e-9}, {"min", 60}, {"h", 3600}, {"datetime", 0},
};

int wl__time_parser_init(struct wl_time_parser *p, const char *unit, const char *format)
{
    memset(p, 0, sizeof(*p));
    if (!unit)
        unit = format ? "datetime" : "s";
    for (size_t u = 0; u < sizeof(units) / sizeof(units[0]); u++)
        if (strcmp(unit, units[u].name) == 0) {
            p->unit_s = units[u].seconds;
            if (p->unit_s > 0 && format)
                return mx_error(MX_EUSAGE, "--time-format applies to --time-unit datetime only");
            p->format = format && strcmp(format, "iso8601") != 0 ? format : NULL;
            return MX_OK;
        }
    return mx_error(MX_EUSAGE,
                    "--time-unit: expected s, ms, us, ns, min, h or datetime, got \"%s\"", unit);
}

/* Days from 1970-01-01 to the given proleptic Gregorian date (negative before). */
static int64_t days_from_civil(int64_t year, int month, int day)
{
    year -= month <= 2;
    int64_t era = (year >= 0 ? year : year - 399) / 400;
    int64_t year_of_era = year - era * 400;
    int64_t day_of_year = (153 * (month + (month > 2 ? -3 : 9)) + 2) / 5 + day - 1;
    int64_t day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    return era * 146097 + day_of_era - 719468;
}

/* Exactly n digits at *s, advancing it. */
static bool digits(const char **s, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        if (!isdigit((unsigned char)(*s)[i]))
            return false;
        v = v * 10 + ((*s)[i] - '0');
    }
    *s += n;
    *out = v;
    return true;
}

/* ".ddd" (any number of digits) at *s as a fraction of a second. */
static bool fraction(const char **s, double *out)
{
    *out = 0;
    if (**s != '.' && **s != ',')
        return true;
    const char *start = ++*s;
    double scale = 0.1;
    while (isdigit((unsigned char)**s)) {
        *out += (**s - '0') * scale;
        scale *= 0.1;
        ++*s;
    }
    return *s > start;
}

/* Z, +HH, +HH:MM or +HHMM at *s, as seconds east of UTC; nothing means UTC. */
static bool zone(const char **s, int64_t *offset_s)
{
    *offset_s = 0;
    if (**s == 'Z') {
        ++*s;
        return true;
    }
    if (**s != '+' && **s != '-')
        return true;
    int sign = **s == '-' ? -1 : 1, hours, minutes = 0;
    ++*s;
    if (!digits(s, 2, &hours))
        return false;
    if (**s == ':')
        ++*s;
    if (isdigit((unsigned char)**s) && !digits(s, 2, &minutes))
        return false;
    *offset_s = sign * (hours * 3600 + minutes * 60);
    return hours <= 23 && minutes <= 59;
}

/* YYYY-MM-DD[(T| )HH:MM[:SS[.fff]]][zone] */
static bool parse_iso8601(const char *s, int64_t *whole_s, double *frac_s)
{
    int year, month, day, hour = 0, minute = 0, second = 0;
    int64_t offset_s = 0;
    *frac_s = 0;
    if (!digits(&s, 4, &year) || *s++ != '-' || !digits(&s, 2, &month) || *s++ != '-' ||
        !digits(&s, 2, &day))
        return false;
    if (*s == 'T' || *s == ' ') {
        s++;
        if (!digits(&s, 2, &hour) || *s++ != ':' || !digits(&s, 2, &minute))
            return false;
        if (*s == ':') {
            s++;
            if (!digits(&s, 2, &second) || !fraction(&s, frac_s))
                return false;
        }
        if (!zone(&s, &offset_s))
            return false;
    }
    while (isspace((unsigned char)*s))
        s++;
    if (*s || month < 1 || month > 12 || day < 1 || day > 31 || hour > 23 || minute > 59 ||
        second > 60)
        return false;
    *whole_s =
        days_from_civil(year, month, day) * 86400 + hour * 3600 + minute * 60 + second - offset_s;
    return true;
}

static bool parse_strptime(const char *s, const char *format, int64_t *whole_s, double *frac_s)
{
    struct tm tm = {0};
    const char *rest = strptime(s, format, &tm);
    if (!rest || !fraction(&rest, frac_s))
        return false;
    while (isspace((unsigned char)*rest))
        rest++;
    if (*rest)
        return false;
    *whole_s = days_from_civil(tm.tm_year + 1900LL, tm.tm_mon + 1, tm.tm_mday) * 86400 +
               tm.tm_hour * 3600 + tm.tm_min * 60 + tm.tm_sec;
    return true;
}

double wl__time_from_number(struct wl_time_parser *p, double value)
{
    if (!p->have_origin) {
        p->have_origin = true;
        p->origin_value = value;
    }
    return (value - p->origin_value) * p->unit_s;
}

bool wl__time_parse(struct wl_time_parser *p, const char *text, double *out_s)
{
    if (p->unit_s > 0) {
        double value;
        if (!mx_parse_f64(text, &value))
            return false;
        *out_s = wl__time_from_number(p, value);
        return true;
    }
    int64_t whole_s;
    double frac_s;
    bool ok = p->format ? parse_strptime(text, p->format, &whole_s, &frac_s)
                        : parse_iso8601(text, &whole_s, &frac_s);
    if (!ok)
        return false;
    if (!p->have_origin) {
        p->have_origin = true;
        p->origin_whole_s = whole_s;
    }
    *out_s = (double)(whole_s - p->origin_whole_s) + frac_s;
    return true;
}
