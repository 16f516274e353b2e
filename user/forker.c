/*
 * forker: processes in bulk, for the kernel's copy-on-write and count tests
 * (tests/ktest/user_test.c):
 *   cycles N   N times: fork, the child writes to a page it shares with the
 *              parent and exits with a code, the parent waits and checks it
 *   live N     N children alive at once (each in pause()), then each killed
 *              with SIGTERM and waited for
 * Exits 0 when every check held, 1 otherwise (2 for bad arguments).
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static char page[4096] = "parent";

static int cycles(long n)
{
    for (long i = 0; i < n; i++) {
        pid_t pid = fork();
        if (pid < 0)
            return 1;
        if (pid == 0) {
            int ok = strcmp(page, "parent") == 0;
            strcpy(page, "child"); /* copy-on-write: the parent keeps its own */
            _exit(ok ? (int)(i & 0x7f) : 255);
        }
        int status = 0;
        if (waitpid(pid, &status, 0) != pid || !WIFEXITED(status) ||
            WEXITSTATUS(status) != (int)(i & 0x7f) || strcmp(page, "parent") != 0)
            return 1;
    }
    return 0;
}

static int live(long n)
{
    pid_t *pids = calloc((size_t)n, sizeof(*pids));
    if (!pids)
        return 1;
    int failed = 0;
    long made = 0;
    for (; made < n; made++) {
        pids[made] = fork();
        if (pids[made] < 0) {
            failed = 1;
            break;
        }
        if (pids[made] == 0) {
            page[0] = 'C';
            for (;;)
                pause();
        }
    }
    for (long i = 0; i < made; i++) {
        int status = 0;
        if (kill(pids[i], SIGTERM) != 0 || waitpid(pids[i], &status, 0) != pids[i] ||
            !WIFSIGNALED(status) || WTERMSIG(status) != SIGTERM)
            failed = 1;
    }
    free(pids);
    return failed || page[0] != 'p';
}

int main(int argc, char **argv)
{
    if (argc != 3)
        return 2;
    long n = strtol(argv[2], NULL, 10);
    if (!strcmp(argv[1], "cycles"))
        return cycles(n);
    if (!strcmp(argv[1], "live"))
        return live(n);
    return 2;
}
