/* Allocation that never returns NULL.
 *
 * Every heap allocation in muxplan goes through these wrappers. Running out of memory ends the
 * process with a message and status 1 (a failure while running: the input is too large, which is
 * no bug), after removing every temporary output; a size that overflows size_t is a bug and aborts.
 * Both name the caller's file and line. Memory from them is released with free(). */
#ifndef MX_ALLOC_H
#define MX_ALLOC_H

#include <stddef.h>

/* Abort with "muxplan: bug at FILE:LINE: MESSAGE". For broken invariants, never for bad input. */
#define MX_BUG(...) mx_bug(__FILE__, __LINE__, __VA_ARGS__)
_Noreturn void mx_bug(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* n elements of size bytes each, zero-filled (n may be 0: returns a unique pointer). */
#define mx_calloc(n, size) mx_calloc_at(__FILE__, __LINE__, (n), (size))
/* n elements of size bytes each, uninitialised. */
#define mx_malloc_array(n, size) mx_malloc_array_at(__FILE__, __LINE__, (n), (size))
/* Resize p to n elements of size bytes; p may be NULL. */
#define mx_realloc_array(p, n, size) mx_realloc_array_at(__FILE__, __LINE__, (p), (n), (size))
/* n elements of size bytes each, uninitialised, for large arrays read at random: backed by huge
 * pages where the system gives them to programs that ask (transparent huge pages in "madvise"
 * mode), which spares most TLB misses. Released with free(), like the rest. */
#define mx_malloc_huge(n, size) mx_malloc_huge_at(__FILE__, __LINE__, (n), (size))
/* Copy of the NUL-terminated string s. */
#define mx_strdup(s) mx_strdup_at(__FILE__, __LINE__, (s))

/* A newly allocated string formatted like printf. */
#define mx_strfmt(...) mx_strfmt_at(__FILE__, __LINE__, __VA_ARGS__)

/* Typed shorthands: MX_NEW(struct foo) and MX_NEW_ARRAY(double, n) zero-fill. */
#define MX_NEW(type) ((type *)mx_calloc(1, sizeof(type)))
#define MX_NEW_ARRAY(type, n) ((type *)mx_calloc((n), sizeof(type)))

void *mx_calloc_at(const char *file, int line, size_t n, size_t size);
void *mx_malloc_array_at(const char *file, int line, size_t n, size_t size);
void *mx_realloc_array_at(const char *file, int line, void *p, size_t n, size_t size);
void *mx_malloc_huge_at(const char *file, int line, size_t n, size_t size);
char *mx_strdup_at(const char *file, int line, const char *s);
char *mx_strfmt_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#endif
