/* Calls made while the thread is being torn down: a pthread key destructor
 * runs after the thread's Rust thread-locals are gone. Every call must still
 * return its code (and never abort the host). Usage: teardown */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>

#include "check.h"

static pthread_key_t key;
static int32_t rc_in_destructor = 1, last_in_destructor = 1;

static void destructor(void *value)
{
    FeishuError err;
    FeishuTaskStatus status = FEISHU_TASK_STATUS_PROCESS;
    (void)value;
    rc_in_destructor = feishu_task_check(NULL, "success", &status);
    last_in_destructor = feishu_last_error(&err);
}

static void *thread_main(void *arg)
{
    FeishuTaskStatus status;
    (void)arg;
    /* A first call gives the thread its last-error state (and its teardown). */
    CHECK(feishu_task_check(NULL, "success", &status) == FEISHU_ERR_INVALID_ARGUMENT, "call");
    pthread_setspecific(key, &key);
    return NULL;
}

int main(void)
{
    pthread_t t;
    CHECK(pthread_key_create(&key, destructor) == 0, "key");
    CHECK(pthread_create(&t, NULL, thread_main, NULL) == 0, "thread");
    CHECK(pthread_join(t, NULL) == 0, "join");
    CHECK(rc_in_destructor == FEISHU_ERR_INVALID_ARGUMENT, "rc in a key destructor: %ld",
          (long)rc_in_destructor);
    CHECK(last_in_destructor == FEISHU_OK || last_in_destructor == FEISHU_ERR_INVALID_ARGUMENT,
          "last error in a key destructor: %ld", (long)last_in_destructor);
    return check_done("teardown");
}
