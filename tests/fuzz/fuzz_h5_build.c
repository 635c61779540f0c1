/* fuzz_h5_build() (fuzz.h): a well-formed HDF5 file from a byte program, so that the HDF5 readers'
 * own checks (types, shapes, values, names) are fuzzed rather than the HDF5 library's parser.
 *
 * The program, byte by byte (a byte past the end reads as 0):
 *   flags                  bit 0: root attribute format = "muxplan-KIND/1"
 *   then, up to 64 times:
 *   op parent name         op % 3: 0 group, 1 dataset, 2 attribute; parent % (groups made so far,
 *                          the root first); name % n_names. A group or dataset is made at
 *                          parent/name, an attribute named name on parent.
 *   dataset: type rank dim... value...   type % 6: f64, i64, i32, u8, variable-length string,
 *                          8-byte string; rank % 3; each dim % 8; one byte per element, an index
 *                          into the value table of its type.
 *   attribute: type count value...       type % 5: f64, i64, i32, variable-length string, 8-byte
 *                          string; count % 3 elements, 0 meaning a scalar.
 * Whatever HDF5 refuses (a name made twice, say) is skipped. */
#include "fuzz.h"

#include "mx_error.h"

#include <hdf5.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct cursor {
    const uint8_t *data;
    size_t size, at;
};

static unsigned next(struct cursor *c)
{
    return c->at < c->size ? c->data[c->at++] : 0;
}

static const double f64_values[16] = {0,    1,   2,          0.5,    1e-3, -1,  1e-9, 1e6,
                                      1e9, 1e300, (double)NAN, INFINITY, -0.0, 3,   60,  1e15};
static const int64_t int_values[16] = {
    0, 1, 2, 3, 4, 8, 16, -1, 1024, 4096, INT32_MAX, INT32_MIN, INT64_C(1) << 50,
    (INT64_C(1) << 50) + 1, INT64_MAX, INT64_MIN};
static const char *const string_values[16] = {
    "",   "m0",          "m1",        "muxplan-trace/1", "muxplan-profile/1", "muxplan-trace/2",
    "v100-16gb", "{}", "{\"a\": 1}", "bert-1.3b", "a/b", "..", "\x01", "m0", "[1]", "muxplan-x/1"};

enum elem { F64, I64, I32, U8, VSTR, FSTR };

/* The in-memory and file types of elem (a string type is a new id for the caller to close). */
static hid_t memory_type(enum elem e)
{
    hid_t t;
    switch (e) {
    case F64:
        return H5T_NATIVE_DOUBLE;
    case I64:
        return H5T_NATIVE_INT64;
    case I32:
        return H5T_NATIVE_INT32;
    case U8:
        return H5T_NATIVE_UINT8;
    default:
        t = H5Tcopy(H5T_C_S1);
        H5Tset_size(t, e == VSTR ? H5T_VARIABLE : 8);
        return t;
    }
}

/* n values of elem from the program into a buffer of the memory type. */
static void *values(struct cursor *c, enum elem e, size_t n)
{
    size_t size = e == F64 || e == I64 ? 8 : e == I32 ? 4 : e == U8 ? 1 : e == VSTR ? sizeof(char *) : 8;
    uint8_t *buf = calloc(n ? n : 1, size);
    for (size_t i = 0; i < n; i++) {
        unsigned v = next(c) % 16;
        switch (e) {
        case F64:
            memcpy(buf + i * size, &f64_values[v], size);
            break;
        case I64:
            memcpy(buf + i * size, &int_values[v], size);
            break;
        case I32: {
            int32_t x = (int32_t)int_values[v];
            memcpy(buf + i * size, &x, size);
            break;
        }
        case U8:
            buf[i] = (uint8_t)int_values[v];
            break;
        case VSTR:
            memcpy(buf + i * size, &string_values[v], size);
            break;
        case FSTR:
            strncpy((char *)buf + i * size, string_values[v], size);
            break;
        }
    }
    return buf;
}

int fuzz_h5_build(const char *path, const char *kind, const char *const *names, size_t n_names)
{
    FILE *fp = fopen(path, "rb");
    uint8_t program[4096];
    size_t size = fp ? fread(program, 1, sizeof(program), fp) : 0;
    if (fp)
        fclose(fp);
    struct cursor c = {program, size, 0};
    hid_t file = H5Fcreate(path, H5F_ACC_TRUNC, H5P_DEFAULT, H5P_DEFAULT);
    if (file < 0)
        return mx_error(MX_EIO, "%s: cannot create the HDF5 file", path);
    char groups[16][256] = {"/"};
    int n_groups = 1;
    unsigned flags = next(&c);
    if (flags & 1) {
        char format[64];
        snprintf(format, sizeof(format), "muxplan-%s/1", kind);
        hid_t type = H5Tcopy(H5T_C_S1), space = H5Screate(H5S_SCALAR);
        H5Tset_size(type, H5T_VARIABLE);
        hid_t attr = H5Acreate2(file, "format", type, space, H5P_DEFAULT, H5P_DEFAULT);
        const char *value = format;
        H5Awrite(attr, type, &value);
        H5Aclose(attr);
        H5Sclose(space);
        H5Tclose(type);
    }
    for (int op = 0; op < 64 && c.at < c.size; op++) {
        unsigned what = next(&c) % 3;
        const char *parent = groups[next(&c) % (unsigned)n_groups];
        const char *name = names[next(&c) % n_names];
        char object[512];
        snprintf(object, sizeof(object), "%s%s%s", parent, strcmp(parent, "/") ? "/" : "", name);
        if (what == 0) {
            hid_t g = H5Gcreate2(file, object, H5P_DEFAULT, H5P_DEFAULT, H5P_DEFAULT);
            if (g >= 0) {
                H5Gclose(g);
                if (n_groups < 16 && strlen(object) < sizeof(groups[0]))
                    strcpy(groups[n_groups++], object);
            }
            continue;
        }
        enum elem e;
        int rank;
        hsize_t dims[2] = {0, 0};
        if (what == 1) {
            e = (enum elem)(next(&c) % 6);
            rank = (int)(next(&c) % 3);
            for (int d = 0; d < rank; d++)
                dims[d] = next(&c) % 8;
        } else {
            unsigned t = next(&c) % 5;
            e = t < 3 ? (enum elem)t : t == 3 ? VSTR : FSTR;
            dims[0] = next(&c) % 3;
            rank = dims[0] ? 1 : 0;
        }
        size_t n = rank == 0 ? 1 : rank == 1 ? dims[0] : dims[0] * dims[1];
        void *buf = values(&c, e, n);
        hid_t type = memory_type(e);
        hid_t space = rank ? H5Screate_simple(rank, dims, NULL) : H5Screate(H5S_SCALAR);
        hid_t id = what == 1 ? H5Dcreate2(file, object, type, space, H5P_DEFAULT, H5P_DEFAULT,
                                          H5P_DEFAULT)
                             : H5Acreate_by_name(file, parent, name, type, space, H5P_DEFAULT,
                                                 H5P_DEFAULT, H5P_DEFAULT);
        if (id >= 0) {
            if (n > 0)
                what == 1 ? H5Dwrite(id, type, H5S_ALL, H5S_ALL, H5P_DEFAULT, buf)
                          : H5Awrite(id, type, buf);
            what == 1 ? H5Dclose(id) : H5Aclose(id);
        }
        H5Sclose(space);
        if (e == VSTR || e == FSTR)
            H5Tclose(type);
        free(buf);
    }
    H5Fclose(file);
    H5Eclear2(H5E_DEFAULT);
    return MX_OK;
}
