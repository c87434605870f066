/* Shared helpers of the benchmark clients: timing, medians, RSS, allocation
 * counts (when malloc_count.so is preloaded), and the common command line.
 *
 * Every client prints one line of `key=value` pairs that bench/run.sh parses.
 * All times are in nanoseconds.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <inttypes.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <time.h>

/* What every client asks for: the same token and task id as the library. */
#define BENCH_TOKEN "t-g1044ghJRUIJJ5ELPZ5EVHXZQXTOVM6V2ZVKOXF7"
#define BENCH_TASK_ID "7360595374803812356"
#define BENCH_PATH "/open-apis/drive/v1/files/task_check"
#define BENCH_WARMUP 1000

static inline uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* CPU time of the whole process (all threads), user + system, in ns. */
static inline uint64_t cpu_ns(void)
{
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    return ((uint64_t)ru.ru_utime.tv_sec + (uint64_t)ru.ru_stime.tv_sec) * 1000000000u +
           ((uint64_t)ru.ru_utime.tv_usec + (uint64_t)ru.ru_stime.tv_usec) * 1000u;
}

static int cmp_u64(const void *a, const void *b)
{
    uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;
    return (x > y) - (x < y);
}

/* Sorts `v` in place and returns its median. */
static inline uint64_t median_u64(uint64_t *v, size_t n)
{
    if (n == 0)
        return 0;
    qsort(v, n, sizeof *v, cmp_u64);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

/* Prints the summary of `n` per-call times (sorted by this call) and of the
 * CPU time (user + system) the process spent on them. */
static inline void print_latencies(const char *who, uint64_t *v, size_t n, uint64_t total_ns,
                                   uint64_t cpu)
{
    uint64_t p50 = median_u64(v, n);
    printf("client=%s calls=%zu p50_ns=%" PRIu64 " mean_ns=%" PRIu64 " p99_ns=%" PRIu64
           " min_ns=%" PRIu64 " cpu_per_call_ns=%" PRIu64 "\n",
           who, n, p50, n ? total_ns / n : 0, n ? v[(n * 99) / 100] : 0, n ? v[0] : 0,
           n ? cpu / n : 0);
}

/* The warm-up before memory is measured: RSS settles over the first few
 * thousand calls (buffers and the heap reach their working size). */
#define BENCH_MEM_WARMUP 10000

/* Resident set size of this process, in kB (/proc/self/status VmRSS). */
static inline long rss_kb(void)
{
    FILE *f = fopen("/proc/self/status", "r");
    char line[256];
    long kb = -1;
    if (!f)
        return -1;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "VmRSS:", 6) == 0) {
            kb = strtol(line + 6, NULL, 10);
            break;
        }
    fclose(f);
    return kb;
}

/* Allocation counters of bench/malloc_count.so, when it is preloaded. */
struct alloc_counts {
    uint64_t allocs, frees, bytes;
};
typedef void (*snapshot_fn)(uint64_t *allocs, uint64_t *frees, uint64_t *bytes);

/* Returns 0 and fills `c`, or -1 when malloc_count.so is not preloaded. */
static inline int alloc_snapshot(struct alloc_counts *c)
{
    static snapshot_fn fn;
    static int looked;
    if (!looked) {
        fn = (snapshot_fn)(uintptr_t)dlsym(RTLD_DEFAULT, "malloc_count_snapshot");
        looked = 1;
    }
    if (!fn)
        return -1;
    fn(&c->allocs, &c->frees, &c->bytes);
    return 0;
}

static inline void print_allocs(const char *who, const struct alloc_counts *a,
                                const struct alloc_counts *b, size_t calls)
{
    printf("client=%s calls=%zu allocs_per_call=%.2f frees_per_call=%.2f bytes_per_call=%.1f\n",
           who, calls, (double)(b->allocs - a->allocs) / (double)calls,
           (double)(b->frees - a->frees) / (double)calls,
           (double)(b->bytes - a->bytes) / (double)calls);
}

static inline void die(const char *what)
{
    fprintf(stderr, "bench: %s\n", what);
    exit(2);
}

static inline long arg_long(int argc, char **argv, int i, long dflt)
{
    return argc > i ? strtol(argv[i], NULL, 10) : dflt;
}

#endif
