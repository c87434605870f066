/* Compiled as C99, C11 and C++11 with -Wall -Wextra -Werror -pedantic: the
 * header is self-contained, and its names, values and layout are the contract's. */
#include "feishu_task.h"
#include "feishu_task.h" /* the include guard works */

#include <stddef.h>
#include <stdio.h>
#include <string.h>

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
FeishuClientOptions *(*const p_options_new)(void) = feishu_client_options_new;
void (*const p_options_free)(FeishuClientOptions *) = feishu_client_options_free;
int32_t (*const p_set_base_url)(FeishuClientOptions *, const char *) =
    feishu_client_options_set_base_url;
int32_t (*const p_set_timeouts)(FeishuClientOptions *, uint32_t, uint32_t) =
    feishu_client_options_set_timeouts;
int32_t (*const p_set_max_retries)(FeishuClientOptions *, uint32_t) =
    feishu_client_options_set_max_retries;
int32_t (*const p_set_proxy)(FeishuClientOptions *, const char *) = feishu_client_options_set_proxy;
int32_t (*const p_set_ca_file)(FeishuClientOptions *, const char *) =
    feishu_client_options_set_ca_file;
int32_t (*const p_set_log)(FeishuClientOptions *, FeishuLogCallback, void *) =
    feishu_client_options_set_log_callback;
FeishuClient *(*const p_client_new)(const FeishuClientOptions *, FeishuError *) = feishu_client_new;
void (*const p_client_free)(FeishuClient *) = feishu_client_free;
int32_t (*const p_client_check)(const FeishuClient *, const char *, const char *,
                                FeishuTaskStatus *, FeishuError *) = feishu_client_task_check;

STATIC_ASSERT(FEISHU_LOG_LEVEL_ERROR == 1 && FEISHU_LOG_LEVEL_WARN == 2 &&
                  FEISHU_LOG_LEVEL_INFO == 3, log_levels);
STATIC_ASSERT(sizeof(FEISHU_BASE_URL_FEISHU) == sizeof("https://open.feishu.cn"), feishu_url);
STATIC_ASSERT(sizeof(FEISHU_BASE_URL_LARK) == sizeof("https://open.larksuite.com"), lark_url);

/* The version macros: one number for #if, and AT_LEAST as curl's. */
STATIC_ASSERT(FEISHU_TASK_VERSION_NUM == ((FEISHU_TASK_VERSION_MAJOR << 16) |
                                          (FEISHU_TASK_VERSION_MINOR << 8) |
                                          FEISHU_TASK_VERSION_PATCH),
              version_num);
#if !FEISHU_TASK_VERSION_AT_LEAST(0, 1, 0)
#error "FEISHU_TASK_VERSION_AT_LEAST(0, 1, 0) is false"
#endif
#if FEISHU_TASK_VERSION_AT_LEAST(FEISHU_TASK_VERSION_MAJOR, FEISHU_TASK_VERSION_MINOR, \
                                 FEISHU_TASK_VERSION_PATCH + 1)
#error "FEISHU_TASK_VERSION_AT_LEAST is true for the next patch"
#endif
#if !FEISHU_TASK_VERSION_AT_LEAST(FEISHU_TASK_VERSION_MAJOR, FEISHU_TASK_VERSION_MINOR, \
                                  FEISHU_TASK_VERSION_PATCH)
#error "FEISHU_TASK_VERSION_AT_LEAST is false for the version itself"
#endif
STATIC_ASSERT(!FEISHU_TASK_VERSION_AT_LEAST(FEISHU_TASK_VERSION_MAJOR + 1, 0, 0), next_major);

int main(void)
{
    /* Calls that need no server: a fresh thread's last error is FEISHU_OK, the
     * strings are static, and invalid input is rejected before any I/O. */
    FeishuError err;
    int fresh = p_last(&err) == FEISHU_OK && err.code == FEISHU_OK;
    FeishuClientOptions *o = p_options_new();
    FeishuClient *c;
    int ok = o != NULL && p_set_base_url(o, FEISHU_BASE_URL_LARK) == FEISHU_OK &&
             p_set_timeouts(o, 1, 1) == FEISHU_OK && p_set_max_retries(o, 0) == FEISHU_OK &&
             p_set_proxy(o, NULL) == FEISHU_OK && p_set_log(o, NULL, NULL) == FEISHU_OK &&
             p_set_ca_file(o, NULL) == FEISHU_ERR_INVALID_ARGUMENT;
    c = p_client_new(o, &err);
    ok = ok && c != NULL &&
         p_client_check(c, NULL, "1", NULL, &err) == FEISHU_ERR_INVALID_ARGUMENT;
    p_client_free(c);
    p_options_free(o);
    {
        /* The header's version is the library's. */
        char numbers[32];
        snprintf(numbers, sizeof numbers, "%d.%d.%d", FEISHU_TASK_VERSION_MAJOR,
                 FEISHU_TASK_VERSION_MINOR, FEISHU_TASK_VERSION_PATCH);
        ok = ok && strcmp(p_version(), numbers) == 0 &&
             strcmp(p_version(), FEISHU_TASK_VERSION) == 0;
    }
    ok = ok && fresh && p_version()[0] != '\0' && p_strerror(-99)[0] != '\0' &&
         p_check(NULL, NULL, NULL) == FEISHU_ERR_INVALID_ARGUMENT &&
         p_last(&err) == FEISHU_ERR_INVALID_ARGUMENT && err.code == FEISHU_ERR_INVALID_ARGUMENT;
    return ok ? 0 : 1;
}
