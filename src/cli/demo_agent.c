/* demo_agent - see demo.h. The agent speaks one line, "R OPT_ERRNO BIND_ERRNO", then a
 * holder (role DEMO_HOLDER) keeps its socket until its stdin closes; others exit. */
#include "demo.h"

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "bindguard.h"
#include "cli.h"

extern char **environ;

static int64_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

/* ---- the agent ----------------------------------------------------------------------- */

static int set_opts(int fd, unsigned opts)
{
    static const struct { unsigned bit; int opt; } map[] = {
        { DEMO_REUSEADDR, SO_REUSEADDR }, { DEMO_REUSEPORT, SO_REUSEPORT },
        { DEMO_EXCLUSIVE, SO_EXCLUSIVEADDRUSE },
    };
    int on = 1;
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if ((opts & map[i].bit) && setsockopt(fd, SOL_SOCKET, map[i].opt, &on, sizeof on) != 0)
            return errno;
    return 0;
}

int demo_agent_main(int argc, char **argv)
{
    if (argc != 6)
        return 2;
    /* Its name is what a refusal names; exec reset the one the parent set. */
    prctl(PR_SET_NAME, argv[1]);
    bool hold = strcmp(argv[1], DEMO_HOLDER) == 0;
    struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(argv[3])) };
    if (inet_pton(AF_INET, argv[2], &sa.sin_addr) != 1)
        return 2;
    unsigned opts = (unsigned)atoi(argv[4]);
    bool do_listen = strcmp(argv[5], "1") == 0;
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int opt_err = fd < 0 ? errno : set_opts(fd, opts), bind_err = 0;
    /* A program whose SO_EXCLUSIVEADDRUSE is unknown carries on without it (plain Linux). */
    if (fd >= 0 && (opt_err == 0 || opt_err == ENOPROTOOPT)) {
        if (bind(fd, (struct sockaddr *)&sa, sizeof sa) != 0 ||
            (do_listen && listen(fd, 8) != 0))
            bind_err = errno;
    }
    printf("R %d %d\n", opt_err, bind_err);
    fflush(stdout);
    if (hold) {
        char buf[64];
        while (read(0, buf, sizeof buf) > 0)
            ;
    }
    return 0;
}

/* ---- spawning and talking to it ------------------------------------------------------ */

/* Our environment without BINDGUARD_* and without a libbindguard.so in LD_PRELOAD (what
 * else is preloaded, a sanitizer runtime say, stays first), then the agent's own. */
static char **agent_env(char *preload, char *table)
{
    size_t n = 0;
    while (environ[n])
        n++;
    char **env = calloc(n + 4, sizeof *env);
    if (!env)
        return NULL;
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (strncmp(environ[i], "LD_PRELOAD=", 11) != 0 &&
            strncmp(environ[i], "BINDGUARD_", 10) != 0)
            env[k++] = environ[i];
    env[k++] = table;
    env[k++] = "BINDGUARD_LOG=stderr";
    if (preload[strlen("LD_PRELOAD=")])
        env[k++] = preload;
    return env;
}

static void child(const struct demo_spawn *how, int in[2], int out[2], int err[2],
                  char **argv, char **env)
{
    prctl(PR_SET_PDEATHSIG, SIGKILL);
    if (dup2(in[0], 0) < 0 || dup2(out[1], 1) < 0 || dup2(err[1], 2) < 0)
        _exit(127);
    if (how->as_other && (setgroups(0, NULL) != 0 || setgid(how->gid) != 0 ||
                          setuid(how->uid) != 0))
        _exit(126);
    execve("/proc/self/exe", argv, env);
    _exit(127);
}

bool demo_agent_start(const struct demo_spawn *how, const struct demo_bind *b, uint16_t port,
                      struct demo_agent *a)
{
    memset(a, 0, sizeof *a);
    a->in = a->out = a->err = -1;
    char port_s[8], opts_s[8], preload[8300], table[300];
    snprintf(port_s, sizeof port_s, "%u", port);
    snprintf(opts_s, sizeof opts_s, "%u", b->opts);
    char others[4096];
    cli_preload_without(getenv("LD_PRELOAD"), others, sizeof others);
    snprintf(preload, sizeof preload, "LD_PRELOAD=%s%s%s", others,
             others[0] && how->lib ? ":" : "", how->lib ? how->lib : "");
    snprintf(table, sizeof table, "BINDGUARD_TABLE=%s", how->table);
    char *argv[] = { (char *)how->role, "demo", DEMO_AGENT_FLAG, (char *)how->role, (char *)b->addr,
                     port_s, opts_s, b->listen ? "1" : "0", NULL };
    char **env = agent_env(preload, table);
    int in[2] = { -1, -1 }, out[2] = { -1, -1 }, err[2] = { -1, -1 };
    if (!env || pipe2(in, O_CLOEXEC) || pipe2(out, O_CLOEXEC) || pipe2(err, O_CLOEXEC)) {
        free(env);
        for (int i = 0; i < 2; i++) {
            if (in[i] >= 0) close(in[i]);
            if (out[i] >= 0) close(out[i]);
            if (err[i] >= 0) close(err[i]);
        }
        return false;
    }
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0)
        child(how, in, out, err, argv, env);
    free(env);
    close(in[0]);
    close(out[1]);
    close(err[1]);
    a->pid = pid > 0 ? pid : 0;
    a->holds = strcmp(how->role, DEMO_HOLDER) == 0;
    a->in = in[1];
    a->out = out[0];
    a->err = err[0];
    if (pid < 0) {
        demo_agent_stop(a);
        return false;
    }
    return true;
}

/* Read fd into buf until a newline (if `line`) or EOF, or the deadline. */
static void read_until(int fd, char *buf, size_t len, bool line, int64_t deadline)
{
    size_t used = strlen(buf);
    while (used + 1 < len && !(line && memchr(buf, '\n', used))) {
        int left = (int)(deadline - now_ms());
        struct pollfd p = { fd, POLLIN, 0 };
        if (left <= 0 || poll(&p, 1, left) <= 0)
            return;
        ssize_t n = read(fd, buf + used, len - 1 - used);
        if (n <= 0)
            return;
        used += (size_t)n;
        buf[used] = '\0';
    }
}

bool demo_agent_result(struct demo_agent *a, struct demo_result *r)
{
    memset(r, 0, sizeof *r);
    char line[128] = "";
    int64_t deadline = now_ms() + DEMO_WAIT_MS;
    read_until(a->out, line, sizeof line, true, deadline);
    if (sscanf(line, "R %d %d", &r->opt_err, &r->bind_err) != 2)
        return false;
    /* A hijacker exits after its line, so its stderr (the library's refusal) ends. */
    if (!a->holds)
        read_until(a->err, r->log, sizeof r->log, false, deadline);
    return true;
}

void demo_agent_stop(struct demo_agent *a)
{
    if (a->in >= 0)
        close(a->in);
    if (a->pid > 0) {
        int64_t deadline = now_ms() + DEMO_WAIT_MS;
        while (waitpid(a->pid, NULL, WNOHANG) == 0) {
            if (now_ms() >= deadline) {
                kill(a->pid, SIGKILL);
                waitpid(a->pid, NULL, 0);
                break;
            }
            usleep(2000);
        }
    }
    if (a->out >= 0)
        close(a->out);
    if (a->err >= 0)
        close(a->err);
    memset(a, 0, sizeof *a);
    a->in = a->out = a->err = -1;
}

uint16_t demo_free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in sa = { .sin_family = AF_INET };
    socklen_t len = sizeof sa;
    uint16_t port = 0;
    if (fd >= 0 && bind(fd, (struct sockaddr *)&sa, sizeof sa) == 0 &&
        getsockname(fd, (struct sockaddr *)&sa, &len) == 0)
        port = ntohs(sa.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}
