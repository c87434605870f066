/* A host that forks while other threads are inside calls (abi.md: the child
 * has only the forking thread; no lock, queue or fetch that another thread
 * held at that instant may block a child's call).
 * Usage: fork_busy BASE_URL APP_ID APP_SECRET FORKS
 *
 * Four threads keep calling one client (managed token, declared rate limit,
 * a host name to resolve) and the process-wide default client, one of them
 * through waits with a cancel handle. Meanwhile the main thread forks FORKS
 * times; each child calls the same client (managed and explicit token), the
 * default client, and waits with the same cancel handle, then exits with the
 * outcome. A child that has not exited within twice its calls' deadline is
 * counted as hung and killed. */
#define _POSIX_C_SOURCE 200809L

#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "check.h"

#define CALL_MS 2000
#define WORKERS 4

static FeishuClient *client;
static FeishuCancel *cancel;
static volatile sig_atomic_t stop;

struct worker {
    pthread_t thread;
    int index;
    long calls;
    long failures;
};

static int call_ok(int kind)
{
    FeishuTaskStatus status = FEISHU_TASK_STATUS_UNKNOWN;
    FeishuError err;
    int32_t rc;
    switch (kind) {
    case 0:
        rc = feishu_client_task_check(client, NULL, "success", &status, &err);
        break;
    case 1:
        rc = feishu_client_task_check(client, TEST_TOKEN, "success", &status, &err);
        break;
    case 2:
        rc = feishu_task_check(TEST_TOKEN, "success", &status);
        break;
    default:
        rc = feishu_client_task_wait(client, NULL, "success", CALL_MS, cancel, NULL, NULL,
                                     &status, &err);
        break;
    }
    return rc == FEISHU_OK && status == FEISHU_TASK_STATUS_SUCCESS;
}

static void *work(void *arg)
{
    struct worker *w = arg;
    while (!stop) {
        if (!call_ok(w->index)) {
            w->failures++;
        }
        w->calls++;
    }
    return NULL;
}

static long elapsed_ms(const struct timespec *since)
{
    struct timespec now;
    clock_gettime(CLOCK_MONOTONIC, &now);
    return (now.tv_sec - since->tv_sec) * 1000 + (now.tv_nsec - since->tv_nsec) / 1000000;
}

int main(int argc, char **argv)
{
    struct worker workers[WORKERS];
    FeishuClientOptions *o;
    FeishuError err;
    int i, forks, hung = 0, failed = 0;
    long calls = 0, failures = 0;
    if (argc != 5 || (forks = atoi(argv[4])) <= 0) {
        fprintf(stderr, "usage: fork_busy BASE_URL APP_ID APP_SECRET FORKS\n");
        return 2;
    }
    o = feishu_client_options_new();
    CHECK(feishu_client_options_set_base_url(o, argv[1]) == FEISHU_OK, "base url");
    CHECK(feishu_client_options_set_timeouts(o, 1000, CALL_MS) == FEISHU_OK, "timeouts");
    CHECK(feishu_client_options_set_app_credentials(o, argv[2], argv[3]) == FEISHU_OK, "app");
    CHECK(feishu_client_options_set_rate_limit(o, 2000, 1000) == FEISHU_OK, "rate limit");
    client = feishu_client_new(o, &err);
    feishu_client_options_free(o);
    CHECK(client != NULL, "client: %s", err.message);
    cancel = feishu_cancel_new();
    if (client == NULL || cancel == NULL) {
        return check_done("fork_busy");
    }
    CHECK(call_ok(0) && call_ok(2), "warm-up calls");
    for (i = 0; i < WORKERS; i++) {
        workers[i].index = i;
        workers[i].calls = 0;
        workers[i].failures = 0;
        CHECK(pthread_create(&workers[i].thread, NULL, work, &workers[i]) == 0, "thread");
    }
    for (i = 0; i < forks; i++) {
        struct timespec started;
        int wstatus = 0;
        pid_t pid, done = 0;
        pid = fork();
        if (pid < 0) {
            CHECK(0, "fork %d failed", i);
            break;
        }
        if (pid == 0) {
            int ok = call_ok(0) && call_ok(1) && call_ok(2) && call_ok(3) && call_ok(0);
            _exit(ok ? 0 : 1);
        }
        clock_gettime(CLOCK_MONOTONIC, &started);
        while ((done = waitpid(pid, &wstatus, WNOHANG)) == 0 && elapsed_ms(&started) < 2 * CALL_MS) {
            struct timespec nap = {0, 1000000};
            nanosleep(&nap, NULL);
        }
        if (done == 0) {
            hung++;
            kill(pid, SIGKILL);
            waitpid(pid, &wstatus, 0);
        } else if (!WIFEXITED(wstatus) || WEXITSTATUS(wstatus) != 0) {
            failed++;
        }
    }
    stop = 1;
    for (i = 0; i < WORKERS; i++) {
        pthread_join(workers[i].thread, NULL);
        calls += workers[i].calls;
        failures += workers[i].failures;
    }
    printf("fork_busy: %d forks, %d children hung, %d failed; the threads made %ld calls, %ld "
           "failed\n",
           forks, hung, failed, calls, failures);
    CHECK(hung == 0, "%d children hung (killed after %d ms)", hung, 2 * CALL_MS);
    CHECK(failed == 0, "%d children's calls failed", failed);
    CHECK(failures == 0, "%ld of the threads' calls failed", failures);
    CHECK(calls > forks, "the threads were busy during the forks (%ld calls)", calls);
    feishu_cancel_free(cancel);
    feishu_client_free(client);
    return check_done("fork_busy");
}
