/* What a C developer writes by hand: libcurl with one reused easy handle
 * (so one keep-alive connection), the same headers as the library, the body
 * collected in a buffer and checked for HTTP 200 and "status":"success".
 *
 * Server from the environment, like the library: FEISHU_BASE_URL,
 * FEISHU_CA_FILE (CURLOPT_CAINFO).
 *
 *   curl_client seq N   1000 warm-up calls, then N timed calls
 *   curl_client cold K  K times: a new easy handle (setup, connect,
 *                       handshake) and its first call
 *   curl_client mem N   N calls between two RSS / allocation readings
 */
#include "common.h"

#include <curl/curl.h>

static char url[512];
static const char *ca_file;
static struct curl_slist *headers;
static int failures;

struct sink {
    char buf[16384];
    size_t have;
};

static size_t on_data(char *p, size_t size, size_t n, void *user)
{
    struct sink *s = user;
    size_t len = size * n;
    if (len > sizeof s->buf - s->have)
        return 0;
    memcpy(s->buf + s->have, p, len);
    s->have += len;
    return len;
}

static CURL *new_handle(struct sink *s)
{
    CURL *h = curl_easy_init();
    if (!h)
        die("curl_easy_init failed");
    curl_easy_setopt(h, CURLOPT_URL, url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
    curl_easy_setopt(h, CURLOPT_USERAGENT, "curl-bench/0.1.0");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, s);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 30000L);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, 10000L);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    if (ca_file)
        curl_easy_setopt(h, CURLOPT_CAINFO, ca_file);
    return h;
}

static void call(CURL *h, struct sink *s)
{
    long status = 0;
    CURLcode rc;
    s->have = 0;
    rc = curl_easy_perform(h);
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    if (rc != CURLE_OK || status != 200 ||
        !memmem(s->buf, s->have, "\"status\":\"success\"", 18)) {
        if (failures++ < 3)
            fprintf(stderr, "curl_client: call failed: %s, HTTP %ld\n", curl_easy_strerror(rc),
                    status);
    }
}

static void run_seq(long n)
{
    static struct sink s;
    uint64_t *lat = malloc((size_t)n * sizeof *lat);
    uint64_t t0, first, start, total, cpu0;
    CURL *h;
    long i;
    if (!lat)
        die("out of memory");
    t0 = now_ns();
    h = new_handle(&s);
    call(h, &s);
    first = now_ns() - t0;
    for (i = 0; i < BENCH_WARMUP; i++)
        call(h, &s);
    cpu0 = cpu_ns();
    start = now_ns();
    for (i = 0; i < n; i++) {
        uint64_t t = now_ns();
        call(h, &s);
        lat[i] = now_ns() - t;
    }
    total = now_ns() - start;
    cpu0 = cpu_ns() - cpu0;
    curl_easy_cleanup(h);
    printf("first_call_ns=%" PRIu64 " ", first);
    print_latencies("curl", lat, (size_t)n, total, cpu0);
    free(lat);
}

static void run_cold(long k)
{
    static struct sink s;
    uint64_t *create = malloc((size_t)k * sizeof *create);
    uint64_t *first = malloc((size_t)k * sizeof *first);
    uint64_t *both = malloc((size_t)k * sizeof *both);
    long i;
    if (!create || !first || !both)
        die("out of memory");
    for (i = 0; i < k; i++) {
        uint64_t t0 = now_ns(), t1, t2;
        CURL *h = new_handle(&s);
        t1 = now_ns();
        call(h, &s);
        t2 = now_ns();
        curl_easy_cleanup(h);
        create[i] = t1 - t0;
        first[i] = t2 - t1;
        both[i] = t2 - t0;
    }
    printf("client=curl cold=%ld new_client_ns=%" PRIu64 " first_call_ns=%" PRIu64
           " new_plus_first_ns=%" PRIu64 "\n",
           k, median_u64(create, (size_t)k), median_u64(first, (size_t)k),
           median_u64(both, (size_t)k));
    free(create);
    free(first);
    free(both);
}

static void run_mem(long n)
{
    static struct sink s;
    struct alloc_counts a, b;
    long rss_short, rss0, rss_half = 0, rss1, i;
    int counting;
    CURL *h = new_handle(&s);
    for (i = 0; i < BENCH_WARMUP; i++)
        call(h, &s);
    rss_short = rss_kb();
    for (; i < BENCH_MEM_WARMUP; i++)
        call(h, &s);
    rss0 = rss_kb();
    counting = alloc_snapshot(&a) == 0;
    for (i = 0; i < n; i++) {
        call(h, &s);
        if (i == n / 2)
            rss_half = rss_kb();
    }
    if (counting)
        alloc_snapshot(&b);
    rss1 = rss_kb();
    curl_easy_cleanup(h);
    printf("client=curl calls=%ld warmup=%d rss_after_1000_kb=%ld rss_before_kb=%ld rss_half_kb=%ld "
           "rss_after_kb=%ld rss_growth_kb=%ld settling_kb=%ld\n",
           n, BENCH_MEM_WARMUP, rss_short, rss0, rss_half, rss1, rss1 - rss0, rss0 - rss_short);
    if (counting)
        print_allocs("curl", &a, &b, (size_t)n);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "seq";
    const char *base = getenv("FEISHU_BASE_URL");
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!base)
        die("set FEISHU_BASE_URL");
    snprintf(url, sizeof url, "%s" BENCH_PATH "?task_id=" BENCH_TASK_ID, base);
    ca_file = getenv("FEISHU_CA_FILE");
    if (ca_file && !*ca_file)
        ca_file = NULL;
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK)
        die("curl_global_init failed");
    headers = curl_slist_append(headers, "Accept: application/json");
    headers = curl_slist_append(headers, "Authorization: Bearer " BENCH_TOKEN);
    if (strcmp(mode, "seq") == 0)
        run_seq(arg_long(argc, argv, 2, 20000));
    else if (strcmp(mode, "cold") == 0)
        run_cold(arg_long(argc, argv, 2, 50));
    else if (strcmp(mode, "mem") == 0)
        run_mem(arg_long(argc, argv, 2, 100000));
    else
        die("usage: curl_client seq N | cold K | mem N");
    curl_slist_free_all(headers);
    curl_global_cleanup();
    return failures ? 1 : 0;
}
