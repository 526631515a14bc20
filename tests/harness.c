#include <dirent.h>
#include "harness.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
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
    /* And every user's table under it as a prefix (own.h: "<name>.<uid>[.<n>]"). */
    char *slash = strrchr(path, '/');
    *slash = '\0';
    const char *base = slash + 1;
    size_t bl = strlen(base);
    DIR *d = opendir(path[0] ? path : "/");
    for (struct dirent *de; d && (de = readdir(d)) != NULL;) {
        const char *rest = de->d_name + bl;
        if (strncmp(de->d_name, base, bl) == 0 && rest[0] == '.' && rest[1] >= '0' &&
            rest[1] <= '9' && strspn(rest, ".0123456789") == strlen(rest))
            unlinkat(dirfd(d), de->d_name, 0);
    }
    if (d)
        closedir(d);
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

/* ---- a build tree `nobody` can reach ------------------------------------------------
 * Different-user tests run the shim, the agents and the test itself as `nobody`. A tree
 * cloned under a private directory (a 0700 home, mktemp -d) is out of its reach; then,
 * before any test runs, the test copies what those processes need (the shim, the CLI
 * beside it, the agents and itself) into a world-readable directory, points BG_LIB,
 * BG_CLI and BG_PROGS there and re-executes itself from it. The copy goes at exit. */

static bool nobody_reaches(const char *path)
{
    uid_t uid;
    gid_t gid;
    harness_nobody(&uid, &gid);
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
            _exit(1);
        _exit(access(path, R_OK | X_OK) == 0 ? 0 : 1);
    }
    int st;
    return pid > 0 && waitpid(pid, &st, 0) == pid && WIFEXITED(st) && WEXITSTATUS(st) == 0;
}

static bool copy_file(const char *from, const char *dir, const char *name, char *to, size_t len)
{
    snprintf(to, len, "%s/%s", dir, name);
    int in = open(from, O_RDONLY | O_CLOEXEC);
    int out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    char buf[65536];
    ssize_t n = 0;
    while (in >= 0 && out >= 0 && (n = read(in, buf, sizeof buf)) > 0)
        if (write(out, buf, (size_t)n) != n)
            n = -1;
    bool ok = in >= 0 && out >= 0 && n == 0 && fchmod(out, 0755) == 0;
    if (in >= 0)
        close(in);
    if (out >= 0)
        close(out);
    return ok;
}

static char mirror_dir[64];
static pid_t mirror_owner;

static void remove_mirror(void)
{
    if (getpid() != mirror_owner)
        return;  /* a forked test case exiting, not the test program */
    static const char *const names[] = {"libbindguard.so", "bindguard", "tbind", "tserver", "self"};
    char path[128];
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++) {
        snprintf(path, sizeof path, "%s/%s", mirror_dir, names[i]);
        unlink(path);
    }
    rmdir(mirror_dir);
}

static bool mirror(const char *lib, const char *cli, const char *progs)
{
    char self[4096], to[128], from[4096];
    ssize_t n = readlink("/proc/self/exe", self, sizeof self - 1);
    if (n <= 0)
        return false;
    self[n] = '\0';
    snprintf(mirror_dir, sizeof mirror_dir, "/tmp/bg-public-XXXXXX");
    if (!mkdtemp(mirror_dir) || chmod(mirror_dir, 0755) != 0)
        return false;
    bool ok = copy_file(lib, mirror_dir, "libbindguard.so", to, sizeof to) &&
              setenv("BG_LIB", to, 1) == 0 &&
              copy_file(cli, mirror_dir, "bindguard", to, sizeof to) &&
              setenv("BG_CLI", to, 1) == 0 &&
              (snprintf(from, sizeof from, "%s/tbind", progs), true) &&
              copy_file(from, mirror_dir, "tbind", to, sizeof to) &&
              (snprintf(from, sizeof from, "%s/tserver", progs), true) &&
              copy_file(from, mirror_dir, "tserver", to, sizeof to) &&
              setenv("BG_PROGS", mirror_dir, 1) == 0 &&
              copy_file(self, mirror_dir, "self", to, sizeof to);
    return ok;
}

__attribute__((constructor)) static void reachable_by_nobody(int argc, char **argv, char **envp)
{
    (void)argc;
    (void)envp;
    const char *lib = getenv("BG_LIB"), *cli = getenv("BG_CLI"), *progs = getenv("BG_PROGS");
    const char *owner = getenv("BG_MIRROR_OWNER");
    if (owner) {  /* re-executed from the copy: clean it up when done */
        snprintf(mirror_dir, sizeof mirror_dir, "%s", getenv("BG_MIRROR_DIR"));
        mirror_owner = getpid();
        unsetenv("BG_MIRROR_OWNER");
        atexit(remove_mirror);
        return;
    }
    /* Decided once, by the test program: the processes it runs from itself (stress
     * workers, children under the shim) inherit the answer. Asking again would fork in
     * every one of them, and test_stress stops and continues their process groups at
     * random: a child forked at that moment can join the stop but miss the continue,
     * and the constructor would wait for it forever. The answer is the library it was
     * given for: another test run (another BG_LIB) decides afresh. */
    const char *decided = getenv("BG_REACH_DECIDED");
    if (!lib || (decided && strcmp(decided, lib) == 0))
        return;
    setenv("BG_REACH_DECIDED", lib, 1);
    if (geteuid() != 0 || !cli || !progs || access(lib, R_OK) != 0 || nobody_reaches(lib))
        return;
    if (!mirror(lib, cli, progs)) {
        fprintf(stderr, "harness: %s is out of nobody's reach and could not be copied; "
                        "different-user tests will fail\n", lib);
        return;
    }
    char self[128];
    snprintf(self, sizeof self, "%s/self", mirror_dir);
    setenv("BG_MIRROR_DIR", mirror_dir, 1);
    setenv("BG_MIRROR_OWNER", "1", 1);
    setenv("BG_REACH_DECIDED", getenv("BG_LIB"), 1);  /* the copy, which nobody reaches */
    fprintf(stderr, "harness: build tree out of nobody's reach; running from %s\n", mirror_dir);
    execv(self, argv);
    fprintf(stderr, "harness: re-executing from %s: %s\n", self, strerror(errno));
}
