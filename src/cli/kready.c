/* kready - see kready.h. */
#include "kready.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/utsname.h>
#include <unistd.h>

/* The first cgroup2 mount point in mountinfo: "... MOUNTPOINT OPTS ... - cgroup2 SRC". */
static bool find_cgroup2(char *at, size_t len)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    if (!f)
        return false;
    char *line = NULL;
    size_t cap = 0;
    bool found = false;
    while (!found && getline(&line, &cap, f) > 0) {
        const char *sep = strstr(line, " - ");
        char mnt[256];
        if (sep && strncmp(sep + 3, "cgroup2 ", 8) == 0 &&
            sscanf(line, "%*s %*s %*s %*s %255s", mnt) == 1) {
            snprintf(at, len, "%s", mnt);
            found = true;
        }
    }
    free(line);
    fclose(f);
    return found;
}

static bool release_at_least(const char *release, int major, int minor)
{
    int ma = 0, mi = 0;
    if (sscanf(release, "%d.%d", &ma, &mi) != 2)
        return false;
    return ma > major || (ma == major && mi >= minor);
}

void kready_probe(struct kready *k)
{
    memset(k, 0, sizeof *k);
#ifdef BG_HAVE_BPF
    k->built = true;
#endif
    k->root = geteuid() == 0;
    k->cgroup2 = find_cgroup2(k->cgroup2_at, sizeof k->cgroup2_at);
    struct utsname u;
    if (uname(&u) == 0) {
        snprintf(k->release, sizeof k->release, "%s", u.release);
        k->kernel_new = release_at_least(u.release, KREADY_MIN_MAJOR, KREADY_MIN_MINOR);
    }
    struct stat st;
    k->enabled = k->built && stat(KREADY_PIN_DIR, &st) == 0 && S_ISDIR(st.st_mode);
}

void kready_missing(const struct kready *k, char *buf, size_t len)
{
    const char *parts[5];
    int n = 0;
    if (!k->built)
        parts[n++] = "BPF support not built";
    if (!k->root)
        parts[n++] = "root";
    if (!k->cgroup2)
        parts[n++] = "a cgroup v2 mount";
    if (!k->kernel_new)
        parts[n++] = "Linux >= 5.18";
    if (!k->enabled && n == 0)
        parts[n++] = "not enabled (bindguard kernel enable)";
    size_t used = 0;
    buf[0] = '\0';
    for (int i = 0; i < n && used < len; i++) {
        int w = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", parts[i]);
        if (w < 0)
            break;
        used += (size_t)w;
    }
}
