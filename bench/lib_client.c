/* The library through its C ABI, as a C program would use it.
 *
 * The server comes from the environment, as for any user of the default
 * client: FEISHU_BASE_URL (http://127.0.0.1:PORT or https://...) and, for
 * TLS, FEISHU_CA_FILE.
 *
 * The modes are those of common.h. Warm calls (seq, mem, threads) go through
 * the default client, `feishu_task_check`: the first call of the process
 * creates it and opens its connection (seq's "first call"), and the threads
 * share it. A cold call is `feishu_client_new(NULL)` from the environment, its
 * first call (connect, handshake) and `feishu_client_free`.
 *
 * Every call must return FEISHU_OK with FEISHU_TASK_STATUS_SUCCESS; any other
 * outcome is printed and makes the exit status 1.
 *
 * LIB_CLIENT_NAME is the `client=` its lines carry: `run.sh --before REV`
 * builds a second copy, against the header and library of revision REV, as
 * "lib_before", so that report.py can tell the two libraries apart.
 */
#include "common.h"

#include "feishu_task.h"

#ifndef LIB_CLIENT_NAME
#define LIB_CLIENT_NAME "lib"
#endif

static int failures;

static void *lib_open(int cold)
{
    FeishuError err;
    FeishuClient *client;
    if (!cold)
        return NULL; /* the default client */
    client = feishu_client_new(NULL, &err);
    if (!client) {
        fprintf(stderr, "lib_client: feishu_client_new: %s\n", err.message);
        exit(1);
    }
    return client;
}

static void lib_call(void *client)
{
    FeishuTaskStatus status = FEISHU_TASK_STATUS_UNKNOWN;
    FeishuError err;
    int32_t rc = client ? feishu_client_task_check(client, BENCH_TOKEN, BENCH_TASK_ID, &status, &err)
                        : feishu_task_check(BENCH_TOKEN, BENCH_TASK_ID, &status);
    if (rc != FEISHU_OK || status != FEISHU_TASK_STATUS_SUCCESS) {
        if (__atomic_fetch_add(&failures, 1, __ATOMIC_RELAXED) < 3) {
            if (!client)
                feishu_last_error(&err);
            fprintf(stderr, "lib_client: call failed: rc=%d status=%d: %s\n", (int)rc,
                    (int)status, err.message);
        }
    }
}

static void lib_close(void *client)
{
    feishu_client_free(client); /* NULL (the default client) is a no-op */
}

int main(int argc, char **argv)
{
    static const struct bench_client lib = {LIB_CLIENT_NAME, lib_open, lib_call, lib_close};
    int rc;
    setvbuf(stdout, NULL, _IOLBF, 0);
    rc = bench_main(argc, argv, &lib);
    return rc ? rc : failures ? 1 : 0;
}
