#include "harness.h"

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

int harness_run(Suite *s)
{
    SRunner *sr = srunner_create(s);
    srunner_run_all(sr, CK_NORMAL);
    int failed = srunner_ntests_failed(sr);
    srunner_free(sr);
    return failed == 0 ? EXIT_SUCCESS : EXIT_FAILURE;
}

const char *harness_env(const char *name)
{
    const char *v = getenv(name);
    if (!v) {
        fprintf(stderr, "harness: %s is not set (run the tests through meson test)\n", name);
        abort();
    }
    return v;
}

void harness_data_path(const char *file, char *buf, size_t len)
{
    snprintf(buf, len, "%s/%s", harness_env("BG_DATA"), file);
}

void harness_table_name(const char *tag, char *buf, size_t len)
{
    static unsigned n;
    snprintf(buf, len, "/bg-test-%s-%d-%u", tag, (int)getpid(), n++);
    harness_table_remove(buf);
}

void harness_table_remove(const char *name)
{
    char path[512];
    if (name[0] == '/' && strchr(name + 1, '/'))
        snprintf(path, sizeof path, "%s", name);
    else
        snprintf(path, sizeof path, "/dev/shm/%s", name[0] == '/' ? name + 1 : name);
    unlink(path);
}

bool harness_is_root(void)
{
    return geteuid() == 0;
}

void harness_nobody(uid_t *uid, gid_t *gid)
{
    struct passwd *pw = getpwnam("nobody");
    *uid = pw ? pw->pw_uid : 65534;
    *gid = pw ? pw->pw_gid : 65534;
}

const char *harness_preload(void)
{
    static char buf[1024];
    const char *san = getenv("BG_SAN_PRELOAD");
    if (san && *san)
        snprintf(buf, sizeof buf, "%s:%s", san, harness_env("BG_LIB"));
    else
        snprintf(buf, sizeof buf, "%s", harness_env("BG_LIB"));
    return buf;
}

pid_t harness_fork(int (*fn)(void *), void *arg, uid_t uid, gid_t gid)
{
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        if (uid != (uid_t)-1) {
            if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0) {
                perror("harness: dropping privileges");
                _exit(126);
            }
        }
        _exit(fn(arg));
    }
    return pid;
}

int harness_wait(pid_t pid, unsigned timeout_ms)
{
    struct timespec step = {0, 1000000};
    for (unsigned waited = 0;; waited++) {
        int st;
        pid_t r = waitpid(pid, &st, WNOHANG);
        if (r == pid)
            return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
        if (r < 0 && errno != EINTR)
            return -1;
        if (waited >= timeout_ms) {
            kill(pid, SIGKILL);
            waitpid(pid, &st, 0);
            return -1;
        }
        nanosleep(&step, NULL);
    }
}
