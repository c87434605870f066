/* A deliberate leak and a deliberate heap overflow, selected by argv[1]
 * ("leak" or "overflow"): the ASan harness runs this first to prove that its
 * sanitizer build and options really report findings (a harness that cannot
 * fail proves nothing). It also makes one library call, so the library is
 * loaded as in the real tests. */
#include <stdlib.h>
#include <string.h>

#include "feishu_task.h"

int main(int argc, char **argv)
{
    volatile char *p;
    if (argc != 2)
        return 2;
    if (feishu_strerror(FEISHU_ERR_NETWORK) == NULL)
        return 3;
    if (strcmp(argv[1], "leak") == 0) {
        p = malloc(4096);
        p[0] = 1;
        p = NULL; /* the only pointer is gone: a definite leak */
        return 0;
    }
    if (strcmp(argv[1], "overflow") == 0) {
        char *q = malloc(16);
        p = q;
        p[16] = 1; /* one past the end */
        free(q);
        return 0;
    }
    return 2;
}
