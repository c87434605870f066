/* 16 threads call at once, each with its own failure; each thread's
 * feishu_last_error must show its own failure, never another thread's. */
#define _POSIX_C_SOURCE 200809L
#include <pthread.h>
#include <stdlib.h>

#include "check.h"

#define THREADS 16
#define ROUNDS 20

struct job {
    const char *token;
    const char *task_id;
    int32_t want;
    int mismatches;
    int calls;
};

static pthread_barrier_t start;

static void *run(void *arg)
{
    struct job *job = arg;
    int i;
    pthread_barrier_wait(&start);
    for (i = 0; i < ROUNDS; i++) {
        FeishuError err;
        FeishuTaskStatus status = (FeishuTaskStatus)99;
        int32_t rc = feishu_task_check(job->token, job->task_id, &status);
        int32_t last = feishu_last_error(&err);
        job->calls++;
        if (rc != job->want || last != job->want || err.code != job->want)
            job->mismatches++;
        if (rc != FEISHU_OK && status != FEISHU_TASK_STATUS_UNKNOWN)
            job->mismatches++;
        if (rc == FEISHU_OK && (err.message[0] != '\0' || status == FEISHU_TASK_STATUS_UNKNOWN))
            job->mismatches++;
    }
    return NULL;
}

int main(void)
{
    static const struct { const char *token, *task; int32_t want; } kinds[] = {
        {TEST_TOKEN, "err-1061001", 1061001},
        {TEST_TOKEN, "err-1061002", 1061002},
        {TEST_TOKEN, "err-1061003", 1061003},
        {TEST_TOKEN, "token-expired", 99991663},
        /* A token of its own: its 429 holds that token back (the learned gate). */
        {TEST_TOKEN "-tenant-b", "rate-limited", 99991400},
        {TEST_TOKEN, "html-502", FEISHU_ERR_HTTP},
        {TEST_TOKEN, "garbage", FEISHU_ERR_PROTOCOL},
        {TEST_TOKEN, "", FEISHU_ERR_INVALID_ARGUMENT},
        {TEST_TOKEN, "success", FEISHU_OK},
        {TEST_TOKEN, "process", FEISHU_OK},
        {"Bearer x", "success", FEISHU_ERR_INVALID_ARGUMENT},
        {TEST_TOKEN, "status-unknown", FEISHU_ERR_PROTOCOL},
        {TEST_TOKEN, "redirect", FEISHU_ERR_HTTP},
        {TEST_TOKEN, "code-huge", FEISHU_ERR_PROTOCOL},
        {TEST_TOKEN, "fail", FEISHU_OK},
        {TEST_TOKEN, "missing-data", FEISHU_ERR_PROTOCOL},
    };
    pthread_t threads[THREADS];
    struct job jobs[THREADS];
    int i;

    pthread_barrier_init(&start, NULL, THREADS);
    for (i = 0; i < THREADS; i++) {
        jobs[i].token = kinds[i].token;
        jobs[i].task_id = kinds[i].task;
        jobs[i].want = kinds[i].want;
        jobs[i].mismatches = 0;
        jobs[i].calls = 0;
        CHECK(pthread_create(&threads[i], NULL, run, &jobs[i]) == 0, "pthread_create");
    }
    for (i = 0; i < THREADS; i++) {
        pthread_join(threads[i], NULL);
        CHECK(jobs[i].calls == ROUNDS, "thread %d made %d calls", i, jobs[i].calls);
        CHECK(jobs[i].mismatches == 0, "thread %d (%s): %d mismatches", i, jobs[i].task_id,
              jobs[i].mismatches);
    }
    pthread_barrier_destroy(&start);
    return check_done("threads");
}
