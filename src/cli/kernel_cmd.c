/* kernel_cmd - `bindguard kernel enable|disable|status|log`: the kernel backend, which
 * enforces the rule book for every process in a cgroup v2 subtree (kernel_backend.h). */
#include "kernel_backend.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindguard.h"
#include "cli.h"
#include "parse.h"

/* The requirements, or one line naming what is missing (exit 1). */
static int require(const char *what)
{
    char missing[512];
    kernel_missing(missing, sizeof missing);
    if (!missing[0])
        return 0;
    return cli_fail("%s: the kernel backend is unavailable here: needs %s", what,
                    missing);
}

enum { OPT_CGROUP = 0x200, OPT_REUSEADDR, OPT_EXCLUSIVE, OPT_FOREGROUND, OPT_FOLLOW };

/* --reuseaddr linux|windows, as BINDGUARD_REUSEADDR (config_get reads it). */
static bool set_reuseaddr(const char *v)
{
    if (!parse_caseeq(v, "linux") && !parse_caseeq(v, "windows")) {
        cli_usage("--reuseaddr must be linux or windows, not '%s'", v);
        return false;
    }
    return setenv(BINDGUARD_ENV_REUSEADDR, v, 1) == 0;
}

void kernel_settings_from_config(struct kernel_settings *s, bool force_exclusive)
{
    const struct bg_config *cfg = config_get();
    struct bg_classing c = config_classing(cfg);
    *s = (struct kernel_settings){ .profile = cfg->profile,
                                   .default_exclusive = c.default_exclusive,
                                   .reuseaddr_shares_tcp = c.reuseaddr_shares_tcp,
                                   .force_exclusive = force_exclusive || c.force_exclusive };
}

static void print_line(const char *line, void *arg)
{
    (void)arg;
    printf("%s\n", line);
    fflush(stdout);
}

static int enable(const struct cli_command *self, int argc, char **argv)
{
    static const struct option opts[] = {
        {"cgroup", required_argument, NULL, OPT_CGROUP},
        {"default", required_argument, NULL, 'd'},
        {"reuseaddr", required_argument, NULL, OPT_REUSEADDR},
        {"exclusive", no_argument, NULL, OPT_EXCLUSIVE},
        {"foreground", no_argument, NULL, OPT_FOREGROUND},
        CLI_OPTION_PROFILE, CLI_OPTION_HELP, {0},
    };
    const char *cgroup = NULL;
    bool exclusive = false, foreground = false;
    int c;
    while ((c = cli_getopt(self, argc, argv, "d:", opts)) != -1) {
        bool ok = true;
        switch (c) {
        case OPT_CGROUP: cgroup = optarg; break;
        case 'd': ok = cli_set_default_class(optarg); break;
        case OPT_REUSEADDR: ok = set_reuseaddr(optarg); break;
        case OPT_EXCLUSIVE: exclusive = true; break;
        case OPT_FOREGROUND: foreground = true; break;
        default: return cli_opt_exit(c);
        }
        if (!ok)
            return CLI_EXIT_USAGE;
    }
    int rc = cli_no_operands(argc, argv);
    if (rc >= 0)
        return rc;
    if ((rc = require("enable")) != 0)
        return rc;
    char root[512], why[512];
    if (!cgroup) {
        if (!kernel_cgroup2_root(root, sizeof root))
            return cli_fail("enable: no cgroup v2 mount");
        cgroup = root;
    }
    struct kernel_settings s;
    kernel_settings_from_config(&s, exclusive);
    bool changed;
    if (kernel_enable(cgroup, &s, &changed, why, sizeof why) != 0)
        return cli_fail("enable: %s", why);
    printf("bindguard: kernel backend %s on %s (profile %s), pinned in %s\n",
           changed ? "enabled" : "already enabled", cgroup, s.profile->name, kernel_pin_dir());
    fflush(stdout);
    if (!foreground)
        return 0;
    /* The systemd unit's main process: log each refusal until stopped, then disable. */
    rc = kernel_events(true, print_line, NULL, why, sizeof why) == 0 ? 0 : CLI_EXIT_FAIL;
    if (rc)
        cli_fail("enable: %s", why);
    if (kernel_disable(why, sizeof why) != 0)
        return cli_fail("disable: %s", why);
    printf("bindguard: kernel backend disabled\n");
    return rc;
}

/* A subcommand that takes nothing but --help: -1, or its exit status. */
static int no_arguments(const struct cli_command *self, int argc, char **argv)
{
    static const struct option opts[] = { CLI_OPTION_HELP, {0} };
    int c = cli_getopt(self, argc, argv, "", opts);
    return c != -1 ? cli_opt_exit(c) : cli_no_operands(argc, argv);
}

static int disable(const struct cli_command *self, int argc, char **argv)
{
    int rc = no_arguments(self, argc, argv);
    if (rc >= 0)
        return rc;
    if (geteuid() != 0)
        return cli_fail("disable: needs root");
    char why[512];
    if (kernel_disable(why, sizeof why) != 0)
        return cli_fail("disable: %s", why);
    printf("bindguard: kernel backend disabled (nothing attached or pinned in %s)\n",
           kernel_pin_dir());
    return 0;
}

static void count_binding(const struct kernel_binding *b, void *arg)
{
    (void)b;
    ++*(int *)arg;
}

static int status(const struct cli_command *self, int argc, char **argv)
{
    int rc = no_arguments(self, argc, argv);
    if (rc >= 0)
        return rc;
    char missing[512], why[512], where[512];
    kernel_missing(missing, sizeof missing);
    if (missing[0]) {
        printf("kernel backend: unavailable (needs %s)\n", missing);
        return CLI_EXIT_FAIL;
    }
    struct kernel_state st;
    if (!kernel_state(&st, why, sizeof why)) {
        printf("kernel backend: not enabled (nothing pinned in %s)\n", kernel_pin_dir());
        return CLI_EXIT_FAIL;
    }
    int n = 0;
    kernel_bindings(0, count_binding, &n, why, sizeof why);
    if (st.enabled) {
        if (!kernel_cgroup_path(st.cgroup_id, where, sizeof where))
            snprintf(where, sizeof where, "cgroup id %llu", (unsigned long long)st.cgroup_id);
        printf("kernel backend: enabled on %s\n", where);
        printf("profile: %s, default %s, reuseaddr %s%s\n", st.settings.profile,
               st.settings.default_exclusive ? "exclusive" : "windows",
               st.settings.reuseaddr_shares_tcp ? "windows" : "linux",
               st.settings.force_exclusive ? ", every socket exclusive" : "");
    } else {
        printf("kernel backend: not enabled (maps pinned for `run --kernel`)\n");
    }
    printf("pinned in: %s\n", kernel_pin_dir());
    printf("bindings: %d\n", n);
    printf("refusals: %llu\n", (unsigned long long)st.refused);
    if (st.full || st.busy)
        printf("not judged: %llu (port or map full), %llu (port busy)\n",
               (unsigned long long)st.full, (unsigned long long)st.busy);
    return st.enabled ? 0 : CLI_EXIT_FAIL;
}

static int log_cmd(const struct cli_command *self, int argc, char **argv)
{
    static const struct option opts[] = {
        {"follow", no_argument, NULL, 'f'}, CLI_OPTION_HELP, {0},
    };
    bool follow = false;
    int c, rc;
    while ((c = cli_getopt(self, argc, argv, "f", opts)) != -1) {
        if (c != 'f')
            return cli_opt_exit(c);
        follow = true;
    }
    if ((rc = cli_no_operands(argc, argv)) >= 0)
        return rc;
    if ((rc = require("log")) != 0)
        return rc;
    char why[512];
    if (kernel_events(follow, print_line, NULL, why, sizeof why) != 0)
        return cli_fail("log: %s", why);
    return 0;
}

#define KERNEL_USAGE                                                                       \
    "usage: bindguard kernel enable [--cgroup PATH] [--profile P] [--default exclusive|windows]\n" \
    "                               [--reuseaddr linux|windows] [--exclusive] [--foreground]\n" \
    "       bindguard kernel disable | status | log [--follow]\n"                          \
    "\n"                                                                                   \
    "The kernel backend: cgroup BPF programs enforce the same rules for every process in\n" \
    "a cgroup v2 subtree (default: the whole host), static and Go binaries included.\n"  \
    "Needs root, cgroup v2 and kernel 5.18+. Pinned in /sys/fs/bpf/bindguard (0700).\n"   \
    "  enable      load, attach and pin (idempotent); --foreground stays, prints each\n" \
    "              refusal, and disables on SIGTERM/SIGINT (the systemd unit)\n"          \
    "  disable     detach and unpin everything\n"                                          \
    "  status      where it is attached, profile, bindings, refusals; or what is missing\n" \
    "  log         the refusals not yet read (--follow: and every new one)\n"

static const struct cli_command subcommands[] = {
    { "enable", enable, "", KERNEL_USAGE },
    { "disable", disable, "", KERNEL_USAGE },
    { "status", status, "", KERNEL_USAGE },
    { "log", log_cmd, "", KERNEL_USAGE },
};

static int kernel_main(const struct cli_command *self, int argc, char **argv)
{
    if (argc < 2)
        return cli_usage("no subcommand (enable, disable, status, log)");
    if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
        fputs(self->usage, stdout);
        return 0;
    }
    for (size_t i = 0; i < BG_COUNT(subcommands); i++) {
        struct cli_command sub = subcommands[i];
        char name[32];
        snprintf(name, sizeof name, "kernel %s", sub.name);
        sub.name = name;
        if (strcmp(argv[1], subcommands[i].name) == 0)
            return sub.run(&sub, argc - 1, argv + 1);
    }
    return cli_usage("unknown subcommand '%s' (enable, disable, status, log)",
                     argv[1]);
}

const struct cli_command cli_kernel = {
    "kernel", kernel_main, "enforce the rules in the kernel for every process (cgroup BPF)",
    KERNEL_USAGE,
};
