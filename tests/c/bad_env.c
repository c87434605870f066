/* Run with one bad configuration variable; argv[1] names it. Every call must
 * fail with FEISHU_ERR_INVALID_ARGUMENT and a message naming the variable,
 * the first call and the later ones alike. */
#include "check.h"

int main(int argc, char **argv)
{
    int i;
    if (argc != 2) {
        fprintf(stderr, "usage: bad_env VARIABLE\n");
        return 2;
    }
    for (i = 0; i < 3; i++) {
        FeishuError e = EXPECT(TEST_TOKEN, "success", FEISHU_ERR_INVALID_ARGUMENT,
                               FEISHU_TASK_STATUS_UNKNOWN);
        CHECK(strstr(e.message, argv[1]) != NULL, "call %d: \"%s\" does not name %s", i,
              e.message, argv[1]);
        CHECK(strstr(e.message, "hunter2") == NULL, "no proxy password in \"%s\"", e.message);
    }
    return check_done("bad_env");
}
