/*
 * task_check: print the status of Feishu drive tasks, or wait for them; or
 * start one (move or delete a file or folder) and wait for it to finish.
 *
 *   FEISHU_TOKEN=t-xxxx ./task_check 7360595374803812356 [more task ids...]
 *   FEISHU_TOKEN=t-xxxx ./task_check --wait 60 7360595374803812356
 *   FEISHU_TOKEN=t-xxxx ./task_check move fldcnSource folder fldcnTarget
 *   FEISHU_TOKEN=t-xxxx ./task_check --wait 600 delete fldcnOld folder
 *   FEISHU_APP_ID=cli_xxx FEISHU_APP_SECRET=xxx ./task_check 7360595374803812356
 *
 * The token (a tenant_access_token or user_access_token) is read from the
 * environment so it never shows up in `ps` or shell history; with
 * FEISHU_APP_ID and FEISHU_APP_SECRET instead, the library fetches and
 * refreshes the app's tenant_access_token itself. FEISHU_BASE_URL selects
 * another host (e.g. https://open.larksuite.com), FEISHU_TIMEOUT_MS bounds
 * each call. --wait SECONDS polls each task until it finishes, showing progress.
 *
 * move FILE_TOKEN TYPE FOLDER_TOKEN moves a file or folder into a folder, and
 * delete FILE_TOKEN TYPE deletes one (to the recycle bin); TYPE is the
 * platform's type word (folder, file, docx, sheet, ...). A folder is moved or
 * deleted as a task, which is then waited for with progress (--wait SECONDS,
 * default 300); anything else is done at once. A write is never repeated by
 * the library when it may have been applied (the message then says so).
 * (Only a first argument move or delete selects these modes.)
 *
 * Exit status: 0 when every task was checked (or finished, with --wait), or
 * the move or delete succeeded (its task finished with success); 1 when any
 * failed; 2 on a usage error.
 *
 * Build:  cc -std=c99 -Iinclude examples/c/task_check.c -Ltarget/release -lfeishu_task
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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

static void print_error(const char *task_id, int32_t rc, const FeishuError *err)
{
    /* rc > 0 is the platform's own code; rc < 0 a local failure. */
    printf("%s: error %ld (%s): %s", task_id, (long)rc, feishu_strerror(rc), err->message);
    if (err->http_status != 0)
        printf(" [HTTP %d]", (int)err->http_status);
    if (err->log_id[0] != '\0')
        printf(" [log id %s]", err->log_id);
    if (err->retry_after_ms != 0)
        printf(" [retry after %lu ms]", (unsigned long)err->retry_after_ms);
    printf("\n");
}

/* The progress display of --wait: one line per poll. */
static int32_t show_progress(void *user_data, FeishuTaskStatus status, uint32_t polls,
                             uint64_t elapsed_ms)
{
    const char *task_id = user_data;
    printf("  %s: poll %lu at %lu.%01lu s: %s\n", task_id, (unsigned long)polls,
           (unsigned long)(elapsed_ms / 1000), (unsigned long)(elapsed_ms % 1000 / 100),
           status == FEISHU_TASK_STATUS_UNKNOWN ? "no answer (retrying)" : status_name(status));
    fflush(stdout);
    return 0; /* non-zero would stop the wait */
}

/* A client configured from the environment, with the app's credentials when
 * there is no token. NULL (and a message) on failure. */
static FeishuClient *make_client(const char *token)
{
    const char *base = getenv("FEISHU_BASE_URL");
    const char *timeout = getenv("FEISHU_TIMEOUT_MS");
    FeishuClientOptions *options = feishu_client_options_new();
    FeishuClient *client = NULL;
    FeishuError err;
    int32_t rc = FEISHU_OK;

    if (options == NULL)
        return NULL;
    if (base != NULL && base[0] != '\0')
        rc = feishu_client_options_set_base_url(options, base);
    if (rc == FEISHU_OK && timeout != NULL && timeout[0] != '\0')
        rc = feishu_client_options_set_timeouts(options, 10000, (uint32_t)strtoul(timeout, NULL, 10));
    if (rc == FEISHU_OK && token == NULL)
        rc = feishu_client_options_set_app_credentials(options, getenv("FEISHU_APP_ID"),
                                                       getenv("FEISHU_APP_SECRET"));
    if (rc == FEISHU_OK)
        client = feishu_client_new(options, &err);
    else
        feishu_last_error(&err);
    if (client == NULL)
        fprintf(stderr, "task_check: cannot configure the client: %s\n", err.message);
    feishu_client_options_free(options);
    return client;
}

/* The wait of a move or delete when --wait does not say: a folder of many
 * items takes a while on the platform. */
#define WRITE_WAIT_S 300

/* move FILE TYPE FOLDER / delete FILE TYPE: starts the operation, then waits
 * for its task (a folder) with progress. 0 when it succeeded, 1 otherwise. */
static int start_and_wait(FeishuClient *client, const char *token, const char *mode,
                          char **args, unsigned long wait_s)
{
    char task_id[FEISHU_TASK_ID_SIZE];
    FeishuTaskStatus status = FEISHU_TASK_STATUS_UNKNOWN;
    FeishuError err;
    int32_t rc;

    if (strcmp(mode, "move") == 0) {
        rc = feishu_client_move(client, token, args[0], args[1], args[2], task_id, &err);
        if (rc == FEISHU_OK)
            printf("move %s (%s) into %s: ", args[0], args[1], args[2]);
    } else {
        rc = feishu_client_delete(client, token, args[0], args[1], task_id, &err);
        if (rc == FEISHU_OK)
            printf("delete %s (%s): ", args[0], args[1]);
    }
    if (rc != FEISHU_OK) {
        print_error(args[0], rc, &err);
        return 1;
    }
    if (task_id[0] == '\0') {
        printf("done at once (no task to wait for)\n");
        return 0;
    }
    printf("started task %s; waiting up to %lu s\n", task_id, wait_s);
    fflush(stdout);
    rc = feishu_client_task_wait(client, token, task_id, (uint32_t)(wait_s * 1000), NULL,
                                 show_progress, task_id, &status, &err);
    if (rc != FEISHU_OK) {
        print_error(task_id, rc, &err);
        return 1;
    }
    printf("%s: %s\n", task_id, status_name(status));
    return status == FEISHU_TASK_STATUS_SUCCESS ? 0 : 1;
}

int main(int argc, char **argv)
{
    const char *token = getenv("FEISHU_TOKEN");
    const char *app_id = getenv("FEISHU_APP_ID");
    const char *mode = NULL; /* "move" or "delete", else task ids */
    FeishuClient *client = NULL;
    unsigned long wait_s = 0;
    int failures = 0;
    int first = 1;
    int usage = 0;
    int i;

    if (argc > 2 && strcmp(argv[1], "--wait") == 0) {
        wait_s = strtoul(argv[2], NULL, 10);
        first = 3;
    }
    if (first < argc && (strcmp(argv[first], "move") == 0 || strcmp(argv[first], "delete") == 0))
        mode = argv[first];
    if (first >= argc || (first == 3 && (wait_s == 0 || wait_s > 86400)))
        usage = 1;
    else if (mode != NULL)
        usage = argc - first != (strcmp(mode, "move") == 0 ? 4 : 3);
    if (usage) {
        fprintf(stderr, "usage: %s [--wait SECONDS] <task_id> [task_id...]\n"
                        "       %s [--wait SECONDS] move <file_token> <type> <folder_token>\n"
                        "       %s [--wait SECONDS] delete <file_token> <type>\n"
                        "  with FEISHU_TOKEN=<access token>, or FEISHU_APP_ID and FEISHU_APP_SECRET;\n"
                        "  <type>: folder, file, docx, sheet, ...\n",
                argv[0], argv[0], argv[0]);
        return 2;
    }
    if (token != NULL && token[0] == '\0')
        token = NULL;
    if (token == NULL && (app_id == NULL || app_id[0] == '\0')) {
        fprintf(stderr, "%s: set FEISHU_TOKEN to a tenant_access_token or user_access_token, "
                        "or FEISHU_APP_ID and FEISHU_APP_SECRET\n", argv[0]);
        return 2;
    }
    /* The one-line mission call needs no client; waiting, writes and app
     * credentials do. */
    if (wait_s != 0 || token == NULL || mode != NULL) {
        client = make_client(token);
        if (client == NULL)
            return 1;
    }
    if (mode != NULL) {
        failures = start_and_wait(client, token, mode, argv + first + 1,
                                  wait_s != 0 ? wait_s : WRITE_WAIT_S);
        feishu_client_free(client);
        return failures == 0 ? 0 : 1;
    }

    for (i = first; i < argc; i++) {
        FeishuTaskStatus status = FEISHU_TASK_STATUS_UNKNOWN;
        FeishuError err;
        int32_t rc;

        if (wait_s != 0)
            rc = feishu_client_task_wait(client, token, argv[i], (uint32_t)(wait_s * 1000), NULL,
                                         show_progress, argv[i], &status, &err);
        else if (client != NULL)
            rc = feishu_client_task_check(client, token, argv[i], &status, &err);
        else {
            rc = feishu_task_check(token, argv[i], &status);
            feishu_last_error(&err);
        }

        if (rc == FEISHU_OK) {
            printf("%s: %s\n", argv[i], status_name(status));
        } else {
            failures++;
            print_error(argv[i], rc, &err);
        }
    }
    feishu_client_free(client);
    return failures == 0 ? 0 : 1;
}
