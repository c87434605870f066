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
 * The modes are those of common.h; a connection is what is opened (connect
 * and, over https, the handshake), so each thread has its own.
 *
 */
#include "common.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
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
        /* On first use, so that a process's first call pays for it; once,
         * whichever of the threads gets there first. */
        static pthread_once_t tls_once = PTHREAD_ONCE_INIT;
        pthread_once(&tls_once, tls_init);
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

/* One request, one response; returns 0 when it is a 200 with the status. */
__attribute__((noinline)) static int exchange(struct conn *c)
{
    size_t sent = 0, total;
    const char *body_start = NULL;
    long cl = -1;
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

static void *raw_open(int cold)
{
    struct conn *c = malloc(sizeof *c);
    (void)cold;
    if (!c)
        die("out of memory");
    if (conn_open(c) != 0)
        die("connect failed");
    return c;
}

static void raw_call(void *c)
{
    if (exchange(c) != 0) {
        fprintf(stderr, "raw_client: exchange failed\n");
        exit(1);
    }
}

static void raw_close(void *c)
{
    conn_close(c);
    free(c);
}

int main(int argc, char **argv)
{
    struct bench_client raw = {"raw", raw_open, raw_call, raw_close};
    const char *url = getenv("FEISHU_BASE_URL");
    int rc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    if (!url)
        die("set FEISHU_BASE_URL");
    parse_url(url);
    rc = bench_main(argc, argv, &raw);
    if (tls_ctx)
        SSL_CTX_free(tls_ctx);
    return rc;
}
