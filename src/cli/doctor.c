/* doctor - is this shell under bindguard, with what configuration, can the kernel backend
 * run here, and (doctor CMD) can CMD be protected and by which backend.
 *
 * "Under bindguard" means the library is mapped, not that a variable is set: the maps of
 * this process and of its parent (the shell) are read. */
#include "cli.h"

#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bindguard.h"
#include "elfkind.h"
#include "kready.h"

#define LIB_NAME "libbindguard.so"

/* The libbindguard.so mapped into pid, into buf; false if none (or maps unreadable:
 * *readable says which). */
static bool mapped_library(pid_t pid, char *buf, size_t len, bool *readable)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/maps", (int)pid);
    FILE *f = fopen(path, "re");
    *readable = f != NULL;
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0) {
        char *file = strchr(line, '/');
        char *base = file ? strrchr(file, '/') + 1 : NULL;
        if (base && strncmp(base, LIB_NAME, strlen(LIB_NAME)) == 0) {
            file[strcspn(file, "\n")] = '\0';
            snprintf(buf, len, "%s", file);
            found = true;
        }
    }
    free(line);
    fclose(f);
    return found;
}

static void comm_of(pid_t pid, char *buf, size_t len)
{
    char path[64];
    snprintf(path, sizeof path, "/proc/%d/comm", (int)pid);
    FILE *f = fopen(path, "re");
    if (!f || !fgets(buf, (int)len, f))
        snprintf(buf, len, "?");
    buf[strcspn(buf, "\n")] = '\0';
    if (f)
        fclose(f);
}

/* The LD_PRELOAD element naming a libbindguard.so, and whether that file exists. */
static const char *preloaded_library(char *buf, size_t len, bool *exists)
{
    size_t n;
    const char *p = cli_preload_find(getenv("LD_PRELOAD"), &n);
    *exists = false;
    if (!p)
        return NULL;
    snprintf(buf, len, "%.*s", (int)n, p);
    *exists = access(buf, R_OK) == 0;
    return buf;
}

/* ---- the shell ----------------------------------------------------------------------- */

static void report_process(void)
{
    char self_lib[PATH_MAX], parent_lib[PATH_MAX], pre[PATH_MAX], comm[32];
    bool self_ok, parent_ok, exists;
    pid_t ppid = getppid();
    bool in_self = mapped_library(getpid(), self_lib, sizeof self_lib, &self_ok);
    bool in_parent = mapped_library(ppid, parent_lib, sizeof parent_lib, &parent_ok);
    const char *named = preloaded_library(pre, sizeof pre, &exists);
    comm_of(ppid, comm, sizeof comm);

    printf("under bindguard (library):\n");
    printf("  this process (pid %d):   %s%s\n", (int)getpid(),
           in_self ? "loaded from " : "not loaded", in_self ? self_lib : "");
    printf("  parent (pid %d, %s): %s%s\n", (int)ppid, comm,
           !parent_ok ? "can't read its maps" : in_parent ? "loaded from " : "not loaded",
           in_parent ? parent_lib : "");
    if (named)
        printf("  LD_PRELOAD names %s (%s)\n", named, exists ? "exists" : "MISSING: nothing is loaded");
    else
        printf("  LD_PRELOAD names no libbindguard.so\n");
    const char *active = getenv(BINDGUARD_ENV_ACTIVE);
    printf("  BINDGUARD_ACTIVE=%s\n", active ? active : "(unset)");
    if (in_self)
        printf("  => yes: programs started from here load the library\n");
    else if (named && !exists)
        printf("  => no: LD_PRELOAD points at a library that is not there\n");
    else
        printf("  => no: start a protected shell with `bindguard shell`, or one program with "
               "`bindguard run -- CMD`\n");
}

static void warn_line(const char *line)
{
    printf("  warning: %s\n", line);
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

static void report_config(void)
{
    struct bg_config c;
    printf("\nconfiguration (BINDGUARD_*, as the library reads it):\n");
    config_parse(&c, env_get, warn_line);
    static const char *const logs[] = { "stderr", "syslog", "off", "file" };
    printf("  table:     %s\n", c.table);
    printf("  profile:   %s (%s)\n", c.profile->name, c.profile->platform);
    printf("  mode:      %s\n", config_mode_name(c.mode));
    printf("  default:   %s\n", c.default_class == BG_DEFAULT_EXCLUSIVE ? "exclusive" : "windows");
    printf("  reuseaddr: %s\n", c.reuseaddr == BG_REUSEADDR_LINUX ? "linux" : "windows");
    printf("  emulate:   %s\n", c.emulate ? "on" : "off");
    printf("  log:       %s%s%s\n", logs[c.log], c.log == BG_LOG_FILE ? " " : "",
           c.log == BG_LOG_FILE ? c.log_path : "");
    DIR *d = opendir("/dev/shm");
    struct dirent *e;
    printf("  tables in /dev/shm:");
    int n = 0;
    while (d && (e = readdir(d)) != NULL)
        if (strncmp(e->d_name, "bindguard", 9) == 0 && ++n)
            printf(" /%s", e->d_name);
    printf("%s\n", n ? "" : " none yet (the first bind under bindguard creates one)");
    if (d)
        closedir(d);
}

static void report_kernel(const struct kready *k)
{
    char missing[256];
    kready_missing(k, missing, sizeof missing);
    printf("\nkernel backend (bindguard kernel): %s\n",
           k->enabled ? "enabled" : !k->built ? "not built into this bindguard"
                                  : "not enabled");
    printf("  BPF support built: %s\n", k->built ? "yes" : "no (needs clang, libbpf-dev and "
                                                         "bpftool when bindguard is built)");
    printf("  root:              %s\n", k->root ? "yes" : "no");
    printf("  cgroup v2:         %s%s\n", k->cgroup2 ? "mounted at " : "no cgroup2 mount",
           k->cgroup2 ? k->cgroup2_at : "");
    printf("  kernel >= %d.%d:    %s (%s)\n", KREADY_MIN_MAJOR, KREADY_MIN_MINOR,
           k->kernel_new ? "yes" : "no", k->release);
    if (missing[0])
        printf("  missing: %s\n", missing);
}

/* ---- a command ----------------------------------------------------------------------- */

static int report_command(const char *cmd, const struct kready *k)
{
    char path[4096], why[4400];
    if (!elfkind_which(cmd, path, sizeof path))
        return cli_usage("doctor: %s: no such command", cmd);
    struct elfkind e;
    if (elfkind_inspect(path, &e, why, sizeof why) != 0)
        return cli_fail("doctor: %s", why);
    if (e.script[0])
        printf("%s: a script run by %s\n", e.script, e.path);
    printf("%s: %s%s%s%s%s%s\n", e.path, e.dynamic ? "dynamically linked" : "static",
           e.go ? ", Go" : "", e.setuid ? ", setuid" : "", e.setgid ? ", setgid" : "",
           e.setcap ? ", file capabilities" : "", e.dynamic ? "" : " (no PT_INTERP)");
    const char *blocker = elfkind_preload_blocker(&e);
    char missing[256];
    kready_missing(k, missing, sizeof missing);
    printf("  library (bindguard run):         %s%s\n", blocker ? "no: " : "yes",
           blocker ? blocker : "");
    printf("  kernel backend (run --kernel):   %s%s\n", k->enabled ? "yes" : "not available: ",
           k->enabled ? "" : missing);
    if (!blocker || k->enabled)
        return 0;
    printf("  => %s can't be protected here until the kernel backend is enabled\n", cmd);
    return CLI_EXIT_FAIL;
}

static int doctor_main(const struct cli_command *self, int argc, char **argv)
{
    static const struct option opts[] = { CLI_OPTION_HELP, {0} };
    int c = cli_getopt(self, argc, argv, "+", opts);
    if (c != -1)
        return cli_opt_exit(c);
    if (argc - optind > 1)
        return cli_usage("doctor: one command at a time ('%s' is one too many)", argv[optind + 1]);
    struct kready k;
    kready_probe(&k);
    if (optind < argc)
        return report_command(argv[optind], &k);
    report_process();
    report_config();
    report_kernel(&k);
    return 0;
}

const struct cli_command cli_doctor = {
    "doctor", doctor_main, "is this shell protected, and can CMD be? (which backend)",
    "usage: bindguard doctor [CMD]\n"
    "\n"
    "Without CMD: whether this process and its parent (your shell) have libbindguard.so\n"
    "loaded (read from /proc/PID/maps, not guessed from LD_PRELOAD), the configuration\n"
    "the library reads from BINDGUARD_*, the tables present, and whether the kernel\n"
    "backend is enabled or what it is missing (BPF support built, root, cgroup v2,\n"
    "Linux >= 5.18). Exits 0.\n"
    "\n"
    "With CMD (a path, or a name looked up on $PATH; a #! script is judged by its\n"
    "interpreter): whether the library can protect it (not static, not Go, not setuid,\n"
    "setgid or with file capabilities) and whether the kernel backend can. Exits 0 if one\n"
    "of them can, 1 if neither can here, 2 if CMD is not found.\n",
};
