/* A host that forks with warm connections (a pre-fork server, a multiprocessing
 * pool). Usage: fork BASE_URL CA_FILE APP_ID APP_SECRET
 *
 * Two clients with max_retries 0 (a corrupted connection must show, not be
 * retried away): one with an explicit token, one with a managed tenant token.
 * Each makes a warm call, then six times: fork; the child makes calls and
 * exits with their outcome; the parent waits for it, then makes calls. Both
 * sides must succeed every time: a child that reused its parent's TLS session
 * would corrupt it for both ("cannot decrypt peer's message"). */
#define _POSIX_C_SOURCE 200809L

#include <stdlib.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#include "check.h"

static FeishuClient *client_for(const char *base_url, const char *ca_file, const char *app_id,
                                const char *app_secret)
{
    FeishuError err;
    FeishuClient *c;
    FeishuClientOptions *o = feishu_client_options_new();
    CHECK(o != NULL, "options");
    CHECK(feishu_client_options_set_base_url(o, base_url) == FEISHU_OK, "base url");
    CHECK(feishu_client_options_set_ca_file(o, ca_file) == FEISHU_OK, "ca file");
    CHECK(feishu_client_options_set_max_retries(o, 0) == FEISHU_OK, "retries");
    CHECK(feishu_client_options_set_proxy(o, NULL) == FEISHU_OK, "no proxy");
    if (app_id != NULL) {
        CHECK(feishu_client_options_set_app_credentials(o, app_id, app_secret) == FEISHU_OK,
              "credentials");
    }
    c = feishu_client_new(o, &err);
    CHECK(c != NULL, "client: %s", err.message);
    feishu_client_options_free(o);
    return c;
}

/* One call of each client; returns how many failed. */
static int calls(const FeishuClient *direct, const FeishuClient *managed, const char *who,
                 int round)
{
    const FeishuClient *clients[2];
    const char *tokens[2] = {TEST_TOKEN, NULL};
    int i, failed = 0;
    clients[0] = direct;
    clients[1] = managed;
    for (i = 0; i < 2; i++) {
        FeishuError err;
        FeishuTaskStatus status = FEISHU_TASK_STATUS_UNKNOWN;
        int32_t rc = feishu_client_task_check(clients[i], tokens[i], "success", &status, &err);
        if (rc != FEISHU_OK || status != FEISHU_TASK_STATUS_SUCCESS) {
            fprintf(stderr, "round %d, %s, %s client: rc %ld: %s\n", round, who,
                    i == 0 ? "explicit-token" : "managed-token", (long)rc, err.message);
            failed++;
        }
    }
    return failed;
}

int main(int argc, char **argv)
{
    FeishuClient *direct, *managed;
    int round;
    if (argc != 5) {
        fprintf(stderr, "usage: fork BASE_URL CA_FILE APP_ID APP_SECRET\n");
        return 2;
    }
    direct = client_for(argv[1], argv[2], NULL, NULL);
    managed = client_for(argv[1], argv[2], argv[3], argv[4]);
    if (direct == NULL || managed == NULL) {
        return check_done("fork");
    }
    CHECK(calls(direct, managed, "parent (warm-up)", 0) == 0, "warm-up calls");
    for (round = 1; round <= 6; round++) {
        int wstatus = 0;
        pid_t pid = fork();
        CHECK(pid >= 0, "fork");
        if (pid < 0) {
            break;
        }
        if (pid == 0) {
            /* Two calls in the child: its own connection is reused too. */
            int failed = calls(direct, managed, "child", round) + calls(direct, managed, "child", round);
            feishu_client_free(direct);
            feishu_client_free(managed);
            _exit(failed == 0 ? 0 : 1);
        }
        CHECK(waitpid(pid, &wstatus, 0) == pid, "waitpid");
        CHECK(WIFEXITED(wstatus) && WEXITSTATUS(wstatus) == 0, "round %d: the child's calls failed",
              round);
        CHECK(calls(direct, managed, "parent", round) == 0, "round %d: the parent's calls failed",
              round);
    }
    feishu_client_free(direct);
    feishu_client_free(managed);
    return check_done("fork");
}
