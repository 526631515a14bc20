/* kernel_run - `bindguard run --kernel -- CMD`: CMD in a transient cgroup of its own,
 * below ours, with the kernel backend's programs attached for as long as it runs. The
 * maps are the host's shared ones, so every `run --kernel` and `kernel enable` see each
 * other's bindings. Afterwards whatever CMD left in the cgroup is killed and the cgroup
 * removed, as a transient systemd scope would be. */
#include "kernel_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

static bool write_file(const char *dir, const char *file, const char *text)
{
    char path[600];
    snprintf(path, sizeof path, "%s/%s", dir, file);
    int fd = open(path, O_WRONLY | O_CLOEXEC);
    if (fd < 0)
        return false;
    bool ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
    close(fd);
    return ok;
}

/* In the child, before it becomes CMD: join the cgroup, or never run unprotected. */
static void join(void *cgroup)
{
    char pid[24];
    snprintf(pid, sizeof pid, "%d\n", (int)getpid());
    if (!write_file(cgroup, "cgroup.procs", pid)) {
        cli_fail("--kernel: cannot join %s: %s", (const char *)cgroup, strerror(errno));
        _exit(126);
    }
}

/* Kill what CMD left behind (cgroup.kill, 5.14+) and remove the cgroup. */
static void remove_cgroup(const char *cgroup)
{
    for (int i = 0; i < 200; i++) {
        if (rmdir(cgroup) == 0 || errno == ENOENT)
            return;
        if (i == 0)
            write_file(cgroup, "cgroup.kill", "1");
        nanosleep(&(struct timespec){ 0, 5 * 1000 * 1000 }, NULL);
    }
    cli_fail("--kernel: cannot remove cgroup %s: %s", cgroup, strerror(errno));
}

int kernel_run(char **cmd)
{
    char missing[512], own[512], cgroup[600], why[512];
    if (geteuid() != 0)
        return cli_usage("--kernel: needs root (CAP_BPF, CAP_NET_ADMIN) to attach the "
                         "kernel backend; '%s' was not run", cmd[0]);
    kernel_missing(missing, sizeof missing);
    if (missing[0])
        return cli_usage("--kernel: the kernel backend is unavailable here (needs %s); "
                         "'%s' was not run", missing, cmd[0]);
    if (!kernel_own_cgroup(own, sizeof own))
        return cli_usage("--kernel: cannot find this process's cgroup v2");
    snprintf(cgroup, sizeof cgroup, "%s/bindguard-run-%d", own, (int)getpid());
    if (mkdir(cgroup, 0755) != 0)
        return cli_usage("--kernel: cannot create cgroup %s: %s", cgroup, strerror(errno));
    struct kernel_settings s;
    kernel_settings_from_config(&s, false);
    struct kernel_attachment *a = kernel_attach(cgroup, &s, why, sizeof why);
    if (!a) {
        rmdir(cgroup);
        return cli_usage("--kernel: %s; '%s' was not run", why, cmd[0]);
    }
    int rc = cli_run_and_wait(cmd, join, cgroup);
    remove_cgroup(cgroup);
    kernel_detach(a);
    return rc;
}
