/* muxplan profile: import (JSON to HDF5) and export (HDF5 to JSON) profile DBs; show and build are
 * in their own files. */
#include "cli.h"

#include "mx_error.h"
#include "mx_file.h"
#include "spec_profile.h"

#include <getopt.h>
#include <stdio.h>
#include <string.h>

static const char profile_help[] =
    "usage: muxplan profile --backend roofline|cpu|cuda ... -o DB.h5   (see --backend x --help)\n"
    "       muxplan profile import FILE.json -o DB.h5\n"
    "       muxplan profile export DB.h5 -o FILE.json\n"
    "       muxplan profile show DB.h5 [--json]   (what a DB holds; see show --help)\n"
    "       muxplan profile ops --hardware HW.json --models M --tokens 1,16 [--op K] [--json]\n"
    "                           (the decoder cost model per operator; see ops --help)\n"
    "\n"
    "A profile DB holds, for each base model and parallel config (dp, op, pp), the latency of "
    "each\n"
    "pipeline stage at each profiled batch size and the weight bytes per device. 'import' checks "
    "a\n"
    "hand-written JSON profile (format muxplan-profile/1) and writes the HDF5 DB; 'export' writes "
    "a\n"
    "DB back as JSON. Both accept either form as input.\n"
    "\n"
    "example:\n"
    "  muxplan profile export data/profiles/v100-reference.h5 -o v100.json\n"
    "  muxplan profile import v100.json -o v100.h5\n";

int cli_profile(int argc, char **argv)
{
    static const struct option options[] = {{"output", required_argument, NULL, 'o'},
                                            {"help", no_argument, NULL, 'h'},
                                            {NULL, 0, NULL, 0}};
    const char *out_path = NULL;
    struct spec_profile *db = NULL;
    int opt, rc = MX_OK;
    for (int i = 1; i < argc; i++)
        if (strncmp(argv[i], "--backend", 9) == 0)
            return cli_profile_build(argc, argv);
    if (argc > 1 && strcmp(argv[1], "show") == 0)
        return cli_profile_show(argc - 1, argv + 1);
    if (argc > 1 && strcmp(argv[1], "ops") == 0)
        return cli_profile_ops(argc - 1, argv + 1);
    while (rc == MX_OK && (opt = getopt_long(argc, argv, "o:h", options, NULL)) != -1) {
        if (opt == 'o') {
            out_path = optarg;
        } else if (opt == 'h') {
            fputs(profile_help, stdout);
            return 0;
        } else {
            rc =
                cli_usage_error("profile", "unknown or incomplete option \"%s\"", argv[optind - 1]);
        }
    }
    bool import = rc == MX_OK && argc - optind == 2 && strcmp(argv[optind], "import") == 0;
    bool export = rc == MX_OK && argc - optind == 2 && strcmp(argv[optind], "export") == 0;
    if (rc == MX_OK && !(import || export))
        rc = cli_usage_error("profile", "expected 'import FILE.json -o DB.h5' or 'export DB.h5 -o "
                                        "FILE.json'");
    if (rc == MX_OK && !out_path)
        rc = cli_usage_error("profile", "-o is required");
    if (rc == MX_OK) {
        mx_input_note(argv[optind + 1]);
        rc = import ? mx_output_check(out_path) : mx_output_check_text(out_path);
    }
    if (rc == MX_OK)
        rc = spec_profile_load(argv[optind + 1], &db);
    if (rc == MX_OK)
        rc = import ? spec_profile_write_h5(db, out_path) : spec_profile_write_json(db, out_path);
    spec_profile_free(db);
    return rc == MX_OK ? 0 : cli_report(rc);
}
