/* Every bad input of abi.md gives FEISHU_ERR_INVALID_ARGUMENT and UNKNOWN, with
 * a clear message and no token in it. The harness checks that the server saw
 * no request at all while this ran. */
#include <stdlib.h>

#include "check.h"

#define U FEISHU_TASK_STATUS_UNKNOWN
#define BAD FEISHU_ERR_INVALID_ARGUMENT

static void expect_message(const char *token, const char *task_id, const char *needle, int line)
{
    FeishuError e = expect_check(token, task_id, BAD, U, line);
    CHECK(strstr(e.message, needle) != NULL, "line %d: message \"%s\" lacks \"%s\"", line,
          e.message, needle);
    CHECK(e.http_status == 0 && e.log_id[0] == '\0' && e.retry_after_ms == 0,
          "line %d: nothing was sent, so no HTTP details", line);
}

#define EXPECT_MSG(t, id, needle) expect_message((t), (id), (needle), __LINE__)

int main(void)
{
    static char long_token[4098];
    static char long_task[1026];

    EXPECT_MSG(NULL, "success", "token is NULL");
    EXPECT_MSG(TEST_TOKEN, NULL, "task_id is NULL");
    EXPECT_MSG(NULL, NULL, "NULL");
    EXPECT_MSG("", "success", "token is empty");
    EXPECT_MSG(TEST_TOKEN, "", "task_id is empty");
    EXPECT_MSG("Bearer " TEST_TOKEN, "success", "Bearer");
    EXPECT_MSG("t-SECRET with space", "success", "space");
    EXPECT_MSG("t-SECRET\r\nX-Injected: 1", "success", "line break");
    EXPECT_MSG("t-SECRET\tTAB", "success", "control");
    EXPECT_MSG("t-SECRET\xe4\xb8\xad", "success", "non-ASCII");
    EXPECT_MSG(TEST_TOKEN, "bad-utf8-\xff\xfe", "UTF-8");
    EXPECT_MSG(TEST_TOKEN, "overlong-\xc0\xaf", "UTF-8");

    memset(long_token, 'a', sizeof long_token - 1);
    EXPECT_MSG(long_token, "success", "longer than 4096");
    memset(long_task, '1', sizeof long_task - 1);
    EXPECT_MSG(TEST_TOKEN, long_task, "longer than 1024");

    /* NULL out_status is fine; the code still comes back. */
    CHECK(feishu_task_check(NULL, "x", NULL) == BAD, "NULL everything");

    CHECK(FEISHU_MAX_TOKEN_LEN == 4096 && FEISHU_MAX_TASK_ID_LEN == 1024, "limits");
    return check_done("invalid_input");
}
