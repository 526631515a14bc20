/* kernel_env - what the kernel backend needs from this host, found without libbpf:
 * root, a cgroup v2 mount, a kernel with bpf_set_retval (5.18) as kready.c probes them,
 * and a BPF filesystem to pin in. */
#include "kernel_backend.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/statfs.h>
#include <unistd.h>

#include "cli.h"
#include "kready.h"

#ifndef BPF_FS_MAGIC
#define BPF_FS_MAGIC 0xcafe4a11
#endif

const char *kernel_pin_dir(void)
{
    const char *d = getenv(KERNEL_ENV_DIR);
    return d && d[0] == '/' ? d : KERNEL_PIN_DEFAULT;
}

bool kernel_cgroup2_root(char *buf, size_t len)
{
    struct kready k;
    kready_probe(&k);
    return k.cgroup2 && (size_t)snprintf(buf, len, "%s", k.cgroup2_at) < len;
}

bool kernel_own_cgroup(char *buf, size_t len)
{
    char root[256], line[1024], rel[900] = "";
    if (!kernel_cgroup2_root(root, sizeof root))
        return false;
    FILE *f = fopen("/proc/self/cgroup", "re");
    if (!f)
        return false;
    while (fgets(line, sizeof line, f))
        if (strncmp(line, "0::", 3) == 0 && sscanf(line + 3, "%899s", rel) == 1)
            break;
    fclose(f);
    if (!rel[0])
        return false;
    return (size_t)snprintf(buf, len, "%s%s", root, strcmp(rel, "/") == 0 ? "" : rel) < len;
}

/* kready's facts, worded with what the build lacked and the release seen. */
void kernel_missing(char *buf, size_t len)
{
    struct kready k;
    kready_probe(&k);
    char parts[4][160];
    int n = 0;
    const char *build = kernel_build_missing();
    if (build)
        snprintf(parts[n++], sizeof parts[0], "BPF support not built (missing: %s)", build);
    if (!k.root)
        snprintf(parts[n++], sizeof parts[0], "root (CAP_BPF and CAP_NET_ADMIN)");
    if (!k.cgroup2)
        snprintf(parts[n++], sizeof parts[0], "cgroup v2 (no cgroup2 mount)");
    if (!k.kernel_new)
        snprintf(parts[n++], sizeof parts[0], "kernel >= %d.%d for bpf_set_retval (this is %.64s)",
                 KREADY_MIN_MAJOR, KREADY_MIN_MINOR, k.release);
    buf[0] = '\0';
    for (int i = 0; i < n; i++)
        snprintf(buf + strlen(buf), len - strlen(buf), "%s%s", i ? ", " : "", parts[i]);
}

static bool is_bpffs(const char *path)
{
    struct statfs s;
    return statfs(path, &s) == 0 && (unsigned long)s.f_type == BPF_FS_MAGIC;
}

bool kernel_pin_dir_ready(char *why, size_t len)
{
    const char *dir = kernel_pin_dir();
    char parent[512];
    snprintf(parent, sizeof parent, "%s", dir);
    char *slash = strrchr(parent, '/');
    if (slash && slash != parent)
        *slash = '\0';
    if (!is_bpffs(parent)) {
        if (strcmp(parent, "/sys/fs/bpf") != 0) {
            snprintf(why, len, "%s is not on a BPF filesystem", dir);
            return false;
        }
        if (mount("bpf", parent, "bpf", 0, "mode=0700") != 0) {
            snprintf(why, len, "no BPF filesystem at %s, and mounting one failed: %s", parent,
                     strerror(errno));
            return false;
        }
        fprintf(stderr, "bindguard: mounted a BPF filesystem at %s (none was mounted)\n",
                parent);
    }
    if (mkdir(dir, 0700) != 0 && errno != EEXIST) {
        snprintf(why, len, "cannot create %s: %s", dir, strerror(errno));
        return false;
    }
    /* A fresh bpffs is 1777: whoever made the directory first must not keep it. */
    struct stat st;
    if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode) || st.st_uid != 0 ||
        chmod(dir, 0700) != 0) {
        snprintf(why, len, "%s is not a directory owned by root", dir);
        return false;
    }
    return true;
}

/* Depth-first below dir for the directory with inode id. */
static bool find_ino(const char *dir, uint64_t id, int depth, char *buf, size_t len)
{
    struct stat st;
    if (stat(dir, &st) == 0 && (uint64_t)st.st_ino == id) {
        snprintf(buf, len, "%s", dir);
        return true;
    }
    if (depth > 16)
        return false;
    DIR *d = opendir(dir);
    if (!d)
        return false;
    bool found = false;
    struct dirent *e;
    while (!found && (e = readdir(d))) {
        if (e->d_type != DT_DIR || e->d_name[0] == '.')
            continue;
        char sub[4096];
        if ((size_t)snprintf(sub, sizeof sub, "%s/%s", dir, e->d_name) < sizeof sub)
            found = find_ino(sub, id, depth + 1, buf, len);
    }
    closedir(d);
    return found;
}

bool kernel_cgroup_path(uint64_t id, char *buf, size_t len)
{
    char root[512];
    return kernel_cgroup2_root(root, sizeof root) && find_ino(root, id, 0, buf, len);
}
