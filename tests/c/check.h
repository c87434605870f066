/* A minimal check framework for the C tests: CHECK(cond, fmt, ...) records a
 * failure with its line and keeps going; check_done() prints a summary and
 * gives the exit status. */
#ifndef FEISHU_TEST_CHECK_H
#define FEISHU_TEST_CHECK_H

#include <stdio.h>
#include <string.h>

#include "feishu_task.h"

static int check_passed;
static int check_failed;

#define CHECK(cond, ...)                                                      \
    do {                                                                      \
        if (cond) {                                                           \
            check_passed++;                                                   \
        } else {                                                              \
            check_failed++;                                                   \
            fprintf(stderr, "%s:%d: CHECK(%s) failed: ", __FILE__, __LINE__,  \
                    #cond);                                                   \
            fprintf(stderr, __VA_ARGS__);                                     \
            fprintf(stderr, "\n");                                            \
        }                                                                     \
    } while (0)

/* The token every test uses; no message may ever contain it. */
#define TEST_TOKEN "t-SECRET0123456789abcdef"

static inline int check_done(const char *name)
{
    printf("%s: %d passed, %d failed\n", name, check_passed, check_failed);
    return check_failed == 0 ? 0 : 1;
}

/* Calls feishu_task_check and checks the code, the status written, and that the
 * thread's last error agrees and holds no secret. Returns the filled error. */
static inline FeishuError expect_check(const char *token, const char *task_id, int32_t want_rc,
                                FeishuTaskStatus want_status, int line)
{
    FeishuTaskStatus status = (FeishuTaskStatus)77;
    FeishuError err;
    int32_t rc = feishu_task_check(token, task_id, &status);
    int32_t last = feishu_last_error(&err);

    CHECK(rc == want_rc, "line %d: task %s: rc %ld, want %ld (%s)", line, task_id,
          (long)rc, (long)want_rc, err.message);
    CHECK(status == want_status, "line %d: task %s: status %d, want %d", line, task_id,
          (int)status, (int)want_status);
    CHECK(last == rc && err.code == rc, "line %d: last error %ld/%ld, rc %ld", line,
          (long)last, (long)err.code, (long)rc);
    CHECK(strstr(err.message, "SECRET") == NULL, "line %d: token in message: %s", line,
          err.message);
    CHECK(memchr(err.message, '\0', sizeof err.message) != NULL, "line %d: unterminated", line);
    CHECK(memchr(err.log_id, '\0', sizeof err.log_id) != NULL, "line %d: unterminated", line);
    if (rc == FEISHU_OK) {
        CHECK(err.message[0] == '\0' && err.http_status == 0, "line %d: success leaves no error",
              line);
    } else {
        CHECK(err.message[0] != '\0', "line %d: task %s: empty message", line, task_id);
    }
    return err;
}

#define EXPECT(token, task, rc, status) expect_check((token), (task), (rc), (status), __LINE__)

#endif
