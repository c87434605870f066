/* Shared part of the benchmark clients: timing, medians, RSS, allocation
 * counts (when malloc_count.so is preloaded), and the four measurements with
 * their command line, the same for every client (bench_main):
 *
 *   <client> seq N        open a connection and make the first call (timed as
 *                         the "first call"), 1000 warm-up calls, N timed calls
 *   <client> cold K       K times: open a new one, its first call, close it;
 *                         medians of the open, the call and both
 *   <client> mem N        warm-up, then N calls between two readings of VmRSS
 *                         and of the allocation counters
 *   <client> threads T N  T threads, each opens its own (for the library: the
 *                         shared default client) and warms up; N calls in all
 *
 * A client is three functions (struct bench_client): open, call, close. Each
 * prints one line of `key=value` pairs that bench/run.sh parses. All times are
 * in nanoseconds.
 */
#ifndef BENCH_COMMON_H
#define BENCH_COMMON_H

#define _GNU_SOURCE
#include <dlfcn.h>
#include <inttypes.h>
#include <pthread.h>
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

/* What a client is to the driver. `open` returns what `call` and `close` take
 * (a connection, a handle, a client; NULL is allowed, e.g. for the library's
 * default client) and exits the program when it cannot; `cold` says that it
 * is for a cold call (a new client even where the warm modes share one).
 * `call` makes one request and checks its answer. */
struct bench_client {
    const char *name;
    void *(*open)(int cold);
    void (*call)(void *state);
    void (*close)(void *state);
};

static inline void bench_seq(const struct bench_client *c, long n)
{
    uint64_t *lat = malloc((size_t)n * sizeof *lat);
    uint64_t t0, first, start, total, cpu0;
    void *state;
    long i;
    if (!lat)
        die("out of memory");
    t0 = now_ns();
    state = c->open(0);
    c->call(state);
    first = now_ns() - t0;
    for (i = 0; i < BENCH_WARMUP; i++)
        c->call(state);
    cpu0 = cpu_ns();
    start = now_ns();
    for (i = 0; i < n; i++) {
        uint64_t t = now_ns();
        c->call(state);
        lat[i] = now_ns() - t;
    }
    total = now_ns() - start;
    cpu0 = cpu_ns() - cpu0;
    c->close(state);
    printf("first_call_ns=%" PRIu64 " ", first);
    print_latencies(c->name, lat, (size_t)n, total, cpu0);
    free(lat);
}

static inline void bench_cold(const struct bench_client *c, long k)
{
    uint64_t *create = malloc((size_t)k * sizeof *create);
    uint64_t *first = malloc((size_t)k * sizeof *first);
    uint64_t *both = malloc((size_t)k * sizeof *both);
    long i;
    if (!create || !first || !both)
        die("out of memory");
    for (i = 0; i < k; i++) {
        uint64_t t0 = now_ns(), t1, t2;
        void *state = c->open(1);
        t1 = now_ns();
        c->call(state);
        t2 = now_ns();
        c->close(state);
        create[i] = t1 - t0;
        first[i] = t2 - t1;
        both[i] = t2 - t0;
    }
    printf("client=%s cold=%ld new_client_ns=%" PRIu64 " first_call_ns=%" PRIu64
           " new_plus_first_ns=%" PRIu64 "\n",
           c->name, k, median_u64(create, (size_t)k), median_u64(first, (size_t)k),
           median_u64(both, (size_t)k));
    free(create);
    free(first);
    free(both);
}

static inline void bench_mem(const struct bench_client *c, long n)
{
    struct alloc_counts a, b;
    long rss_short, rss0, rss_half = 0, rss1, i;
    int counting;
    void *state = c->open(0);
    for (i = 0; i < BENCH_WARMUP; i++)
        c->call(state);
    rss_short = rss_kb();
    for (; i < BENCH_MEM_WARMUP; i++)
        c->call(state);
    rss0 = rss_kb();
    counting = alloc_snapshot(&a) == 0;
    for (i = 0; i < n; i++) {
        c->call(state);
        if (i == n / 2)
            rss_half = rss_kb();
    }
    if (counting)
        alloc_snapshot(&b);
    rss1 = rss_kb();
    c->close(state);
    printf("client=%s calls=%ld warmup=%d rss_after_1000_kb=%ld rss_before_kb=%ld rss_half_kb=%ld "
           "rss_after_kb=%ld rss_growth_kb=%ld settling_kb=%ld\n",
           c->name, n, BENCH_MEM_WARMUP, rss_short, rss0, rss_half, rss1, rss1 - rss0,
           rss0 - rss_short);
    if (counting)
        print_allocs(c->name, &a, &b, (size_t)n);
}

struct bench_worker {
    pthread_t thread;
    long calls;
    const struct bench_client *client;
    pthread_barrier_t *ready, *go;
};

static void *bench_work(void *arg)
{
    struct bench_worker *w = arg;
    void *state = w->client->open(0);
    long i;
    for (i = 0; i < 50; i++) /* opens this thread's connection */
        w->client->call(state);
    pthread_barrier_wait(w->ready);
    pthread_barrier_wait(w->go);
    for (i = 0; i < w->calls; i++)
        w->client->call(state);
    w->client->close(state);
    return NULL;
}

static inline void bench_threads(const struct bench_client *c, long t, long n)
{
    struct bench_worker *w = calloc((size_t)t, sizeof *w);
    pthread_barrier_t ready, go;
    uint64_t start, wall, cpu;
    long i;
    if (!w)
        die("out of memory");
    pthread_barrier_init(&ready, NULL, (unsigned)t + 1);
    pthread_barrier_init(&go, NULL, (unsigned)t + 1);
    for (i = 0; i < t; i++) {
        w[i].calls = n / t + (i < n % t);
        w[i].client = c;
        w[i].ready = &ready;
        w[i].go = &go;
        if (pthread_create(&w[i].thread, NULL, bench_work, &w[i]) != 0)
            die("pthread_create failed");
    }
    pthread_barrier_wait(&ready);
    cpu = cpu_ns();
    start = now_ns();
    pthread_barrier_wait(&go);
    for (i = 0; i < t; i++)
        pthread_join(w[i].thread, NULL);
    wall = now_ns() - start;
    cpu = cpu_ns() - cpu;
    printf("client=%s threads=%ld calls=%ld wall_ns=%" PRIu64 " cpu_per_call_ns=%" PRIu64
           " calls_per_s=%.0f\n",
           c->name, t, n, wall, cpu / (uint64_t)n, (double)n * 1e9 / (double)wall);
    pthread_barrier_destroy(&ready);
    pthread_barrier_destroy(&go);
    free(w);
}

/* Runs the mode the command line asks for; returns 0, or 2 for bad usage
 * (an unknown mode, a count below 1). */
static inline int bench_main(int argc, char **argv, const struct bench_client *c)
{
    const char *mode = argc > 1 ? argv[1] : "seq";
    long n = arg_long(argc, argv, 2, 0), m = arg_long(argc, argv, 3, 0);
    if (strcmp(mode, "seq") == 0 && n >= 1)
        bench_seq(c, n);
    else if (strcmp(mode, "cold") == 0 && n >= 1)
        bench_cold(c, n);
    else if (strcmp(mode, "mem") == 0 && n >= 1)
        bench_mem(c, n);
    else if (strcmp(mode, "threads") == 0 && n >= 1 && m >= 1)
        bench_threads(c, n, m);
    else {
        fprintf(stderr, "usage: %s seq N | cold K | mem N | threads T N (counts of 1 or more)\n",
                argv[0]);
        return 2;
    }
    return 0;
}

#endif
