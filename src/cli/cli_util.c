/* Helpers shared by the subcommands: error reporting, option values, provenance. */
#include "cli.h"

#include "mx_alloc.h"
#include "mx_config.h"
#include "mx_error.h"
#include "mx_json.h"

#include <errno.h>
#include <getopt.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int cli_report(int code)
{
    const char *message = mx_error_message();
    fprintf(stderr, "muxplan: %s\n", message[0] ? message : mx_strerror(code));
    return mx_exit_status(code);
}

int cli_usage_error(const char *command, const char *fmt, ...)
{
    char what[1024];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(what, sizeof(what), fmt, ap);
    va_end(ap);
    return mx_error(MX_EUSAGE, "%s: %s (see 'muxplan %s --help')", command, what, command);
}

const char *cli_bundled(const char *relative)
{
    static char path[4096];
    snprintf(path, sizeof(path), "%s/%s", MX_SOURCE_ROOT, relative);
    return access(path, F_OK) == 0 ? path : relative;
}

bool cli_wants_help(int argc, char **argv)
{
    for (int i = 1; i < argc; i++)
        if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0)
            return true;
    return false;
}

int cli_parse_f64(const char *option, const char *arg, double min, double max, double *out)
{
    char *end;
    errno = 0;
    double v = strtod(arg, &end);
    if (end == arg || *end || errno || !isfinite(v))
        return mx_error(MX_EUSAGE, "%s: \"%s\" is not a number", option, arg);
    if (v < min || v > max)
        return mx_error(MX_EUSAGE, "%s: %s is out of range [%g, %g]", option, arg, min, max);
    *out = v;
    return 0;
}

int cli_parse_u64(const char *option, const char *arg, uint64_t min, uint64_t max, uint64_t *out)
{
    char *end;
    errno = 0;
    if (strchr(arg, '-'))
        return mx_error(MX_EUSAGE, "%s: \"%s\" is not a non-negative integer", option, arg);
    unsigned long long v = strtoull(arg, &end, 10);
    if (end == arg || *end || errno)
        return mx_error(MX_EUSAGE, "%s: \"%s\" is not a non-negative integer", option, arg);
    if (v < min || v > max)
        return mx_error(MX_EUSAGE, "%s: %s is out of range [%llu, %llu]", option, arg,
                        (unsigned long long)min, (unsigned long long)max);
    *out = v;
    return 0;
}

/* The option of table that arg names as getopt_long reads it (the full name, "--name=value" or an
 * unambiguous abbreviation), or NULL. */
static const struct option *long_option(const struct option *table, const char *arg)
{
    if (strncmp(arg, "--", 2) != 0 || arg[2] == '\0')
        return NULL;
    const char *name = arg + 2, *equals = strchr(name, '=');
    size_t len = equals ? (size_t)(equals - name) : strlen(name);
    const struct option *found = NULL;
    for (const struct option *o = table; o->name; o++) {
        if (strncmp(o->name, name, len) != 0)
            continue;
        if (strlen(o->name) == len)
            return o;
        found = found ? NULL : o; /* a second prefix match is ambiguous */
    }
    return found;
}

/* Whether arg is an option whose value never changes an output's content (--threads and output
 * paths, -o included, also as "-oFILE"); *skip_value when its value is the next argument. */
static bool omitted(const struct option *table, const char *arg, bool *skip_value)
{
    static const char *const names[] = {"threads", "output", "requests-out", NULL};
    *skip_value = false;
    if (arg[0] == '-' && arg[1] == 'o') {
        *skip_value = arg[2] == '\0';
        return true;
    }
    const struct option *o = long_option(table, arg);
    for (const char *const *n = names; o && *n; n++)
        if (strcmp(o->name, *n) == 0) {
            *skip_value = o->has_arg == required_argument && !strchr(arg, '=');
            return true;
        }
    return false;
}

static int saved_argc;
static char **saved_argv;

void cli_remember_command_line(int argc, char **argv)
{
    saved_argc = argc;
    saved_argv = argv;
}

json_t *cli_provenance(const struct option *options, uint64_t seed)
{
    size_t len = 1;
    for (int i = 0; i < saved_argc; i++)
        len += strlen(saved_argv[i]) + 1;
    char *command = mx_calloc(len, 1);
    for (int i = 0; i < saved_argc; i++) {
        bool skip_value;
        if (i > 0 && omitted(options, saved_argv[i], &skip_value)) {
            i += skip_value;
            continue;
        }
        if (i > 0)
            strcat(command, " ");
        strcat(command, i == 0 ? "muxplan" : saved_argv[i]);
    }
    json_t *p = json_object();
    mx_json_set(p, "muxplan_version", json_string(MX_VERSION));
    mx_json_set(p, "command", json_string(command));
    mx_json_set(p, "seed", json_integer((json_int_t)seed));
    free(command);
    return p;
}

void cli_reset_getopt(void)
{
    optind = 1;
    opterr = 0;
}
