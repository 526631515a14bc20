/* audit - run a command in audit mode, then say what would have been refused.
 *
 * The library logs to a private file (mkstemp) that only this process removes, and only
 * while the name still leads to that very file. A signal sent to bindguard by another
 * process (kill, a service manager stopping it) is passed on to the command, which decides
 * how to end; bindguard waits for it, prints the summary and removes the file. Signals
 * from the terminal (^C) reach the command anyway, as every process of the foreground
 * group gets them: those are not passed on a second time. */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "bindguard.h"

static const int forwarded[] = { SIGTERM, SIGINT, SIGHUP, SIGQUIT };
#define N_FORWARDED (sizeof forwarded / sizeof forwarded[0])

static volatile sig_atomic_t child_pid;

static void forward(int sig, siginfo_t *si, void *ctx)
{
    (void)ctx;
    int saved = errno;
    /* SI_KERNEL: the terminal's, which the command's process group got already. */
    if (si->si_code != SI_KERNEL && child_pid > 0)
        kill((pid_t)child_pid, sig);
    errno = saved;
}

static int status_of(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
}

/* Signals are blocked across the fork, so one that comes before the child's pid is
 * known is passed on once it is. */
int cli_run_and_wait(char **cmd, void (*in_child)(void *), void *arg)
{
    struct sigaction on = { .sa_sigaction = forward, .sa_flags = SA_SIGINFO | SA_RESTART };
    struct sigaction old[N_FORWARDED];
    sigset_t block, old_mask;
    sigemptyset(&block);
    for (size_t i = 0; i < N_FORWARDED; i++)
        sigaddset(&block, forwarded[i]);
    on.sa_mask = block;
    sigprocmask(SIG_BLOCK, &block, &old_mask);
    for (size_t i = 0; i < N_FORWARDED; i++)
        sigaction(forwarded[i], &on, &old[i]);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        for (size_t i = 0; i < N_FORWARDED; i++)
            sigaction(forwarded[i], &old[i], NULL);
        sigprocmask(SIG_SETMASK, &old_mask, NULL);
        if (in_child)
            in_child(arg);
        _exit(cli_exec(cmd));
    }
    int err = errno, st = 0;
    child_pid = pid > 0 ? pid : 0;
    sigprocmask(SIG_SETMASK, &old_mask, NULL);
    pid_t r = -1;
    while (pid > 0 && (r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    if (pid > 0)
        err = errno;
    child_pid = 0;
    for (size_t i = 0; i < N_FORWARDED; i++)
        sigaction(forwarded[i], &old[i], NULL);
    if (pid < 0 || r < 0)
        return cli_fail("cannot run '%s': %s", cmd[0], strerror(err));
    return status_of(st);
}

static bool is_refusal(const char *line)
{
    return strstr(line, " would be refused ") != NULL;
}

/* Count the log's refusal lines (or its other lines), copying them to out if given. */
static int each_line(FILE *log, bool refusals, FILE *out)
{
    char *line = NULL;
    size_t cap = 0;
    int n = 0;
    rewind(log);
    while (getline(&line, &cap, log) > 0) {
        if (is_refusal(line) != refusals)
            continue;
        if (out)
            fputs(line, out);
        n++;
    }
    free(line);
    return n;
}

/* The refusals first, counted; then anything else bindguard had to say. */
static void summarize(FILE *log)
{
    int refused = each_line(log, true, NULL);
    cli_tell(stderr, "%d bind(s) would have been refused%s", refused, refused ? ":" : ".");
    each_line(log, true, stderr);
    if (each_line(log, false, NULL) > 0) {
        cli_tell(stderr, "bindguard also said:");
        each_line(log, false, stderr);
    }
}

/* The log file, if its name still leads to it. */
static void remove_log(const char *path, int fd)
{
    struct stat mine, now;
    if (fstat(fd, &mine) == 0 && lstat(path, &now) == 0 && mine.st_dev == now.st_dev &&
        mine.st_ino == now.st_ino)
        unlink(path);
}

/* A private log file in $TMPDIR (absolute) or /tmp; NULL after saying why. */
static FILE *open_log(char *path, size_t len)
{
    const char *tmp = getenv("TMPDIR");
    const char *dir = tmp && tmp[0] == '/' ? tmp : "/tmp";
    snprintf(path, len, "%s/bindguard-audit-XXXXXX", dir);
    int fd = mkostemp(path, O_CLOEXEC);
    if (fd < 0) {
        cli_fail("cannot create a log file in %s: %s", dir, strerror(errno));
        return NULL;
    }
    FILE *log = fdopen(fd, "r");
    if (!log) {
        cli_fail("cannot read the log %s: %s", path, strerror(errno));
        remove_log(path, fd);
        close(fd);
    }
    return log;
}

static int audit_main(const struct cli_command *self, int argc, char **argv)
{
    char path[PATH_MAX];
    /* Mode and log are set before the environment is judged, as the command sees them. */
    if (setenv(BINDGUARD_ENV_MODE, "audit", 1) != 0)
        return cli_fail("cannot set up the environment: %s", strerror(errno));
    FILE *log = open_log(path, sizeof path);
    if (!log)
        return CLI_EXIT_FAIL;
    int rc;
    if (setenv(BINDGUARD_ENV_LOG, path, 1) != 0) {
        rc = cli_fail("cannot set up the log: %s", strerror(errno));
    } else if ((rc = cli_prepare_command(self, argc, argv, false)) < 0) {
        rc = cli_run_and_wait(argv + optind, NULL, NULL);
        summarize(log);
    }
    remove_log(path, fileno(log));
    fclose(log);
    return rc;
}

const struct cli_command cli_audit = {
    "audit", audit_main, "run a command in audit mode; summarize what would be refused",
    "usage: bindguard audit [OPTIONS] [--] CMD ARGS...\n"
    "\n"
    "Runs CMD like `bindguard run --audit`: nothing is refused, but every bind that would\n"
    "have been is logged to a private temporary file. When CMD ends, prints\n"
    "  bindguard: audit: N bind(s) would have been refused:\n"
    "and those lines on stderr, then exits with CMD's status (128+N if a signal killed it).\n"
    "SIGTERM, SIGINT, SIGHUP and SIGQUIT sent to bindguard are passed on to CMD; the summary\n"
    "still comes, and the temporary file is removed.\n"
    "Processes that change user may not write to the log; they log to stderr instead.\n"
    "\n" RUN_OPTIONS_HELP,
};
