/* Makes argv[1] sequential calls with the default client. The harness runs it
 * under strace to count threads spawned and name resolutions: a call on a warm
 * keep-alive connection must do neither. */
#include <stdlib.h>

#include "check.h"

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 100;
    int i;
    for (i = 0; i < n; i++) {
        FeishuTaskStatus status;
        int32_t rc = feishu_task_check(TEST_TOKEN, "process", &status);
        CHECK(rc == FEISHU_OK && status == FEISHU_TASK_STATUS_PROCESS, "call %d: rc %ld", i,
              (long)rc);
    }
    return check_done("warm_calls");
}
