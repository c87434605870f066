/* A host whose signal handler interrupts blocking system calls: SIGALRM every
 * 2 ms from setitimer, installed WITHOUT SA_RESTART, so a recv, send, connect
 * or poll that is waiting returns EINTR. Usage: eintr TASK_ID... (the default
 * client, FEISHU_BASE_URL from the environment). The harness scripts each task
 * id to answer slowly, so every call sits in a receive while signals land.
 * Every call must succeed, within its deadline. */
#define _XOPEN_SOURCE 700

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>

#include "check.h"

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
    (void)sig;
    alarms++;
}

int main(int argc, char **argv)
{
    struct sigaction sa;
    struct itimerval every_2ms;
    int i;

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_alarm;
    sigemptyset(&sa.sa_mask);
    sa.sa_flags = 0; /* no SA_RESTART: interrupted calls fail with EINTR */
    CHECK(sigaction(SIGALRM, &sa, NULL) == 0, "sigaction");
    memset(&every_2ms, 0, sizeof every_2ms);
    every_2ms.it_interval.tv_usec = 2000;
    every_2ms.it_value.tv_usec = 2000;
    CHECK(setitimer(ITIMER_REAL, &every_2ms, NULL) == 0, "setitimer");

    for (i = 1; i < argc; i++) {
        FeishuError err;
        FeishuTaskStatus status = FEISHU_TASK_STATUS_UNKNOWN;
        int32_t rc = feishu_task_check(TEST_TOKEN, argv[i], &status);
        feishu_last_error(&err);
        CHECK(rc == FEISHU_OK && status == FEISHU_TASK_STATUS_SUCCESS, "%s: rc %ld: %s", argv[i],
              (long)rc, err.message);
    }

    memset(&every_2ms, 0, sizeof every_2ms);
    setitimer(ITIMER_REAL, &every_2ms, NULL);
    /* Enough signals landed during the calls to interrupt each many times. */
    CHECK(alarms >= 50 * (argc - 1), "only %d signals", (int)alarms);
    printf("eintr: %d signals during %d calls\n", (int)alarms, argc - 1);
    return check_done("eintr");
}
