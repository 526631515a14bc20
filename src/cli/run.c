/* run, shell, audit - start a program with libbindguard.so preloaded.
 *
 * Options become BINDGUARD_* variables in our own environment, which the program
 * inherits; run and shell then exec it, so its exit status is the command's own. */
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
#include "kernel_backend.h"

#define RUN_OPTIONS_HELP                                                                   \
    "  --profile P        rules to apply: ws2003 (default), xp, wsk, or a Windows name\n" \
    "                     (vista, ws2008, win7, nt4, win2000, win95, win98, winme)\n"     \
    "  --emulate          also make Windows' allowed sharing work in the kernel\n"        \
    "  --default CLASS    the class of a socket that opted into nothing: exclusive\n"     \
    "                     (default) or windows (Windows' plain default class)\n"          \
    "  --table NAME       the port table: a shm name or an absolute path\n"

static bool kernel_flag;  /* run --kernel */

/* Options shared by run, shell and audit; returns -1 at the end, or an exit status. */
static int run_options(const struct cli_command *self, int argc, char **argv, bool audit_flag)
{
    static const struct option opts[] = {
        {"emulate", no_argument, NULL, 'e'},
        {"kernel", no_argument, NULL, 'k'},
        {"audit", no_argument, NULL, 'a'},
        {"default", required_argument, NULL, 'd'},
        CLI_OPTION_PROFILE, CLI_OPTION_TABLE, CLI_OPTION_HELP, {0},
    };
    int c;
    while ((c = cli_getopt(self, argc, argv, "+ead:", opts)) != -1) {
        bool ok = true;
        switch (c) {
        case 'd': ok = cli_set_default_class(optarg); break;
        case 'e': ok = setenv(BINDGUARD_ENV_EMULATE, "1", 1) == 0; break;
        case 'k':
            if (strcmp(self->name, "run") != 0)
                return cli_usage("%s: unknown option '--kernel' (see bindguard %s --help)",
                                 self->name, self->name);
            kernel_flag = true;
            break;
        case 'a':
            if (!audit_flag)
                return cli_usage("%s: unknown option '--audit' (see bindguard %s --help)",
                                 self->name, self->name);
            ok = setenv(BINDGUARD_ENV_MODE, "audit", 1) == 0;
            break;
        default:
            return cli_opt_exit(c);
        }
        if (!ok)
            return CLI_EXIT_USAGE;
    }
    return -1;
}

/* LD_PRELOAD and BINDGUARD_ACTIVE for whatever we start next. */
static int preload_env(void)
{
    char lib[PATH_MAX], tried[3 * PATH_MAX];
    if (!cli_find_library(lib, sizeof lib, tried, sizeof tried))
        return cli_usage("cannot find libbindguard.so (looked in %s)", tried);
    if (!cli_add_preload(lib) || setenv(BINDGUARD_ENV_ACTIVE, "1", 1) != 0)
        return cli_fail("cannot set up the environment: %s", strerror(errno));
    return 0;
}

/* Only returns if exec failed: 126/127 as shells report it. */
static int exec_command(char **cmd)
{
    execvp(cmd[0], cmd);
    int err = errno;
    cli_fail("cannot run '%s': %s", cmd[0], strerror(err));
    return err == ENOENT ? 127 : 126;
}

/* Options, then a command to run with the preload set up: -1 when ready to start
 * argv[optind], else an exit status. */
static int prepare_command(const struct cli_command *self, int argc, char **argv,
                           bool audit_flag)
{
    int rc = run_options(self, argc, argv, audit_flag);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return cli_usage("%s: no command given (bindguard %s [OPTIONS] -- CMD ARGS...)",
                         self->name, self->name);
    rc = preload_env();
    return rc ? rc : -1;
}

static int run_main(const struct cli_command *self, int argc, char **argv)
{
    int rc = prepare_command(self, argc, argv, true);
    if (rc < 0 && kernel_flag)
        return kernel_run(argv + optind);
    return rc >= 0 ? rc : exec_command(argv + optind);
}

const struct cli_command cli_run = {
    "run", run_main, "run a command with libbindguard.so preloaded",
    "usage: bindguard run [OPTIONS] [--] CMD ARGS...\n"
    "\n"
    "Runs CMD with libbindguard.so added to LD_PRELOAD (after what is there already) and\n"
    "BINDGUARD_ACTIVE=1. Exits with CMD's status.\n"
    "\n" RUN_OPTIONS_HELP
    "  --audit            log what would be refused, refuse nothing (BINDGUARD_MODE=audit)\n"
    "  --kernel           root: enforce in the kernel instead (cgroup BPF), for static and\n"
    "                     Go binaries too: CMD runs in a transient cgroup of its own\n",
};

static int shell_main(const struct cli_command *self, int argc, char **argv)
{
    int rc = run_options(self, argc, argv, true);
    if (rc >= 0)
        return rc;
    const char *shell = getenv("SHELL");
    if (!shell || !*shell)
        shell = "/bin/sh";
    if ((rc = preload_env()) != 0)
        return rc;
    /* The shell's own arguments follow ours: bindguard shell -- -c 'CMD'. */
    char **cmd = calloc((size_t)(argc - optind) + 2, sizeof *cmd);
    if (!cmd)
        return cli_fail("out of memory");
    cmd[0] = (char *)shell;
    for (int i = optind; i < argc; i++)
        cmd[i - optind + 1] = argv[i];
    return exec_command(cmd);
}

const struct cli_command cli_shell = {
    "shell", shell_main, "your $SHELL under bindguard, for developer shells",
    "usage: bindguard shell [OPTIONS] [-- SHELL-ARGS...]\n"
    "\n"
    "Runs $SHELL (or /bin/sh) with libbindguard.so preloaded and BINDGUARD_ACTIVE=1,\n"
    "so that every server started from it is protected, and a prompt can show it:\n"
    "  PS1='${BINDGUARD_ACTIVE:+[bg] }'\"$PS1\"\n"
    "\n" RUN_OPTIONS_HELP
    "  --audit            log what would be refused, refuse nothing\n",
};

/* ---- audit ------------------------------------------------------------------------- */

static int status_of(int st)
{
    return WIFEXITED(st) ? WEXITSTATUS(st) : WIFSIGNALED(st) ? 128 + WTERMSIG(st) : 1;
}

int cli_run_and_wait(char **cmd, void (*in_child)(void *), void *arg)
{
    struct sigaction ign = { .sa_handler = SIG_IGN }, old_int, old_quit;
    sigemptyset(&ign.sa_mask);
    sigaction(SIGINT, &ign, &old_int);
    sigaction(SIGQUIT, &ign, &old_quit);
    fflush(NULL);
    pid_t pid = fork();
    if (pid == 0) {
        sigaction(SIGINT, &old_int, NULL);
        sigaction(SIGQUIT, &old_quit, NULL);
        if (in_child)
            in_child(arg);
        _exit(exec_command(cmd));
    }
    int st = 0;
    pid_t r = -1;
    while (pid > 0 && (r = waitpid(pid, &st, 0)) < 0 && errno == EINTR)
        ;
    int err = errno;
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGQUIT, &old_quit, NULL);
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
    fprintf(stderr, "bindguard audit: %d bind(s) would have been refused%s\n", refused,
            refused ? ":" : ".");
    each_line(log, true, stderr);
    if (each_line(log, false, NULL) > 0) {
        fputs("bindguard audit: bindguard also said:\n", stderr);
        each_line(log, false, stderr);
    }
}

static int audit_main(const struct cli_command *self, int argc, char **argv)
{
    int rc = prepare_command(self, argc, argv, false);
    if (rc >= 0)
        return rc;
    const char *tmp = getenv("TMPDIR");
    char path[PATH_MAX];
    snprintf(path, sizeof path, "%s/bindguard-audit-XXXXXX", tmp && tmp[0] == '/' ? tmp : "/tmp");
    int fd = mkstemp(path);
    if (fd < 0)
        return cli_fail("audit: cannot create a log file in %s: %s",
                        tmp && tmp[0] == '/' ? tmp : "/tmp", strerror(errno));
    FILE *log = fdopen(fd, "r");
    if (!log || setenv(BINDGUARD_ENV_MODE, "audit", 1) != 0 ||
        setenv(BINDGUARD_ENV_LOG, path, 1) != 0) {
        unlink(path);
        return cli_fail("audit: cannot set up the log: %s", strerror(errno));
    }
    fcntl(fd, F_SETFD, FD_CLOEXEC);
    rc = cli_run_and_wait(argv + optind, NULL, NULL);
    summarize(log);
    fclose(log);
    unlink(path);
    return rc;
}

const struct cli_command cli_audit = {
    "audit", audit_main, "run a command in audit mode; summarize what would be refused",
    "usage: bindguard audit [OPTIONS] [--] CMD ARGS...\n"
    "\n"
    "Runs CMD like `bindguard run --audit`: nothing is refused, but every bind that would\n"
    "have been is logged to a private temporary file. When CMD ends, prints\n"
    "  bindguard audit: N bind(s) would have been refused:\n"
    "and those lines on stderr, then exits with CMD's status (128+N if a signal killed it).\n"
    "Processes that change user may not write to the log; they log to stderr instead.\n"
    "\n" RUN_OPTIONS_HELP,
};
