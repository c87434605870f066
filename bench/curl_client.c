/* What a C developer writes by hand: libcurl with one reused easy handle
 * (so one keep-alive connection), the same headers as the library, the body
 * collected in a buffer and checked for HTTP 200 and "status":"success".
 *
 * Server from the environment, like the library: FEISHU_BASE_URL,
 * FEISHU_CA_FILE (CURLOPT_CAINFO).
 *
 * The modes are those of common.h; what is opened is an easy handle (its
 * connection is made by its first call), so each thread has its own: an easy
 * handle is not to be used by two threads at once.
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
        if (__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED) < 3)
            fprintf(stderr, "curl_client: call failed: %s, HTTP %ld\n", curl_easy_strerror(rc),
                    status);
    }
}

struct handle {
    CURL *h;
    struct sink s;
};

static void *curl_open(int cold)
{
    struct handle *c = malloc(sizeof *c);
    (void)cold;
    if (!c)
        die("out of memory");
    c->h = new_handle(&c->s);
    return c;
}

static void curl_call(void *p)
{
    struct handle *c = p;
    call(c->h, &c->s);
}

static void curl_close(void *p)
{
    struct handle *c = p;
    curl_easy_cleanup(c->h);
    free(c);
}

int main(int argc, char **argv)
{
    static const struct bench_client curl = {"curl", curl_open, curl_call, curl_close};
    const char *base = getenv("FEISHU_BASE_URL");
    int rc;
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
    rc = bench_main(argc, argv, &curl);
    curl_slist_free_all(headers);
    curl_global_cleanup();
    return rc ? rc : failures ? 1 : 0;
}
