/* feishu_task_check against the mock server: every status, every documented
 * platform error, and every fault. Run with FEISHU_BASE_URL pointing at the
 * server and FEISHU_TIMEOUT_MS=1500. */
#include <stdlib.h>

#include "check.h"

#define U FEISHU_TASK_STATUS_UNKNOWN

int main(void)
{
    FeishuError e;

    /* The documented statuses. */
    EXPECT(TEST_TOKEN, "7360595374803812356", FEISHU_OK, FEISHU_TASK_STATUS_SUCCESS);
    EXPECT(TEST_TOKEN, "success", FEISHU_OK, FEISHU_TASK_STATUS_SUCCESS);
    EXPECT(TEST_TOKEN, "fail", FEISHU_OK, FEISHU_TASK_STATUS_FAIL);
    EXPECT(TEST_TOKEN, "process", FEISHU_OK, FEISHU_TASK_STATUS_PROCESS);
    CHECK(feishu_task_check(TEST_TOKEN, "success", NULL) == FEISHU_OK, "NULL out_status is allowed");

    /* Documented platform errors, passed through with HTTP status and log id. */
    e = EXPECT(TEST_TOKEN, "err-1061001", 1061001, U);
    CHECK(e.http_status == 500, "http %d", (int)e.http_status);
    CHECK(strstr(e.message, "internal error.") != NULL, "msg: %s", e.message);
    CHECK(e.log_id[0] != '\0', "log id present");
    e = EXPECT(TEST_TOKEN, "err-1061002", 1061002, U);
    CHECK(e.http_status == 400, "http %d", (int)e.http_status);
    CHECK(strstr(e.message, "params error.") != NULL, "msg: %s", e.message);
    e = EXPECT(TEST_TOKEN, "err-1061003", 1061003, U);
    CHECK(e.http_status == 404, "http %d", (int)e.http_status);
    CHECK(strstr(e.message, "not found.") != NULL, "msg: %s", e.message);
    CHECK(strspn(e.log_id, "0123456789") == strlen(e.log_id) && strlen(e.log_id) > 10,
          "header log id: %s", e.log_id);
    e = EXPECT(TEST_TOKEN, "nologid-header-1061003", 1061003, U);
    CHECK(e.log_id[0] != '\0', "log id from the body when the header is missing");
    e = EXPECT(TEST_TOKEN, "nologid-1061003", 1061003, U);
    CHECK(e.log_id[0] == '\0', "no log id anywhere: \"%s\"", e.log_id);

    /* Token expired: HTTP 200 and HTTP 400 alike; the body decides. */
    e = EXPECT(TEST_TOKEN, "token-expired", 99991663, U);
    CHECK(e.http_status == 200, "http %d", (int)e.http_status);
    e = EXPECT(TEST_TOKEN, "token-expired-400", 99991663, U);
    CHECK(e.http_status == 400, "http %d", (int)e.http_status);
    EXPECT("t-expired", "success", 99991663, U);

    /* Rate limited: the reset header becomes retry_after_ms. Another tenant's
     * token: the 429 holds back this token for 3 s (the learned gate). */
    e = EXPECT(TEST_TOKEN "-tenant-b", "rate-limited", 99991400, U);
    CHECK(e.http_status == 429, "http %d", (int)e.http_status);
    CHECK(e.retry_after_ms == 3000, "retry_after_ms %lu", (unsigned long)e.retry_after_ms);
    CHECK(e.log_id[0] != '\0', "log id present");
    /* The same token again, within a deadline shorter than the reset: refused
     * at once without sending (no HTTP status, no log id), the wait left in
     * retry_after_ms. The other token is not held back. */
    e = EXPECT(TEST_TOKEN "-tenant-b", "success", 99991400, U);
    CHECK(e.http_status == 0, "nothing was sent: http %d", (int)e.http_status);
    CHECK(e.retry_after_ms > 0 && e.retry_after_ms <= 3000, "retry_after_ms %lu",
          (unsigned long)e.retry_after_ms);
    CHECK(e.log_id[0] == '\0', "no log id: %s", e.log_id);
    CHECK(strstr(e.message, "not sent") != NULL, "says so: %s", e.message);
    EXPECT(TEST_TOKEN, "success", FEISHU_OK, FEISHU_TASK_STATUS_SUCCESS);

    /* Bodies not in the documented shape. */
    EXPECT(TEST_TOKEN, "status-unknown", FEISHU_ERR_PROTOCOL, U);
    {
        FeishuError u;
        feishu_task_check(TEST_TOKEN, "status-unknown", NULL);
        feishu_last_error(&u);
        CHECK(strstr(u.message, "finished") != NULL, "names the status: %s", u.message);
    }
    EXPECT(TEST_TOKEN, "missing-data", FEISHU_ERR_PROTOCOL, U);
    EXPECT(TEST_TOKEN, "wrong-type", FEISHU_ERR_PROTOCOL, U);
    EXPECT(TEST_TOKEN, "code-negative", FEISHU_ERR_PROTOCOL, U);
    EXPECT(TEST_TOKEN, "code-huge", FEISHU_ERR_PROTOCOL, U);
    EXPECT(TEST_TOKEN, "code-string", FEISHU_ERR_PROTOCOL, U);
    EXPECT(TEST_TOKEN, "code-float", FEISHU_ERR_PROTOCOL, U);
    EXPECT(TEST_TOKEN, "garbage", FEISHU_ERR_PROTOCOL, U);
    EXPECT(TEST_TOKEN, "empty", FEISHU_ERR_PROTOCOL, U);
    EXPECT(TEST_TOKEN, "deep-json", FEISHU_ERR_PROTOCOL, U);
    e = EXPECT(TEST_TOKEN, "oversized", FEISHU_ERR_PROTOCOL, U);
    CHECK(e.http_status == 200, "http %d", (int)e.http_status);
    EXPECT(TEST_TOKEN, "oversized-chunked", FEISHU_ERR_PROTOCOL, U);

    /* HTTP errors that are not platform errors; redirects are not followed. */
    e = EXPECT(TEST_TOKEN, "html-502", FEISHU_ERR_HTTP, U);
    CHECK(e.http_status == 502, "http %d", (int)e.http_status);
    e = EXPECT(TEST_TOKEN, "redirect", FEISHU_ERR_HTTP, U);
    CHECK(e.http_status == 302, "http %d", (int)e.http_status);

    /* Network faults. */
    e = EXPECT(TEST_TOKEN, "reset", FEISHU_ERR_NETWORK, U);
    CHECK(e.http_status == 0, "no response: http %d", (int)e.http_status);
    e = EXPECT(TEST_TOKEN, "truncated", FEISHU_ERR_NETWORK, U);

    /* The deadline (FEISHU_TIMEOUT_MS) against a silent and a trickling server. */
    EXPECT(TEST_TOKEN, "stall", FEISHU_ERR_TIMEOUT, U);
    EXPECT(TEST_TOKEN, "trickle", FEISHU_ERR_TIMEOUT, U);

    /* Still healthy afterwards. */
    EXPECT(TEST_TOKEN, "success", FEISHU_OK, FEISHU_TASK_STATUS_SUCCESS);

    /* Static strings. */
    CHECK(getenv("EXPECT_VERSION") != NULL && strcmp(feishu_version(), getenv("EXPECT_VERSION")) == 0,
          "version %s", feishu_version());
    CHECK(feishu_strerror(FEISHU_ERR_TIMEOUT) != NULL && feishu_strerror(-12345) != NULL &&
              feishu_strerror(1061003) != NULL && feishu_strerror(42) != NULL,
          "strerror never NULL");
    return check_done("task_check");
}
