/*
 * task_check: print the status of Feishu drive tasks.
 *
 *   FEISHU_TOKEN=t-xxxx ./task_check 7360595374803812356 [more task ids...]
 *
 * The token (a tenant_access_token or user_access_token) is read from the
 * environment so it never shows up in `ps` or shell history. Point the program
 * at another host with FEISHU_BASE_URL (e.g. https://open.larksuite.com) and
 * bound each call with FEISHU_TIMEOUT_MS.
 *
 * Exit status: 0 when every task was checked, 1 when any check failed, 2 on
 * a usage error.
 *
 * Build:  cc -std=c99 -Iinclude examples/c/task_check.c -Ltarget/release -lfeishu_task
 */
#include <stdio.h>
#include <stdlib.h>

#include "feishu_task.h"

static const char *status_name(FeishuTaskStatus status)
{
    switch (status) {
    case FEISHU_TASK_STATUS_SUCCESS: return "success (the task has finished)";
    case FEISHU_TASK_STATUS_FAIL:    return "fail (the task has failed)";
    case FEISHU_TASK_STATUS_PROCESS: return "process (still running)";
    default:                         return "unknown";
    }
}

int main(int argc, char **argv)
{
    const char *token = getenv("FEISHU_TOKEN");
    int failures = 0;
    int i;

    if (argc < 2) {
        fprintf(stderr, "usage: FEISHU_TOKEN=<access token> %s <task_id> [task_id...]\n", argv[0]);
        return 2;
    }
    if (token == NULL || token[0] == '\0') {
        fprintf(stderr, "%s: set FEISHU_TOKEN to a tenant_access_token or user_access_token\n",
                argv[0]);
        return 2;
    }

    for (i = 1; i < argc; i++) {
        FeishuTaskStatus status = FEISHU_TASK_STATUS_UNKNOWN;
        int32_t rc = feishu_task_check(token, argv[i], &status);

        if (rc == FEISHU_OK) {
            printf("%s: %s\n", argv[i], status_name(status));
        } else {
            FeishuError err;
            feishu_last_error(&err);
            failures++;
            /* rc > 0 is the platform's own code; rc < 0 a local failure. */
            printf("%s: error %ld (%s): %s", argv[i], (long)rc, feishu_strerror(rc), err.message);
            if (err.http_status != 0)
                printf(" [HTTP %d]", (int)err.http_status);
            if (err.log_id[0] != '\0')
                printf(" [log id %s]", err.log_id);
            if (err.retry_after_ms != 0)
                printf(" [retry after %lu ms]", (unsigned long)err.retry_after_ms);
            printf("\n");
        }
    }
    return failures == 0 ? 0 : 1;
}
