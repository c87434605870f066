/* The client API from C: options, explicit clients, the err out-parameter,
 * retries and the log callback. FEISHU_BASE_URL names the mock server; the
 * clients are configured explicitly from it, not from the environment. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>

#include "check.h"

struct log_lines {
    pthread_mutex_t lock;
    int count[4];
    int secrets;
};

static void on_log(void *user_data, FeishuLogLevel level, const char *message)
{
    struct log_lines *lines = user_data;
    pthread_mutex_lock(&lines->lock);
    if (level >= 1 && level <= 3)
        lines->count[level]++;
    if (strstr(message, "SECRET") != NULL || strstr(message, "hunter2") != NULL)
        lines->secrets++;
    pthread_mutex_unlock(&lines->lock);
}

static FeishuClient *build(const char *base_url, FeishuLogCallback cb, void *user_data)
{
    FeishuError err;
    FeishuClient *client;
    FeishuClientOptions *o = feishu_client_options_new();
    CHECK(o != NULL, "options");
    CHECK(feishu_client_options_set_base_url(o, base_url) == FEISHU_OK, "base url %s", base_url);
    CHECK(feishu_client_options_set_timeouts(o, 2000, 5000) == FEISHU_OK, "timeouts");
    CHECK(feishu_client_options_set_max_retries(o, 2) == FEISHU_OK, "retries");
    CHECK(feishu_client_options_set_proxy(o, NULL) == FEISHU_OK, "no proxy");
    CHECK(feishu_client_options_set_log_callback(o, cb, user_data) == FEISHU_OK, "callback");
    client = feishu_client_new(o, &err);
    CHECK(client != NULL && err.code == FEISHU_OK && err.message[0] == '\0', "client: %s",
          err.message);
    feishu_client_options_free(o); /* the client does not need them any more */
    return client;
}

int main(void)
{
    const char *base = getenv("FEISHU_BASE_URL");
    struct log_lines lines;
    FeishuClient *client, *quiet;
    FeishuClientOptions *o;
    FeishuError err;
    FeishuTaskStatus status;
    int32_t rc;

    memset(&lines, 0, sizeof lines);
    pthread_mutex_init(&lines.lock, NULL);
    if (base == NULL) {
        fprintf(stderr, "FEISHU_BASE_URL must name the mock server\n");
        return 2;
    }

    /* Setters reject bad values at once, with a message. */
    o = feishu_client_options_new();
    CHECK(feishu_client_options_set_base_url(o, FEISHU_BASE_URL_LARK) == FEISHU_OK, "lark");
    CHECK(feishu_client_options_set_base_url(o, FEISHU_BASE_URL_FEISHU) == FEISHU_OK, "feishu");
    CHECK(feishu_client_options_set_base_url(o, "gopher://x") == FEISHU_ERR_INVALID_ARGUMENT,
          "scheme");
    CHECK(feishu_last_error(&err) == FEISHU_ERR_INVALID_ARGUMENT && strstr(err.message, "scheme"),
          "message: %s", err.message);
    CHECK(feishu_client_options_set_base_url(o, NULL) == FEISHU_ERR_INVALID_ARGUMENT, "NULL url");
    CHECK(feishu_client_options_set_timeouts(o, 0, 0) == FEISHU_ERR_INVALID_ARGUMENT, "0 ms");
    CHECK(feishu_client_options_set_max_retries(o, 1000) == FEISHU_ERR_INVALID_ARGUMENT, "1000");
    CHECK(feishu_client_options_set_proxy(o, "socks5://u:hunter2@h:1") ==
              FEISHU_ERR_INVALID_ARGUMENT, "socks");
    feishu_last_error(&err);
    CHECK(strstr(err.message, "hunter2") == NULL, "no password: %s", err.message);
    CHECK(feishu_client_options_set_ca_file(o, "/nonexistent.pem") == FEISHU_ERR_INVALID_ARGUMENT,
          "ca");
    CHECK(feishu_client_options_set_base_url(NULL, FEISHU_BASE_URL_LARK) ==
              FEISHU_ERR_INVALID_ARGUMENT, "NULL options");
    feishu_client_options_free(o);
    feishu_client_options_free(NULL);
    feishu_client_free(NULL);

    client = build(base, on_log, &lines);
    quiet = build(base, NULL, NULL);

    /* Success fills err with code 0; a platform error fills it all. */
    memset(&err, 0x55, sizeof err);
    rc = feishu_client_task_check(client, TEST_TOKEN, "process", &status, &err);
    CHECK(rc == FEISHU_OK && status == FEISHU_TASK_STATUS_PROCESS, "rc %ld", (long)rc);
    CHECK(err.code == 0 && err.http_status == 0 && err.message[0] == '\0' && err.log_id[0] == '\0',
          "err cleared on success");
    rc = feishu_client_task_check(client, TEST_TOKEN, "err-1061003", &status, &err);
    CHECK(rc == 1061003 && status == FEISHU_TASK_STATUS_UNKNOWN, "rc %ld", (long)rc);
    CHECK(err.code == 1061003 && err.http_status == 404 && err.log_id[0] != '\0' &&
              strstr(err.message, "not found.") != NULL,
          "err: %ld %d %s", (long)err.code, (int)err.http_status, err.message);
    CHECK(feishu_last_error(NULL) == 1061003, "thread-local updated too");

    /* A 5xx is retried (3 attempts), then reported with the attempt count. */
    rc = feishu_client_task_check(client, TEST_TOKEN, "err-1061001", &status, &err);
    CHECK(rc == 1061001 && strstr(err.message, "after 3 attempts") != NULL, "retried: %s",
          err.message);

    /* err may be NULL; invalid input through a client sends nothing. */
    CHECK(feishu_client_task_check(quiet, TEST_TOKEN, "fail", &status, NULL) == FEISHU_OK &&
              status == FEISHU_TASK_STATUS_FAIL, "NULL err");
    CHECK(feishu_client_task_check(quiet, "Bearer x", "fail", &status, &err) ==
              FEISHU_ERR_INVALID_ARGUMENT, "bad token");
    CHECK(feishu_client_task_check(NULL, TEST_TOKEN, "fail", &status, &err) ==
              FEISHU_ERR_INVALID_ARGUMENT && strstr(err.message, "client is NULL") != NULL,
          "NULL client: %s", err.message);

    /* The log callback saw: 1 success (info), 1 final 404 (error), and for
     * 1061001 two retried attempts (warn) and a final one (error). */
    CHECK(lines.count[FEISHU_LOG_LEVEL_INFO] == 1, "info %d", lines.count[FEISHU_LOG_LEVEL_INFO]);
    CHECK(lines.count[FEISHU_LOG_LEVEL_WARN] == 2, "warn %d", lines.count[FEISHU_LOG_LEVEL_WARN]);
    CHECK(lines.count[FEISHU_LOG_LEVEL_ERROR] == 2, "error %d",
          lines.count[FEISHU_LOG_LEVEL_ERROR]);
    CHECK(lines.secrets == 0, "secrets in log lines: %d", lines.secrets);

    feishu_client_free(client);
    feishu_client_free(quiet);
    pthread_mutex_destroy(&lines.lock);
    return check_done("client");
}
