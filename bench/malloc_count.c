/* A tiny allocation counter, loaded with LD_PRELOAD. It interposes the C
 * allocator entry points, counts them, and forwards to glibc's own
 * (__libc_malloc & co., so there is no dlsym bootstrap problem). The
 * benchmark clients read the counters through `malloc_count_snapshot`
 * (found with dlsym) before and after their measured calls.
 *
 * allocs: calls of malloc, calloc, realloc, and the aligned variants that
 *         returned memory;
 * frees:  free() of a non-NULL pointer, and the old block of a realloc (so
 *         allocs - frees is the change in the number of live blocks);
 * bytes:  sum of the sizes requested.
 *
 * Build: cc -O2 -shared -fPIC -o malloc_count.so malloc_count.c
 */
#define _GNU_SOURCE
#include <errno.h>
#include <stddef.h>
#include <stdint.h>

extern void *__libc_malloc(size_t);
extern void *__libc_calloc(size_t, size_t);
extern void *__libc_realloc(void *, size_t);
extern void *__libc_memalign(size_t, size_t);
extern void __libc_free(void *);

static uint64_t n_allocs, n_frees, n_bytes;

#define COUNT(size)                                                      \
    do {                                                                 \
        __atomic_fetch_add(&n_allocs, 1, __ATOMIC_RELAXED);              \
        __atomic_fetch_add(&n_bytes, (uint64_t)(size), __ATOMIC_RELAXED); \
    } while (0)

void malloc_count_snapshot(uint64_t *allocs, uint64_t *frees, uint64_t *bytes)
{
    *allocs = __atomic_load_n(&n_allocs, __ATOMIC_RELAXED);
    *frees = __atomic_load_n(&n_frees, __ATOMIC_RELAXED);
    *bytes = __atomic_load_n(&n_bytes, __ATOMIC_RELAXED);
}

void *malloc(size_t size)
{
    void *p = __libc_malloc(size);
    if (p)
        COUNT(size);
    return p;
}

void *calloc(size_t n, size_t size)
{
    void *p = __libc_calloc(n, size);
    if (p)
        COUNT(n * size);
    return p;
}

void *realloc(void *old, size_t size)
{
    void *p = __libc_realloc(old, size);
    if (p)
        COUNT(size);
    if (old && (p || size == 0))
        __atomic_fetch_add(&n_frees, 1, __ATOMIC_RELAXED);
    return p;
}

void free(void *p)
{
    if (p)
        __atomic_fetch_add(&n_frees, 1, __ATOMIC_RELAXED);
    __libc_free(p);
}

void *memalign(size_t align, size_t size)
{
    void *p = __libc_memalign(align, size);
    if (p)
        COUNT(size);
    return p;
}

void *aligned_alloc(size_t align, size_t size)
{
    return memalign(align, size);
}

int posix_memalign(void **out, size_t align, size_t size)
{
    void *p;
    if (align < sizeof(void *) || (align & (align - 1)) != 0)
        return EINVAL;
    p = memalign(align, size);
    if (!p)
        return ENOMEM;
    *out = p;
    return 0;
}
