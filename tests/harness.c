#include <dirent.h>
#include "harness.h"

#include <dirent.h>
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

/* The file a table name stands for, as table_open resolves it. */
static void raw_path(const char *name, char *path, size_t len)
{
    if (name[0] == '/' && strchr(name + 1, '/'))
        snprintf(path, len, "%s", name);
    else
        snprintf(path, len, "/dev/shm/%s", name[0] == '/' ? name + 1 : name);
}

void harness_table_path(const char *name, char *path, size_t len)
{
    char raw[448];
    raw_path(name, raw, sizeof raw);
    snprintf(path, len, "%s.%u", raw, (unsigned)geteuid());
}

void harness_table_remove(const char *name)
{
    char path[512];
    raw_path(name, path, sizeof path);
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

bool harness_table_exists(const char *name)
{
    char path[512];
    harness_table_path(name, path, sizeof path);
    return access(path, F_OK) == 0;
}

bool harness_agent_path(const char *name, char *buf, size_t len)
{
    if (!*name || strchr(name, '/'))
        return false;
    snprintf(buf, len, "%s/%s", harness_env("BG_AGENTS"), name);
    return access(buf, X_OK) == 0;
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
 * Different-user tests run the shim, the CLI and the agents as `nobody`. A tree cloned
 * under a private directory (a 0700 home, mktemp -d) is out of its reach; then, before
 * any test runs, the test program copies them into a world-readable directory and points
 * BG_LIB, BG_CLI and BG_AGENTS there. The copy goes when the test program exits. */

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
    DIR *d = opendir(mirror_dir);
    for (struct dirent *e; d && (e = readdir(d));)
        if (strcmp(e->d_name, ".") != 0 && strcmp(e->d_name, "..") != 0)
            unlinkat(dirfd(d), e->d_name, 0);
    if (d)
        closedir(d);
    rmdir(mirror_dir);
}

/* Every agent: the executable files of the agents' build directory. */
static bool copy_agents(const char *agents)
{
    DIR *d = opendir(agents);
    bool ok = d != NULL;
    for (struct dirent *e; ok && (e = readdir(d));) {
        char from[4096], to[128];
        struct stat st;
        snprintf(from, sizeof from, "%s/%s", agents, e->d_name);
        if (stat(from, &st) == 0 && S_ISREG(st.st_mode) && (st.st_mode & S_IXUSR))
            ok = copy_file(from, mirror_dir, e->d_name, to, sizeof to);
    }
    if (d)
        closedir(d);
    return ok;
}

static bool mirror(const char *lib, const char *cli, const char *agents)
{
    char to[128];
    snprintf(mirror_dir, sizeof mirror_dir, "/tmp/bg-public-XXXXXX");
    if (!mkdtemp(mirror_dir) || chmod(mirror_dir, 0755) != 0)
        return false;
    return copy_file(lib, mirror_dir, "libbindguard.so", to, sizeof to) &&
           setenv("BG_LIB", to, 1) == 0 &&
           copy_file(cli, mirror_dir, "bindguard", to, sizeof to) &&
           setenv("BG_CLI", to, 1) == 0 &&
           copy_agents(agents) && setenv("BG_AGENTS", mirror_dir, 1) == 0;
}

__attribute__((constructor)) static void reachable_by_nobody(void)
{
    const char *lib = getenv("BG_LIB"), *cli = getenv("BG_CLI"), *agents = getenv("BG_AGENTS");
    if (geteuid() != 0 || !lib || !cli || !agents || access(lib, R_OK) != 0 ||
        nobody_reaches(lib))
        return;
    mirror_owner = getpid();
    atexit(remove_mirror);
    if (!mirror(lib, cli, agents)) {
        fprintf(stderr, "harness: %s is out of nobody's reach and could not be copied; "
                        "different-user tests will fail\n", lib);
        return;
    }
    fprintf(stderr, "harness: build tree out of nobody's reach; what nobody runs is in %s\n",
            mirror_dir);
}
