/* Allocation wrappers: out-of-memory and size overflow are fatal, so callers never check for NULL.
 */
#include "mx_alloc.h"

#include "mx_file.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

void mx_bug(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    fprintf(stderr, "muxplan: bug at %s:%d: ", file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    abort();
}

static size_t checked_bytes(const char *file, int line, size_t n, size_t size)
{
    if (size != 0 && n > SIZE_MAX / size)
        mx_bug(file, line, "allocation of %zu x %zu bytes overflows", n, size);
    size_t bytes = n * size;
    return bytes ? bytes : 1;
}

/* Running out of memory is no bug: the input was too big for this machine. Every temporary output
 * goes, and the process ends with the status of a failure while running. */
static _Noreturn void out_of_memory(const char *file, int line, size_t bytes)
{
    mx_out_remove_temporaries();
    const char *slash = strrchr(file, '/');
    fprintf(stderr,
            "muxplan: out of memory: %zu bytes more could not be had (at %s:%d); the input is "
            "too large for this machine's memory or limits\n",
            bytes, slash ? slash + 1 : file, line);
    exit(1);
}

static void *checked(const char *file, int line, void *p, size_t bytes)
{
    if (!p)
        out_of_memory(file, line, bytes);
    return p;
}

void *mx_calloc_at(const char *file, int line, size_t n, size_t size)
{
    size_t bytes = checked_bytes(file, line, n, size);
    return checked(file, line, calloc(1, bytes), bytes);
}

void *mx_malloc_array_at(const char *file, int line, size_t n, size_t size)
{
    size_t bytes = checked_bytes(file, line, n, size);
    return checked(file, line, malloc(bytes), bytes);
}

void *mx_realloc_array_at(const char *file, int line, void *p, size_t n, size_t size)
{
    size_t bytes = checked_bytes(file, line, n, size);
    return checked(file, line, realloc(p, bytes), bytes);
}

/* The huge page size of x86-64 and arm64 with 4 KiB pages; where it is another, the advice still
 * covers the whole array. */
enum { HUGE_PAGE_BYTES = 2 << 20 };

void *mx_malloc_huge_at(const char *file, int line, size_t n, size_t size)
{
    size_t bytes = checked_bytes(file, line, n, size);
    if (bytes < HUGE_PAGE_BYTES)
        return checked(file, line, malloc(bytes), bytes);
    size_t rounded = (bytes + HUGE_PAGE_BYTES - 1) / HUGE_PAGE_BYTES * HUGE_PAGE_BYTES;
    if (rounded < bytes)
        mx_bug(file, line, "allocation of %zu bytes overflows", bytes);
    void *p = checked(file, line, aligned_alloc(HUGE_PAGE_BYTES, rounded), rounded);
    (void)madvise(p, rounded, MADV_HUGEPAGE); /* advice only: without it, ordinary pages */
    return p;
}

char *mx_strdup_at(const char *file, int line, const char *s)
{
    size_t bytes = strlen(s) + 1;
    char *copy = checked(file, line, malloc(bytes), bytes);
    memcpy(copy, s, bytes);
    return copy;
}

char *mx_strfmt_at(const char *file, int line, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    int len = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (len < 0)
        mx_bug(file, line, "bad format \"%s\"", fmt);
    char *s = checked(file, line, malloc((size_t)len + 1), (size_t)len + 1);
    va_start(ap, fmt);
    vsnprintf(s, (size_t)len + 1, fmt, ap);
    va_end(ap);
    return s;
}
