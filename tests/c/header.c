/* Compiled as C99, C11 and C++11 with -Wall -Wextra -Werror -pedantic: the
 * header is self-contained, and its names, values and layout are the contract's. */
#include "feishu_task.h"
#include "feishu_task.h" /* the include guard works */

#include <stddef.h>

#ifdef __cplusplus
#define STATIC_ASSERT(c, m) static_assert(c, #m)
#else
#define STATIC_ASSERT(c, m) typedef char static_assert_##m[(c) ? 1 : -1]
#endif

STATIC_ASSERT(FEISHU_OK == 0, ok);
STATIC_ASSERT(FEISHU_ERR_INVALID_ARGUMENT == -1, invalid);
STATIC_ASSERT(FEISHU_ERR_NETWORK == -2, network);
STATIC_ASSERT(FEISHU_ERR_TIMEOUT == -3, timeout);
STATIC_ASSERT(FEISHU_ERR_HTTP == -4, http);
STATIC_ASSERT(FEISHU_ERR_PROTOCOL == -5, protocol);
STATIC_ASSERT(FEISHU_ERR_CANCELLED == -6, cancelled);
STATIC_ASSERT(FEISHU_ERR_INTERNAL == -99, internal);
STATIC_ASSERT(0 - FEISHU_ERR_NETWORK == 2, usable_in_expressions);
STATIC_ASSERT(FEISHU_TASK_STATUS_UNKNOWN == 0, unknown);
STATIC_ASSERT(FEISHU_TASK_STATUS_SUCCESS == 1, success);
STATIC_ASSERT(FEISHU_TASK_STATUS_FAIL == 2, fail);
STATIC_ASSERT(FEISHU_TASK_STATUS_PROCESS == 3, process);
STATIC_ASSERT(sizeof(FeishuTaskStatus) == 4, status_is_int32);
STATIC_ASSERT(sizeof(FeishuError) == 332, error_size);
STATIC_ASSERT(offsetof(FeishuError, code) == 0, code_at_0);
STATIC_ASSERT(offsetof(FeishuError, http_status) == 4, http_at_4);
STATIC_ASSERT(offsetof(FeishuError, retry_after_ms) == 8, retry_at_8);
STATIC_ASSERT(offsetof(FeishuError, log_id) == 12, log_id_at_12);
STATIC_ASSERT(offsetof(FeishuError, message) == 76, message_at_76);

/* Every function, with its exact type. */
int32_t (*const p_check)(const char *, const char *, FeishuTaskStatus *) = feishu_task_check;
int32_t (*const p_last)(FeishuError *) = feishu_last_error;
const char *(*const p_strerror)(int32_t) = feishu_strerror;
const char *(*const p_version)(void) = feishu_version;

int main(void)
{
    /* Calls that need no server: the strings are static and the last error of a
     * fresh thread is FEISHU_OK. */
    FeishuError err;
    return (p_version()[0] != '\0' && p_strerror(-99)[0] != '\0' && p_last(&err) == FEISHU_OK &&
            err.code == 0 && p_check(NULL, NULL, NULL) == FEISHU_ERR_INVALID_ARGUMENT)
               ? 0
               : 1;
}
