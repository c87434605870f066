/* The floor: what the exchange costs with nothing but a socket. One
 * keep-alive connection, a request built once (the same bytes the library
 * sends, up to the User-Agent), and a read of exactly one response per
 * request (status line, Content-Length, body; the body is checked for
 * "status":"success"). Over https the same on an OpenSSL connection that
 * verifies the server against FEISHU_CA_FILE.
 *
 * Server from the environment, like the library: FEISHU_BASE_URL
 * (http(s)://IPv4:port), FEISHU_CA_FILE.
 *
 *   raw_client seq N        1000 warm-up calls, then N timed calls
 *   raw_client cold K       K times: connect (+ handshake) and one call
 *   raw_client mem N        N calls between two RSS / allocation readings
 *   raw_client threads T N  T threads, one connection each, N calls in all
 *
 * RAW_SYSCALLS=lib adds the library's one extra system call per exchange (see below).
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

static struct sockaddr_in server;
static int use_tls;
static char host_header[128];
static char request[1024];
static size_t request_len;
static SSL_CTX *tls_ctx;
static const char *ip_text;

struct conn {
    int fd;
    SSL *ssl;
    char buf[16384];
    size_t have;
};

static void parse_url(const char *url)
{
    static char host[64];
    const char *p;
    const char *colon;
    long port;
    if (strncmp(url, "https://", 8) == 0) {
        use_tls = 1;
        p = url + 8;
    } else if (strncmp(url, "http://", 7) == 0) {
        p = url + 7;
    } else {
        die("FEISHU_BASE_URL must be http(s)://IPv4:port");
    }
    colon = strchr(p, ':');
    if (!colon || (size_t)(colon - p) >= sizeof host)
        die("FEISHU_BASE_URL needs an explicit port");
    memcpy(host, p, (size_t)(colon - p));
    host[colon - p] = '\0';
    port = strtol(colon + 1, NULL, 10);
    memset(&server, 0, sizeof server);
    server.sin_family = AF_INET;
    server.sin_port = htons((uint16_t)port);
    if (inet_pton(AF_INET, host, &server.sin_addr) != 1)
        die("FEISHU_BASE_URL host must be an IPv4 literal");
    ip_text = host;
    snprintf(host_header, sizeof host_header, "%s:%ld", host, port);
    request_len = (size_t)snprintf(request, sizeof request,
                                   "GET " BENCH_PATH "?task_id=" BENCH_TASK_ID " HTTP/1.1\r\n"
                                   "user-agent: raw-floor/0.1.0\r\n"
                                   "accept: application/json\r\n"
                                   "host: %s\r\n"
                                   "authorization: Bearer " BENCH_TOKEN "\r\n\r\n",
                                   host_header);
}

static void tls_init(void)
{
    const char *ca = getenv("FEISHU_CA_FILE");
    tls_ctx = SSL_CTX_new(TLS_client_method());
    if (!tls_ctx)
        die("SSL_CTX_new failed");
    if (!ca || SSL_CTX_load_verify_locations(tls_ctx, ca, NULL) != 1)
        die("FEISHU_CA_FILE is needed for https and must be a PEM file");
    SSL_CTX_set_verify(tls_ctx, SSL_VERIFY_PEER, NULL);
}

static int conn_open(struct conn *c)
{
    int one = 1;
    c->have = 0;
    c->ssl = NULL;
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0 || connect(c->fd, (struct sockaddr *)&server, sizeof server) != 0)
        return -1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    if (use_tls) {
        if (!tls_ctx) /* on first use, so that a process's first call pays for it */
            tls_init();
        c->ssl = SSL_new(tls_ctx);
        if (!c->ssl)
            return -1;
        X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl), ip_text);
        SSL_set_fd(c->ssl, c->fd);
        if (SSL_connect(c->ssl) != 1)
            return -1;
    }
    return 0;
}

static void conn_close(struct conn *c)
{
    if (c->ssl) {
        SSL_shutdown(c->ssl);
        SSL_free(c->ssl);
    }
    if (c->fd >= 0)
        close(c->fd);
}

static long conn_write(struct conn *c, const char *p, size_t n)
{
    return c->ssl ? SSL_write(c->ssl, p, (int)n) : write(c->fd, p, n);
}

static long conn_read(struct conn *c, char *p, size_t n)
{
    return c->ssl ? SSL_read(c->ssl, p, (int)n) : read(c->fd, p, n);
}

static const char *find_header_end(const char *p, size_t n)
{
    const char *e = memmem(p, n, "\r\n\r\n", 4);
    return e ? e + 4 : NULL;
}

static long content_length(const char *head, size_t n)
{
    const char *p = head;
    const char *end = head + n;
    while (p < end) {
        const char *eol = memmem(p, (size_t)(end - p), "\r\n", 2);
        if (!eol)
            break;
        if ((size_t)(eol - p) > 15 && strncasecmp(p, "content-length:", 15) == 0)
            return strtol(p + 15, NULL, 10);
        p = eol + 2;
    }
    return -1;
}

/* RAW_SYSCALLS=lib: the floor plus the one system call the library adds to
 * each call: the liveness probe of the pooled connection before the request,
 * one recv(MSG_PEEK | MSG_DONTWAIT) (3 system calls per call instead of 2).
 * Over TLS a session ticket may be waiting: the peek leaves it for OpenSSL. */
static int extra_probe;
static const char *client_name = "raw";

static void probe(struct conn *c)
{
    char b;
    if (extra_probe)
        (void)!recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
}

/* One request, one response; returns 0 when it is a 200 with the status. */
__attribute__((noinline)) static int exchange(struct conn *c)
{
    size_t sent = 0, total;
    const char *body_start = NULL;
    long cl = -1;
    probe(c);
    while (sent < request_len) {
        long w = conn_write(c, request + sent, request_len - sent);
        if (w <= 0)
            return -1;
        sent += (size_t)w;
    }
    for (;;) {
        if (!body_start) {
            body_start = find_header_end(c->buf, c->have);
            if (body_start) {
                cl = content_length(c->buf, (size_t)(body_start - c->buf));
                if (cl < 0)
                    return -1;
            }
        }
        if (body_start && c->have >= (size_t)(body_start - c->buf) + (size_t)cl)
            break;
        if (c->have == sizeof c->buf)
            return -1;
        {
            long r = conn_read(c, c->buf + c->have, sizeof c->buf - c->have);
            if (r <= 0)
                return -1;
            c->have += (size_t)r;
        }
    }
    total = (size_t)(body_start - c->buf) + (size_t)cl;
    {
        int ok = c->have >= 12 && memcmp(c->buf, "HTTP/1.1 200", 12) == 0 &&
                 memmem(body_start, (size_t)cl, "\"status\":\"success\"", 18) != NULL;
        memmove(c->buf, c->buf + total, c->have - total);
        c->have -= total;
        return ok ? 0 : -1;
    }
}

static int failures;

static void call(struct conn *c)
{
    if (exchange(c) != 0) {
        fprintf(stderr, "raw_client: exchange failed\n");
        __atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED);
        exit(1);
    }
}

static void run_seq(long n)
{
    static struct conn c;
    uint64_t *lat = malloc((size_t)n * sizeof *lat);
    uint64_t t0, first, start, total, cpu0;
    long i;
    if (!lat)
        die("out of memory");
    t0 = now_ns();
    if (conn_open(&c) != 0)
        die("connect failed");
    call(&c);
    first = now_ns() - t0;
    for (i = 0; i < BENCH_WARMUP; i++)
        call(&c);
    cpu0 = cpu_ns();
    start = now_ns();
    for (i = 0; i < n; i++) {
        uint64_t t = now_ns();
        call(&c);
        lat[i] = now_ns() - t;
    }
    total = now_ns() - start;
    cpu0 = cpu_ns() - cpu0;
    conn_close(&c);
    printf("first_call_ns=%" PRIu64 " ", first);
    print_latencies(client_name, lat, (size_t)n, total, cpu0);
    free(lat);
}

static void run_cold(long k)
{
    static struct conn c;
    uint64_t *first = malloc((size_t)k * sizeof *first);
    long i;
    if (!first)
        die("out of memory");
    for (i = 0; i < k; i++) {
        uint64_t t0 = now_ns();
        if (conn_open(&c) != 0)
            die("connect failed");
        call(&c);
        first[i] = now_ns() - t0;
        conn_close(&c);
    }
    printf("client=raw cold=%ld new_client_ns=0 first_call_ns=%" PRIu64
           " new_plus_first_ns=%" PRIu64 "\n",
           k, median_u64(first, (size_t)k), first[k / 2]);
    free(first);
}

static void run_mem(long n)
{
    static struct conn c;
    struct alloc_counts a, b;
    long rss_short, rss0, rss_half = 0, rss1, i;
    int counting;
    if (conn_open(&c) != 0)
        die("connect failed");
    for (i = 0; i < BENCH_WARMUP; i++)
        call(&c);
    rss_short = rss_kb();
    for (; i < BENCH_MEM_WARMUP; i++)
        call(&c);
    rss0 = rss_kb();
    counting = alloc_snapshot(&a) == 0;
    for (i = 0; i < n; i++) {
        call(&c);
        if (i == n / 2)
            rss_half = rss_kb();
    }
    if (counting)
        alloc_snapshot(&b);
    rss1 = rss_kb();
    conn_close(&c);
    printf("client=raw calls=%ld warmup=%d rss_after_1000_kb=%ld rss_before_kb=%ld rss_half_kb=%ld "
           "rss_after_kb=%ld rss_growth_kb=%ld settling_kb=%ld\n",
           n, BENCH_MEM_WARMUP, rss_short, rss0, rss_half, rss1, rss1 - rss0, rss0 - rss_short);
    if (counting)
        print_allocs("raw", &a, &b, (size_t)n);
}

struct worker {
    pthread_t thread;
    long calls;
    struct conn c;
};

static pthread_barrier_t ready, go;

static void *work(void *arg)
{
    struct worker *w = arg;
    long i;
    if (conn_open(&w->c) != 0)
        die("connect failed");
    for (i = 0; i < 50; i++)
        call(&w->c);
    pthread_barrier_wait(&ready);
    pthread_barrier_wait(&go);
    for (i = 0; i < w->calls; i++)
        call(&w->c);
    conn_close(&w->c);
    return NULL;
}

static void run_threads(long t, long n)
{
    struct worker *w = calloc((size_t)t, sizeof *w);
    uint64_t start, wall, cpu;
    long i;
    if (!w || t < 1)
        die("bad thread count");
    if (use_tls && !tls_ctx)
        tls_init();
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
    printf("client=raw threads=%ld calls=%ld wall_ns=%" PRIu64 " cpu_per_call_ns=%" PRIu64
           " calls_per_s=%.0f\n",
           t, n, wall, cpu / (uint64_t)n, (double)n * 1e9 / (double)wall);
    free(w);
}

int main(int argc, char **argv)
{
    const char *mode = argc > 1 ? argv[1] : "seq";
    const char *url = getenv("FEISHU_BASE_URL");
    setvbuf(stdout, NULL, _IOLBF, 0);
    const char *mimic = getenv("RAW_SYSCALLS");
    if (!url)
        die("set FEISHU_BASE_URL");
    if (mimic && strcmp(mimic, "lib") == 0) {
        extra_probe = 1;
        client_name = "raw+lib-syscalls";
    } else if (mimic && *mimic) {
        die("RAW_SYSCALLS: only \"lib\" is known");
    }
    parse_url(url);
    if (strcmp(mode, "seq") == 0)
        run_seq(arg_long(argc, argv, 2, 20000));
    else if (strcmp(mode, "cold") == 0)
        run_cold(arg_long(argc, argv, 2, 50));
    else if (strcmp(mode, "mem") == 0)
        run_mem(arg_long(argc, argv, 2, 100000));
    else if (strcmp(mode, "threads") == 0)
        run_threads(arg_long(argc, argv, 2, 1), arg_long(argc, argv, 3, 20000));
    else
        die("usage: raw_client seq N | cold K | mem N | threads T N");
    if (tls_ctx)
        SSL_CTX_free(tls_ctx);
    return failures ? 1 : 0;
}
