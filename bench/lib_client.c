/* The library through its C ABI, as a C program would use it.
 *
 * The server comes from the environment, as for any user of the default
 * client: FEISHU_BASE_URL (http://127.0.0.1:PORT or https://...) and, for
 * TLS, FEISHU_CA_FILE.
 *
 *   lib_client seq N        first call of the process (default client created,
 *                           connection opened: "new process" cold call), then
 *                           1000 warm-up calls, then N timed calls
 *   lib_client cold K       K times: feishu_client_new(NULL) from the
 *                           environment, its first call (connect, handshake),
 *                           feishu_client_free; medians of both
 *   lib_client mem N        warm-up, then N calls between two readings of
 *                           VmRSS and (with malloc_count.so preloaded) of the
 *                           allocation counters
 *   lib_client threads T N  T threads share the default client; N calls in all
 *                           (each thread warms up first); calls per second
 *
 * Every call must return FEISHU_OK with FEISHU_TASK_STATUS_SUCCESS; any other
 * outcome is printed and makes the exit status 1.
 */
#include "common.h"

#include <pthread.h>

#include "feishu_task.h"

static int failures;

static void check_call(int32_t rc, FeishuTaskStatus status)
{
    if (rc != FEISHU_OK || status != FEISHU_TASK_STATUS_SUCCESS) {
        FeishuError err;
        if (__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED) < 3) {
            feishu_last_error(&err);
            fprintf(stderr, "lib_client: call failed: rc=%d status=%d: %s\n", (int)rc,
                    (int)status, err.message);
        }
    }
}

static void call(void)
{
    FeishuTaskStatus status = FEISHU_TASK_STATUS_UNKNOWN;
    int32_t rc = feishu_task_check(BENCH_TOKEN, BENCH_TASK_ID, &status);
    check_call(rc, status);
}

static void run_seq(long n)
{
    uint64_t *lat = malloc((size_t)n * sizeof *lat);
    uint64_t t0, first, start, total, cpu0;
    long i;
    if (!lat)
        die("out of memory");
    t0 = now_ns();
    call();
    first = now_ns() - t0;
    for (i = 0; i < BENCH_WARMUP; i++)
        call();
    cpu0 = cpu_ns();
    start = now_ns();
    for (i = 0; i < n; i++) {
        uint64_t t = now_ns();
        call();
        lat[i] = now_ns() - t;
    }
    total = now_ns() - start;
    cpu0 = cpu_ns() - cpu0;
    printf("first_call_ns=%" PRIu64 " ", first);
    print_latencies("lib", lat, (size_t)n, total, cpu0);
    free(lat);
}

static void run_cold(long k)
{
    uint64_t *create = malloc((size_t)k * sizeof *create);
    uint64_t *first = malloc((size_t)k * sizeof *first);
    uint64_t *both = malloc((size_t)k * sizeof *both);
    long i;
    if (!create || !first || !both)
        die("out of memory");
    for (i = 0; i < k; i++) {
        FeishuError err;
        FeishuTaskStatus status = FEISHU_TASK_STATUS_UNKNOWN;
        uint64_t t0 = now_ns(), t1, t2;
        FeishuClient *client = feishu_client_new(NULL, &err);
        int32_t rc;
        t1 = now_ns();
        if (!client) {
            fprintf(stderr, "lib_client: feishu_client_new: %s\n", err.message);
            exit(1);
        }
        rc = feishu_client_task_check(client, BENCH_TOKEN, BENCH_TASK_ID, &status, &err);
        t2 = now_ns();
        check_call(rc, status);
        feishu_client_free(client);
        create[i] = t1 - t0;
        first[i] = t2 - t1;
        both[i] = t2 - t0;
    }
    printf("client=lib cold=%ld new_client_ns=%" PRIu64 " first_call_ns=%" PRIu64
           " new_plus_first_ns=%" PRIu64 "\n",
           k, median_u64(create, (size_t)k), median_u64(first, (size_t)k),
           median_u64(both, (size_t)k));
    free(create);
    free(first);
    free(both);
}

static void run_mem(long n)
{
    struct alloc_counts a, b;
    long rss_short, rss0, rss_half = 0, rss1, i;
    int counting;
    for (i = 0; i < BENCH_WARMUP; i++)
        call();
    rss_short = rss_kb();
    for (; i < BENCH_MEM_WARMUP; i++)
        call();
    rss0 = rss_kb();
    counting = alloc_snapshot(&a) == 0;
    for (i = 0; i < n; i++) {
        call();
        if (i == n / 2)
            rss_half = rss_kb();
    }
    if (counting)
        alloc_snapshot(&b);
    rss1 = rss_kb();
    printf("client=lib calls=%ld warmup=%d rss_after_1000_kb=%ld rss_before_kb=%ld rss_half_kb=%ld "
           "rss_after_kb=%ld rss_growth_kb=%ld settling_kb=%ld\n",
           n, BENCH_MEM_WARMUP, rss_short, rss0, rss_half, rss1, rss1 - rss0, rss0 - rss_short);
    if (counting)
        print_allocs("lib", &a, &b, (size_t)n);
}

struct worker {
    pthread_t thread;
    long calls;
};

static pthread_barrier_t ready, go;

static void *work(void *arg)
{
    struct worker *w = arg;
    long i;
    for (i = 0; i < 50; i++) /* opens this thread's connection */
        call();
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&go);
    for (i = 0; i < w->calls; i++)
        call();
    return NULL;
}

static void run_threads(long t, long n)
{
    struct worker *w = calloc((size_t)t, sizeof *w);
    uint64_t start, wall, cpu;
    long i;
    if (!w || t < 1)
        die("bad thread count");
    pthread_barrier_init(&ready, NULL, (unsigned)t + 1);
    pthread_barrier_init(&go, NULL, (unsigned)t + 1);
    for (i = 0; i < t; i++) {
        w[i].calls = n / t + (i < n % t);
        if (pthread_create(&w[i].thread, NULL, work, &w[i]) != 0)
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
    printf("client=lib threads=%ld calls=%ld wall_ns=%" PRIu64 " cpu_per_call_ns=%" PRIu64
           " calls_per_s=%.0f\n",
           t, n, wall, cpu / (uint64_t)n, (double)n * 1e9 / (double)wall);
    free(w);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "seq";
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (strcmp(mode, "seq") == 0)
        run_seq(arg_long(argc, argv, 2, 20000));
    else if (strcmp(mode, "cold") == 0)
        run_cold(arg_long(argc, argv, 2, 50));
    else if (strcmp(mode, "mem") == 0)
        run_mem(arg_long(argc, argv, 2, 100000));
    else if (strcmp(mode, "threads") == 0)
        run_threads(arg_long(argc, argv, 2, 1), arg_long(argc, argv, 3, 20000));
    else
        die("usage: lib_client seq N | cold K | mem N | threads T N");
    return failures ? 1 : 0;
}
