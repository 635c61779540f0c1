/* src/common: statistics, number formatting, CSV rows, JSON places and errors, HDF5 determinism,
 * random stream derivation, atomic output, output sets and the checks on outputs, the progress
 * line. */
#define _XOPEN_SOURCE 700 /* pseudo-terminals (posix_openpt), for the progress line */
#include "fixture.h"
#include "mx_alloc.h"
#include "mx_csv.h"
#include "mx_error.h"
#include "mx_file.h"
#include "mx_h5.h"
#include "mx_json.h"
#include "mx_progress.h"
#include "mx_rng.h"
#include "mx_stats.h"
#include "mx_strmap.h"

#include <criterion/criterion.h>
#include <fcntl.h>
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

Test(stats, nearest_rank_quantiles)
{
    double v[10] = {10, 1, 9, 2, 8, 3, 7, 4, 6, 5};
    mx_sort_f64(v, 10);
    cr_assert_eq(mx_quantile_sorted(v, 10, 0), 1);
    cr_assert_eq(mx_quantile_sorted(v, 10, 0.5), 5, "ceil(0.5 * 10) = 5th value");
    cr_assert_eq(mx_quantile_sorted(v, 10, 0.9), 9);
    cr_assert_eq(mx_quantile_sorted(v, 10, 0.91), 10);
    cr_assert_eq(mx_quantile_sorted(v, 10, 1), 10);
    cr_assert(isnan(mx_quantile_sorted(v, 0, 0.5)));
    cr_assert_float_eq(mx_mean(v, 10), 5.5, 1e-12);
}

Test(stats, cv_of_gaps)
{
    double regular[5] = {0, 1, 2, 3, 4};
    cr_assert_float_eq(mx_gap_cv(regular, 5), 0, 1e-12);
    double uneven[4] = {0, 1, 3, 6}; /* gaps 1, 2, 3: mean 2, population sd sqrt(2/3) */
    cr_assert_float_eq(mx_gap_cv(uneven, 4), sqrt(2.0 / 3.0) / 2, 1e-12);
    cr_assert(isnan(mx_gap_cv(uneven, 2)));
}

Test(text, formatted_numbers_read_back_exactly)
{
    gsl_rng *rng = mx_rng_new(1, "test/format", 0);
    for (int i = 0; i < 10000; i++) {
        double v = gsl_rng_uniform(rng) * pow(10, (double)gsl_rng_uniform_int(rng, 20) - 10);
        char buf[32];
        double back;
        mx_format_f64(buf, v);
        cr_assert(mx_parse_f64(buf, &back));
        cr_assert_eq(back, v, "%s", buf);
    }
    gsl_rng_free(rng);
    char buf[32];
    mx_format_f64(buf, 0.1);
    cr_assert_str_eq(buf, "0.1", "shortest form");
    double out;
    cr_assert_not(mx_parse_f64("1.5x", &out));
    cr_assert_not(mx_parse_f64("", &out));
    cr_assert_not(mx_parse_f64("nan", &out));
    cr_assert_not(mx_parse_f64("1e999", &out));
    cr_assert(mx_parse_f64(" 2.5 ", &out) && out == 2.5);
}

/* The fast path for plain decimals must give strtod's double bit for bit. */
Test(text, plain_decimals_parse_exactly_like_strtod)
{
    gsl_rng *rng = mx_rng_new(2, "test/decimals", 0);
    char text[64];
    for (int i = 0; i < 200000; i++) {
        int before = (int)gsl_rng_uniform_int(rng, 12), after = (int)gsl_rng_uniform_int(rng, 12);
        size_t len = 0;
        if (gsl_rng_uniform(rng) < 0.2)
            text[len++] = gsl_rng_uniform(rng) < 0.5 ? '-' : '+';
        for (int d = 0; d < before; d++)
            text[len++] = (char)('0' + gsl_rng_uniform_int(rng, 10));
        if (after > 0 || before == 0)
            text[len++] = '.';
        for (int d = 0; d < after || (before == 0 && d == 0); d++)
            text[len++] = (char)('0' + gsl_rng_uniform_int(rng, 10));
        text[len] = '\0';
        double parsed;
        cr_assert(mx_parse_f64(text, &parsed), "%s", text);
        double expected = strtod(text, NULL);
        cr_assert(memcmp(&parsed, &expected, sizeof(double)) == 0, "%s: %.17g vs %.17g", text,
                  parsed, expected);
    }
    gsl_rng_free(rng);
    static const char *const edges[] = {"-0",
                                        "0.000000000000000000000001",
                                        "123456789012345.6",
                                        "1.",
                                        ".5",
                                        "+.5",
                                        "007",
                                        "9007199254740993",
                                        "1e5",
                                        "-0.0"};
    for (size_t e = 0; e < sizeof(edges) / sizeof(edges[0]); e++) {
        double parsed, expected = strtod(edges[e], NULL);
        cr_assert(mx_parse_f64(edges[e], &parsed), "%s", edges[e]);
        cr_assert(memcmp(&parsed, &expected, sizeof(double)) == 0, "%s", edges[e]);
    }
    double out;
    cr_assert_not(mx_parse_f64(".", &out));
    cr_assert_not(mx_parse_f64("-", &out));
    cr_assert_not(mx_parse_f64("1.2.3", &out));
    /* Decimal notation only, where strtod also reads hexadecimal and names. */
    for (const char *const *t = (const char *const[]){"0x10", "0x1p3", "inf", "nan", "1e5x", NULL};
         *t; t++)
        cr_assert_not(mx_parse_f64(*t, &out), "%s", *t);
}

Test(csv, quoted_fields_blank_lines_and_line_numbers)
{
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "a.csv");
    fx_write_file(path, "a,b,c\r\n\n1,\"x, \"\"y\"\"\",3\n\"multi\nline\",2,\n4,5,6");
    struct mx_csv csv;
    cr_assert_eq(mx_csv_open(path, ',', &csv), MX_OK);
    cr_assert_eq(mx_csv_next(&csv), 1);
    cr_assert_eq(csv.n_fields, 3);
    cr_assert_eq(mx_csv_column(&csv, "c"), 2);
    cr_assert_eq(mx_csv_next(&csv), 1);
    cr_assert_eq(csv.line, 3, "the blank line is skipped but counted");
    cr_assert_str_eq(csv.fields[1], "x, \"y\"");
    cr_assert_eq(mx_csv_next(&csv), 1);
    cr_assert_eq(csv.line, 4);
    cr_assert_str_eq(csv.fields[0], "multi\nline");
    cr_assert_str_eq(csv.fields[2], "");
    cr_assert_eq(mx_csv_next(&csv), 1);
    cr_assert_eq(csv.line, 6);
    cr_assert_str_eq(csv.fields[2], "6");
    cr_assert_eq(mx_csv_next(&csv), 0);
    mx_csv_close(&csv);

    fx_write_file(path, "a\n\"open");
    cr_assert_eq(mx_csv_open(path, ',', &csv), MX_OK);
    cr_assert_eq(mx_csv_next(&csv), 1);
    cr_assert_eq(mx_csv_next(&csv), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "a.csv:2: unterminated quoted field"), "%s",
              mx_error_message());
    mx_csv_close(&csv);
}

Test(json, syntax_errors_name_line_and_column)
{
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "bad.json");
    fx_write_file(path, "{\n  \"a\": 1,\n  \"b\": [1, 2,]\n}\n");
    json_t *doc;
    cr_assert_eq(mx_json_load(path, &doc), MX_EINPUT);
    char expect[1100];
    snprintf(expect, sizeof(expect), "%s:3:", path);
    cr_assert(strstr(mx_error_message(), expect), "%s", mx_error_message());

    fx_write_file(path, "{\"a\": 1, \"a\": 2}");
    cr_assert_eq(mx_json_load(path, &doc), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "duplicate"), "%s", mx_error_message());

    cr_assert_eq(mx_json_load(fx_path(dir, "missing.json"), &doc), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "cannot open"), "%s", mx_error_message());
}

Test(json, semantic_errors_name_the_path)
{
    json_t *doc = json_loads("{\"format\": \"muxplan-thing/1\", \"groups\": [{\"n\": 1}, {\"n\": "
                             "-4}], \"s\": \"\", \"x\": 2.5, \"nested\": {\"deep\": true}}",
                             0, NULL);
    struct mx_jpath root = mx_jpath_root("f.json");
    struct mx_jpath groups = mx_jpath_key(&root, "groups");
    struct mx_jpath second = mx_jpath_index(&groups, 1);
    int64_t v;
    double d;
    const char *s;
    cr_assert_eq(mx_json_check_format(&root, doc, "thing", 1), MX_OK);
    cr_assert_eq(mx_json_check_format(&root, doc, "other", 1), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "f.json: format: expected \"muxplan-other/1\""), "%s",
              mx_error_message());
    cr_assert_eq(
        mx_json_get_i64(&second, json_array_get(json_object_get(doc, "groups"), 1), "n", 0, 10, &v),
        MX_EINPUT);
    cr_assert_str_eq(mx_error_message(), "f.json: groups[1].n: -4 is out of range [0, 10]");
    cr_assert_eq(mx_json_get_i64(&root, doc, "x", 0, 10, &v), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "x: expected an integer"), "%s", mx_error_message());
    cr_assert_eq(mx_json_get_f64(&root, doc, "x", 0, 10, &d), MX_OK);
    cr_assert_eq(mx_json_get_str(&root, doc, "s", &s), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "s: expected a non-empty string"));
    cr_assert_eq(mx_json_get_str(&root, doc, "missing", &s), MX_EINPUT);
    cr_assert_str_eq(mx_error_message(), "f.json: missing member \"missing\"");
    static const char *const allowed[] = {"format", "groups", NULL};
    cr_assert_eq(mx_json_check_keys(&root, doc, allowed), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "unknown member \"s\""), "%s", mx_error_message());
    json_decref(doc);
}

Test(strmap, puts_gets_and_refuses_duplicates)
{
    struct mx_strmap map;
    char *keys[1000];
    mx_strmap_init(&map);
    for (uint32_t i = 0; i < 1000; i++) {
        keys[i] = mx_strfmt("key-%u", i);
        cr_assert(mx_strmap_put(&map, keys[i], i));
    }
    cr_assert_not(mx_strmap_put(&map, "key-7", 9));
    for (uint32_t i = 0; i < 1000; i++) {
        uint32_t v;
        cr_assert(mx_strmap_get(&map, keys[i], &v));
        cr_assert_eq(v, i);
    }
    uint32_t v;
    cr_assert_not(mx_strmap_get(&map, "key-1000", &v));
    mx_strmap_release(&map);
    for (uint32_t i = 0; i < 1000; i++)
        free(keys[i]);
}

Test(rng, streams_are_distinct_and_reproducible)
{
    cr_assert_neq(mx_rng_derive(1, "arrivals", 0), mx_rng_derive(1, "arrivals", 1));
    cr_assert_neq(mx_rng_derive(1, "arrivals", 0), mx_rng_derive(2, "arrivals", 0));
    cr_assert_neq(mx_rng_derive(1, "arrivals", 0), mx_rng_derive(1, "overhead/client", 0));
    gsl_rng *a = mx_rng_new(5, "x", 3), *b = mx_rng_new(5, "x", 3);
    for (int i = 0; i < 100; i++)
        cr_assert_eq(gsl_rng_get(a), gsl_rng_get(b));
    gsl_rng_free(a);
    gsl_rng_free(b);
}

Test(file, atomic_output_appears_only_on_commit)
{
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "out.txt");
    fx_write_file(path, "old");
    struct mx_out out;
    cr_assert_eq(mx_out_begin(path, true, &out), MX_OK);
    fputs("new", out.fp);
    char *text = fx_read_file(path, NULL);
    cr_assert_str_eq(text, "old", "the old file stays until commit");
    free(text);
    mx_out_abort(&out);
    text = fx_read_file(path, NULL);
    cr_assert_str_eq(text, "old");
    free(text);
    cr_assert_eq(mx_out_begin(path, true, &out), MX_OK);
    fputs("new", out.fp);
    cr_assert_eq(mx_out_commit(&out), MX_OK);
    text = fx_read_file(path, NULL);
    cr_assert_str_eq(text, "new");
    free(text);
    cr_assert_eq(mx_out_begin(fx_path(dir, "no/such/dir/x"), true, &out), MX_EIO);
}

Test(h5, identical_content_gives_identical_bytes)
{
    const char *dir = fx_tmpdir();
    double data[3] = {1, 2, 3};
    const char *names[2] = {"a", "b"};
    for (int k = 0; k < 2; k++) {
        struct mx_h5 h;
        cr_assert_eq(mx_h5_create(fx_path(dir, k ? "b.h5" : "a.h5"), "thing", 1, &h), MX_OK);
        cr_assert_eq(mx_h5_group(&h, "/g"), MX_OK);
        cr_assert_eq(mx_h5_write(&h, "/g/x", MX_H5_F64, 1, (size_t[2]){3, 0}, data), MX_OK);
        cr_assert_eq(mx_h5_write_strings(&h, "/names", 2, names), MX_OK);
        cr_assert_eq(mx_h5_attr_write_str(&h, "/", "note", "hello"), MX_OK);
        cr_assert_eq(mx_h5_close(&h), MX_OK);
        sleep(k == 0); /* a second apart: no timestamp may differ */
    }
    size_t la, lb;
    char *a = fx_read_file(fx_path(dir, "a.h5"), &la), *b = fx_read_file(fx_path(dir, "b.h5"), &lb);
    cr_assert_eq(la, lb);
    cr_assert_eq(memcmp(a, b, la), 0);
    free(a);
    free(b);

    struct mx_h5 h;
    cr_assert_eq(mx_h5_open(fx_path(dir, "a.h5"), "thing", 1, &h), MX_OK);
    size_t n;
    char **list;
    cr_assert_eq(mx_h5_list(&h, "/", &n, &list), MX_OK);
    cr_assert_eq(n, 2);
    cr_assert_str_eq(list[0], "g", "creation order");
    cr_assert_str_eq(list[1], "names");
    for (size_t i = 0; i < n; i++)
        free(list[i]);
    free(list);
    int32_t *ints;
    size_t dims[2];
    cr_assert_eq(mx_h5_read(&h, "/g/x", MX_H5_I32, 1, dims, (void **)&ints), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "/g/x: expected an integer dataset"), "%s",
              mx_error_message());
    cr_assert_eq(mx_h5_read(&h, "/g/y", MX_H5_F64, 1, dims, (void **)&ints), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "/g/y: missing dataset"), "%s", mx_error_message());
    mx_h5_abort(&h);
    cr_assert_eq(mx_h5_open(fx_path(dir, "a.h5"), "other", 1, &h), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "expected \"muxplan-other/1\""), "%s", mx_error_message());
}

Test(h5, truncated_and_foreign_files_are_bad_input)
{
    const char *dir = fx_tmpdir();
    const char *path = fx_path(dir, "t.h5");
    double data[1000] = {0};
    struct mx_h5 h;
    cr_assert_eq(mx_h5_create(path, "thing", 1, &h), MX_OK);
    cr_assert_eq(mx_h5_write(&h, "/x", MX_H5_F64, 1, (size_t[2]){1000, 0}, data), MX_OK);
    cr_assert_eq(mx_h5_close(&h), MX_OK);
    cr_assert_eq(truncate(path, 3000), 0);
    cr_assert_eq(mx_h5_open(path, "thing", 1, &h), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), path), "%s", mx_error_message());
    fx_write_file(path, "not hdf5 at all");
    cr_assert_eq(mx_h5_open(path, "thing", 1, &h), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "not a readable HDF5 file"), "%s", mx_error_message());
}

/* A value that is no array (or too short a one) gives length 0 with its error, so that no caller
 * sizes an allocation by a length it never got (found by fuzzing a sweep spec's "policies"). */
Test(json, an_array_check_that_fails_gives_no_length)
{
    json_t *doc = json_loads("{\"policies\": \"sr\", \"empty\": []}", 0, NULL);
    struct mx_jpath root = mx_jpath_root("s.json");
    struct mx_jpath policies = mx_jpath_key(&root, "policies"),
                    empty = mx_jpath_key(&root, "empty");
    size_t n = 7;
    cr_assert_eq(mx_json_expect_array(&policies, json_object_get(doc, "policies"), 1, &n),
                 MX_EINPUT);
    cr_assert_str_eq(mx_error_message(), "s.json: policies: expected an array, got a string");
    cr_assert_eq(n, 0);
    n = 7;
    cr_assert_eq(mx_json_expect_array(&empty, json_object_get(doc, "empty"), 1, &n), MX_EINPUT);
    cr_assert_eq(n, 0);
    json_decref(doc);
}

Test(json, written_reals_read_back_exactly_and_stay_short_when_they_can)
{
    const char *dir = fx_tmpdir();
    json_t *doc = json_pack("{sf}", "typed", 0.051);
    cr_assert_eq(mx_json_write_file(fx_path(dir, "a.json"), doc), MX_OK);
    char *text = fx_read_file(fx_path(dir, "a.json"), NULL);
    cr_assert(strstr(text, "0.051\n"), "a typed number stays as typed: %s", text);
    free(text);
    json_decref(doc);
    double computed = 0.1 + 0.2; /* 0.30000000000000004 */
    doc = json_pack("{sfsf}", "typed", 0.051, "computed", computed);
    cr_assert_eq(mx_json_write_file(fx_path(dir, "b.json"), doc), MX_OK);
    json_decref(doc);
    cr_assert_eq(mx_json_load(fx_path(dir, "b.json"), &doc), MX_OK);
    cr_assert_eq(json_real_value(json_object_get(doc, "computed")), computed);
    cr_assert_eq(json_real_value(json_object_get(doc, "typed")), 0.051);
    json_decref(doc);
}

Test(file, inputs_must_be_readable_files_and_outputs_writable_places)
{
    const char *dir = fx_tmpdir();
    cr_assert_eq(mx_input_check(dir), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "is a directory, not a file"), "%s", mx_error_message());
    cr_assert_eq(mx_input_check(fx_path(dir, "absent")), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "cannot open: No such file or directory"), "%s",
              mx_error_message());
    cr_assert_eq(mx_input_check("/dev/null"), MX_EINPUT);
    cr_assert(strstr(mx_error_message(), "not a regular file"), "%s", mx_error_message());
    cr_assert_eq(mx_output_check(fx_path(dir, "new.h5")), MX_OK);
    cr_assert_eq(mx_output_check(dir), MX_EUSAGE);
    cr_assert_eq(mx_output_check(fx_path(dir, "missing/new.h5")), MX_EUSAGE);
    cr_assert(strstr(mx_error_message(), "does not exist"), "%s", mx_error_message());
    cr_assert_eq(mx_output_check("relative.h5"), MX_OK, "the current directory");
}

/* Whether path is still a FIFO (c == 'p') or a character device (c == 'c'). */
static bool is_node(const char *path, char c)
{
    struct stat st;
    return lstat(path, &st) == 0 && (c == 'p' ? S_ISFIFO(st.st_mode) : S_ISCHR(st.st_mode));
}

static void expect_node_refused(const char *path, char c)
{
    struct mx_out out;
    fx_expect_error(mx_output_check(path), MX_EUSAGE, "exists and is not a regular file");
    fx_expect_error(mx_out_begin(path, true, &out), MX_EUSAGE, "exists and is not a regular file");
    cr_assert(is_node(path, c), "%s was replaced", path);
}

Test(file, a_fifo_is_never_replaced)
{
    const char *dir = fx_tmpdir(), *fifo = fx_path(dir, "fifo"), *late = fx_path(dir, "late");
    cr_assert_eq(mkfifo(fifo, 0644), 0);
    expect_node_refused(fifo, 'p');
    /* One that appears while the output is written: refused at commit, the temporary removed. */
    struct mx_out out;
    cr_assert_eq(mx_out_begin(late, true, &out), MX_OK);
    fputs("data", out.fp);
    cr_assert_eq(mkfifo(late, 0644), 0);
    fx_expect_error(mx_out_commit(&out), MX_EUSAGE, "late: exists and is not a regular file");
    cr_assert(is_node(late, 'p'));
    cr_assert_eq(fx_count_entries(dir, ".tmp."), 0);
}

Test(file, a_character_device_is_never_replaced)
{
    if (geteuid() != 0)
        cr_skip_test("making a device node needs root");
    const char *dir = fx_tmpdir(), *dev = fx_path(dir, "null");
    cr_assert_eq(mknod(dev, S_IFCHR | 0666, makedev(1, 3)), 0, "mknod"); /* like /dev/null */
    expect_node_refused(dev, 'c');
}

Test(file, an_input_is_never_an_output_through_any_link)
{
    const char *dir = fx_tmpdir(), *in = fx_path(dir, "in.json");
    const char *soft = fx_path(dir, "soft.json"), *hard = fx_path(dir, "hard.json");
    fx_write_file(in, "{}");
    cr_assert_eq(symlink(in, soft), 0);
    cr_assert_eq(link(in, hard), 0);
    cr_assert_eq(mx_input_check(in), MX_OK);
    cr_assert_eq(mx_output_check(in), MX_OK, "without the guard, a library may rewrite its input");
    mx_input_guard();
    fx_expect_error(mx_output_check(in), MX_EUSAGE, "in.json: is an input of this command");
    fx_expect_error(mx_output_check(soft), MX_EUSAGE, "soft.json: is the same file as");
    fx_expect_error(mx_output_check(hard), MX_EUSAGE, "hard.json: is the same file as");
    struct mx_out out;
    fx_expect_error(mx_out_begin(hard, true, &out), MX_EUSAGE, "an input of this command");
    /* Noted by name before it is read: refused before any work. */
    const char *later = fx_path(dir, "later.json");
    fx_write_file(later, "{}");
    mx_input_note(later);
    fx_expect_error(mx_output_check(later), MX_EUSAGE, "later.json: is an input");
    mx_input_note(fx_path(dir, "absent.json")); /* its reader will say it is missing */
    cr_assert_eq(mx_output_check(fx_path(dir, "absent.json")), MX_OK);
    char *text = fx_read_file(in, NULL);
    cr_assert_str_eq(text, "{}");
    free(text);
}

Test(file, dash_is_standard_output_for_text_only)
{
    struct mx_out out;
    struct mx_h5 h;
    fx_expect_error(mx_output_check("-"), MX_EUSAGE, "-: this output cannot go to standard output");
    cr_assert_eq(mx_output_check_text("-"), MX_OK);
    fx_expect_error(mx_out_begin("-", false, &out), MX_EUSAGE, "cannot go to standard output");
    fx_expect_error(mx_h5_create("-", "thing", 1, &h), MX_EUSAGE,
                    "-: an HDF5 file cannot go to standard output");
    fx_expect_error(mx_outset_dir("-"), MX_EUSAGE, "a folder of outputs cannot go to standard");
    cr_assert_eq(mx_out_begin("-", true, &out), MX_OK);
    cr_assert_eq(out.fp, stdout);
    cr_assert_null(out.tmp_path);
    cr_assert_eq(mx_out_commit(&out), MX_OK);
}

Test(file, an_output_set_appears_whole_or_not_at_all)
{
    const char *dir = fx_tmpdir(), *made = fx_path(dir, "made");
    const char *a = fx_path(made, "a.txt"), *b = fx_path(made, "b.txt"), *old = fx_path(made, "o");
    struct mx_out out;
    fx_expect_error(mx_outset_dir(fx_path(dir, "no/made")), MX_EUSAGE, "/no does not exist");
    fx_write_file(fx_path(dir, "file"), "");
    fx_expect_error(mx_outset_dir(fx_path(dir, "file")), MX_EUSAGE, "exists and is not a folder");
    /* Aborted: its files and the folder it made go. */
    mx_outset_begin();
    cr_assert_eq(mx_outset_dir(made), MX_OK);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(mx_out_begin(k ? b : a, true, &out), MX_OK);
        fputs("new", out.fp);
        cr_assert_eq(mx_out_commit(&out), MX_OK);
    }
    cr_assert(!fx_exists(a) && !fx_exists(b), "nothing appears before the set's commit");
    cr_assert_eq(fx_count_entries(made, ".tmp."), 2);
    mx_outset_abort();
    cr_assert(!fx_exists(made), "the folder the set made goes with it");
    /* Committed: every file appears; an earlier output goes unless written anew. */
    cr_assert_eq(mkdir(made, 0755), 0);
    fx_write_file(a, "old");
    fx_write_file(old, "old");
    mx_outset_begin();
    cr_assert_eq(mx_outset_dir(made), MX_OK);
    mx_outset_replace(a);
    mx_outset_replace(old);
    for (int k = 0; k < 2; k++) {
        cr_assert_eq(mx_out_begin(k ? b : a, true, &out), MX_OK);
        fputs("new", out.fp);
        cr_assert_eq(mx_out_commit(&out), MX_OK);
    }
    char *text = fx_read_file(a, NULL);
    cr_assert_str_eq(text, "old", "the earlier output stays until the commit");
    free(text);
    cr_assert_eq(mx_outset_commit(), MX_OK);
    for (int k = 0; k < 2; k++) {
        text = fx_read_file(k ? b : a, NULL);
        cr_assert_str_eq(text, "new");
        free(text);
    }
    cr_assert(!fx_exists(old), "an earlier output not written anew is removed");
    cr_assert_eq(fx_count_entries(made, NULL), 2);
}

/* What SIGINT's handler runs: every temporary of the set, and the folders it made, go. */
Test(file, an_interrupted_set_leaves_nothing)
{
    const char *dir = fx_tmpdir(), *made = fx_path(dir, "made"), *inner = fx_path(made, "inner");
    struct mx_out out;
    mx_outset_begin();
    cr_assert_eq(mx_outset_dir(made), MX_OK);
    cr_assert_eq(mx_outset_dir(inner), MX_OK);
    cr_assert_eq(mx_out_begin(fx_path(inner, "done.txt"), true, &out), MX_OK);
    cr_assert_eq(mx_out_commit(&out), MX_OK);
    cr_assert_eq(mx_out_begin(fx_path(made, "writing.txt"), true, &out), MX_OK);
    fputs("half", out.fp);
    fflush(out.fp);
    mx_out_remove_temporaries();
    cr_assert(!fx_exists(made), "%zu entries left", fx_count_entries(made, NULL));
    mx_out_abort(&out);
}

/* A full disk (here: a file size limit, which fails writes with EFBIG) while an HDF5 file is
 * written: one message naming the file, nothing left, and no crash at exit. */
Test(h5, a_full_disk_is_one_message_and_leaves_nothing)
{
    const char *dir = fx_tmpdir(), *path = fx_path(dir, "big.h5");
    size_t n = 100000;
    double *data = calloc(n, sizeof(double));
    struct mx_h5 h;
    struct rlimit saved, limit = {4096, 4096};
    getrlimit(RLIMIT_FSIZE, &saved);
    signal(SIGXFSZ, SIG_IGN);
    cr_assert_eq(setrlimit(RLIMIT_FSIZE, &limit), 0);
    cr_assert_eq(mx_h5_create(path, "thing", 1, &h), MX_OK);
    cr_assert_eq(mx_h5_write(&h, "/x", MX_H5_F64, 1, (size_t[2]){n, 0}, data), MX_OK);
    fx_expect_error(mx_h5_close(&h), MX_EIO, "big.h5: cannot write: File too large");
    setrlimit(RLIMIT_FSIZE, &saved);
    cr_assert_null(strchr(mx_error_message(), '\n'), "%s", mx_error_message());
    cr_assert_eq(fx_count_entries(dir, NULL), 0);
    free(data);
}

/* Huge-page arrays: large ones start on a 2 MiB boundary (where the kernel can map a huge page),
 * small ones are ordinary; both hold what is written to every element and are freed by free(). */
Test(alloc, huge_arrays_are_aligned_usable_and_freed_by_free)
{
    const size_t sizes[] = {1, 1000, (2u << 20) / sizeof(uint64_t), 3 * (1u << 20) + 7};
    for (size_t k = 0; k < sizeof(sizes) / sizeof(sizes[0]); k++) {
        uint64_t *v = mx_malloc_huge(sizes[k], sizeof(uint64_t));
        if (sizes[k] * sizeof(uint64_t) >= (2u << 20))
            cr_assert_eq((uintptr_t)v % (2u << 20), 0, "%zu elements at %p", sizes[k], (void *)v);
        for (size_t i = 0; i < sizes[k]; i++)
            v[i] = i * 2654435761u;
        for (size_t i = 0; i < sizes[k]; i++)
            cr_assert_eq(v[i], i * 2654435761u, "element %zu of %zu", i, sizes[k]);
        free(v);
    }
}

/* The progress line: drawn only on a terminal and once the work has taken a second; a part of the
 * work reports into its span of the whole. */
Test(progress, a_line_on_a_terminal_after_a_second)
{
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    cr_assert_geq(master, 0);
    cr_assert_eq(grantpt(master), 0);
    cr_assert_eq(unlockpt(master), 0);
    int slave = open(ptsname(master), O_RDWR | O_NOCTTY);
    cr_assert_geq(slave, 0);
    fflush(stderr);
    int saved = dup(STDERR_FILENO);
    dup2(slave, STDERR_FILENO);
    struct mx_progress p;
    mx_progress_begin(&p, "test");
    mx_progress_show(&p, 0.5, NULL); /* too early: nothing */
    p.started_s -= 2;                /* as if it had run for two seconds */
    struct mx_progress_span span;
    const struct mx_progress_sink whole = mx_progress_sink(&p);
    const struct mx_progress_sink part = mx_progress_within(&span, &whole, 0.5, 1);
    mx_progress_on(&p, "on 3 things");
    mx_progress_report(&part, 0.5);
    mx_progress_end(&p);
    fflush(stderr);
    dup2(saved, STDERR_FILENO);
    close(saved);
    close(slave);
    char text[512] = "";
    ssize_t got = read(master, text, sizeof(text) - 1);
    close(master);
    cr_assert_gt(got, 0);
    text[got] = '\0';
    cr_assert(strstr(text, "muxplan: test on 3 things: 75%"), "%s", text);
    cr_assert_eq(strstr(text, "50%"), NULL, "drawn before a second: %s", text);
}
