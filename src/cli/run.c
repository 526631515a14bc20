/* run, shell - start a program with libbindguard.so preloaded (and what audit shares).
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

static bool kernel_flag;  /* run --kernel */

/* Options shared by run, shell and audit; returns -1 at the end, or an exit status. */
static int run_options(const struct cli_command *self, int argc, char **argv, bool audit_flag)
{
    static const struct option opts[] = {
        {"emulate", no_argument, NULL, 'e'},
        {"exclusive", no_argument, NULL, 'x'},
        {"kernel", no_argument, NULL, 'k'},
        {"audit", no_argument, NULL, 'a'},
        {"default", required_argument, NULL, 'd'},
        CLI_OPTION_PROFILE, CLI_OPTION_TABLE, CLI_OPTION_HELP, {0},
    };
    int c;
    while ((c = cli_getopt(self, argc, argv, "+eaxd:", opts)) != -1) {
        bool ok = true;
        switch (c) {
        case 'd': ok = cli_set_default_class(optarg); break;
        case 'e': ok = setenv(BINDGUARD_ENV_EMULATE, "1", 1) == 0; break;
        case 'x': ok = setenv(BINDGUARD_ENV_FORCE_EXCLUSIVE, "1", 1) == 0; break;
        case 'k':
            if (strcmp(self->name, "run") != 0)
                return cli_usage("unknown option '--kernel' (see bindguard %s --help)",
                                 self->name);
            kernel_flag = true;
            break;
        case 'a':
            if (!audit_flag)
                return cli_usage("unknown option '--audit' (see bindguard %s --help)",
                                 self->name);
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
    char dropped[PATH_MAX];
    if (!cli_add_preload(lib, dropped, sizeof dropped) ||
        setenv(BINDGUARD_ENV_ACTIVE, "1", 1) != 0)
        return cli_fail("cannot set up the environment: %s", strerror(errno));
    if (dropped[0])
        cli_say(0, "LD_PRELOAD named another libbindguard.so (%s); preloading %s instead",
                dropped, lib);
    return 0;
}

int cli_exec(char **cmd)
{
    execvp(cmd[0], cmd);
    int err = errno;
    cli_fail("cannot run '%s': %s", cmd[0], strerror(err));
    return err == ENOENT ? 127 : 126;
}

int cli_prepare_command(const struct cli_command *self, int argc, char **argv,
                           bool audit_flag)
{
    int rc = run_options(self, argc, argv, audit_flag);
    if (rc >= 0)
        return rc;
    if (optind >= argc)
        return cli_usage("no command given (bindguard %s [OPTIONS] -- CMD ARGS...)",
                         self->name);
    if (!cli_config(true))
        return CLI_EXIT_USAGE;
    cli_warn_unseen(argv[optind], false);
    rc = preload_env();
    return rc ? rc : -1;
}

static int run_main(const struct cli_command *self, int argc, char **argv)
{
    int rc = cli_prepare_command(self, argc, argv, true);
    if (rc < 0 && kernel_flag)
        return kernel_run(argv + optind);
    return rc >= 0 ? rc : cli_exec(argv + optind);
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
    if (!cli_config(true))
        return CLI_EXIT_USAGE;
    const char *shell = getenv("SHELL");
    if (!shell || !*shell)
        shell = "/bin/sh";
    cli_warn_unseen(shell, true);
    if ((rc = preload_env()) != 0)
        return rc;
    /* The shell's own arguments follow ours: bindguard shell -- -c 'CMD'. */
    char **cmd = calloc((size_t)(argc - optind) + 2, sizeof *cmd);
    if (!cmd)
        return cli_fail("out of memory");
    cmd[0] = (char *)shell;
    for (int i = optind; i < argc; i++)
        cmd[i - optind + 1] = argv[i];
    return cli_exec(cmd);
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
