/* kernel_bpf - load, attach and pin the kernel backend's BPF object (libbpf and the
 * bpftool skeleton); kernel_bpf_read.c reads what is pinned. The maps every attachment shares are pinned once per host, so
 * `kernel enable` and any number of `run --kernel` judge against the same bindings. */
#include "kernel_backend.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/bpf.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "address.h"
#include "bpf/kmap.h"  /* before the skeleton, which names its types */
#include "bpf/bindguard.skel.h"
#include "kernel_bpf.h"
#include "log.h"

const char *kernel_build_missing(void)
{
    return NULL;
}

/* libbpf's own lines would break "one clear line": keep its last complaint for `why`. */
static char libbpf_said[256];

int kbpf_quiet_print(enum libbpf_print_level level, const char *fmt, va_list ap)
{
    if (level == LIBBPF_DEBUG)
        return 0;
    vsnprintf(libbpf_said, sizeof libbpf_said, fmt, ap);
    libbpf_said[strcspn(libbpf_said, "\n")] = '\0';
    return 0;
}

void kbpf_pin_path(char *buf, size_t len, const char *what, const char *name)
{
    snprintf(buf, len, "%s/%s%s", kernel_pin_dir(), what, name);
}

static const char *const shared_maps[] = { "bindings", "socks", "events", "stats" };

static struct bpf_map *shared_map(struct bindguard_bpf *skel, int i)
{
    struct bpf_map *m[] = { skel->maps.bindings, skel->maps.socks, skel->maps.events,
                            skel->maps.stats };
    return m[i];
}

static void fill_settings(struct kmap_settings *k, const struct kernel_settings *s)
{
    memset(k, 0, sizeof *k);
    k->version = KMAP_VERSION;
    k->rules = (bg_u8)s->profile->rules;
    k->has_exclusive = s->profile->has_exclusive;
    k->exclusive_needs_admin = s->profile->exclusive_needs_admin;
    k->default_exclusive = s->default_exclusive;
    k->reuseaddr_shares_tcp = s->reuseaddr_shares_tcp;
    k->force_exclusive = s->force_exclusive;
    snprintf(k->profile, sizeof k->profile, "%s", s->profile->name);
}

/* Opened and loaded with the shared maps reused from their pins (made and pinned if
 * absent). NULL: why says why. */
static struct bindguard_bpf *load(const struct kernel_settings *s, char *why, size_t len)
{
    libbpf_set_print(kbpf_quiet_print);
    libbpf_said[0] = '\0';
    if (!kernel_pin_dir_ready(why, len))
        return NULL;
    struct bindguard_bpf *skel = bindguard_bpf__open();
    if (!skel) {
        snprintf(why, len, "cannot open the BPF object: %s", strerror(errno));
        return NULL;
    }
    fill_settings((struct kmap_settings *)&skel->rodata->settings, s);
    for (size_t i = 0; i < BG_COUNT(shared_maps); i++) {
        char path[512];
        kbpf_pin_path(path, sizeof path, "", shared_maps[i]);
        bpf_map__set_pin_path(shared_map(skel, (int)i), path);
    }
    int err = bindguard_bpf__load(skel);
    if (err) {
        snprintf(why, len, "cannot load the BPF programs: %s%s%s", strerror(-err),
                 libbpf_said[0] ? "; libbpf: " : "", libbpf_said);
        bindguard_bpf__destroy(skel);
        return NULL;
    }
    return skel;
}

/* Every attachment holds a shared flock on the pin directory while it lives: the last
 * one to go, with nothing enabled, unpins the maps, so `run --kernel` leaves nothing. */
struct kernel_attachment {
    int dir_lock;
    struct bindguard_bpf *skel;
    struct bpf_link *links[16];
    struct bpf_program *progs[16];
    int n;
};

static int open_cgroup(const char *cgroup, char *why, size_t len)
{
    int fd = open(cgroup, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0)
        snprintf(why, len, "cannot open cgroup %s: %s", cgroup, strerror(errno));
    return fd;
}

struct kernel_attachment *kernel_attach(const char *cgroup, const struct kernel_settings *s,
                                        char *why, size_t len)
{
    struct kernel_attachment *a = calloc(1, sizeof *a);
    if (!a) {
        snprintf(why, len, "out of memory");
        return NULL;
    }
    int cg = open_cgroup(cgroup, why, len);
    a->dir_lock = -1;
    if (cg < 0 || !(a->skel = load(s, why, len))) {
        if (cg >= 0)
            close(cg);
        free(a);
        return NULL;
    }
    a->dir_lock = open(kernel_pin_dir(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (a->dir_lock >= 0)
        flock(a->dir_lock, LOCK_SH);
    struct bpf_program *p;
    bpf_object__for_each_program(p, a->skel->obj) {
        struct bpf_link *l = bpf_program__attach_cgroup(p, cg);
        if (!l) {
            snprintf(why, len, "cannot attach %s to %s: %s", bpf_program__name(p), cgroup,
                     strerror(errno));
            close(cg);
            kernel_detach(a);
            return NULL;
        }
        if (a->n < (int)BG_COUNT(a->links)) {
            a->progs[a->n] = p;
            a->links[a->n++] = l;
        }
    }
    close(cg);
    return a;
}

static bool enabled_link(char *path, size_t len);
static void unpin_maps(void);

void kernel_detach(struct kernel_attachment *a)
{
    if (!a)
        return;
    for (int i = 0; i < a->n; i++)
        bpf_link__destroy(a->links[i]);
    bindguard_bpf__destroy(a->skel);
    char path[512];
    if (a->dir_lock >= 0 && flock(a->dir_lock, LOCK_EX | LOCK_NB) == 0 &&
        !enabled_link(path, sizeof path)) {
        unpin_maps();
        rmdir(kernel_pin_dir());
    }
    if (a->dir_lock >= 0)
        close(a->dir_lock);
    free(a);
}

/* ---- enable / disable ----------------------------------------------------------------- */

static bool enabled_link(char *path, size_t len)
{
    kbpf_pin_path(path, len, "link_", "bg_bind4");
    return access(path, F_OK) == 0;
}

bool kbpf_link_cgroup(uint64_t *id)
{
    char path[512];
    if (!enabled_link(path, sizeof path))
        return false;
    int fd = bpf_obj_get(path);
    struct bpf_link_info info;
    uint32_t n = sizeof info;
    memset(&info, 0, sizeof info);
    bool ok = fd >= 0 && bpf_obj_get_info_by_fd(fd, &info, &n) == 0;
    if (fd >= 0)
        close(fd);
    *id = ok ? info.cgroup.cgroup_id : 0;
    return ok;
}

bool kbpf_prog_settings(const char *prog_path, struct kmap_settings *out)
{
    int fd = bpf_obj_get(prog_path);
    if (fd < 0)
        return false;
    uint32_t ids[16];
    struct bpf_prog_info info;
    uint32_t n = sizeof info;
    memset(&info, 0, sizeof info);
    info.nr_map_ids = BG_COUNT(ids);
    info.map_ids = (uint64_t)(uintptr_t)ids;
    bool found = false;
    if (bpf_obj_get_info_by_fd(fd, &info, &n) == 0) {
        for (uint32_t i = 0; i < info.nr_map_ids && i < BG_COUNT(ids) && !found; i++) {
            int mfd = bpf_map_get_fd_by_id(ids[i]);
            struct bpf_map_info mi;
            uint32_t mn = sizeof mi;
            memset(&mi, 0, sizeof mi);
            if (mfd >= 0 && bpf_obj_get_info_by_fd(mfd, &mi, &mn) == 0 &&
                strstr(mi.name, ".rodata") && mi.value_size >= sizeof *out) {
                unsigned char *v = calloc(1, mi.value_size);
                uint32_t key = 0;
                if (v && bpf_map_lookup_elem(mfd, &key, v) == 0) {
                    memcpy(out, v, sizeof *out);
                    found = out->version == KMAP_VERSION;
                }
                free(v);
            }
            if (mfd >= 0)
                close(mfd);
        }
    }
    close(fd);
    return found;
}

static bool same_settings(const struct kmap_settings *a, const struct kmap_settings *b)
{
    return a->rules == b->rules && a->has_exclusive == b->has_exclusive &&
           a->exclusive_needs_admin == b->exclusive_needs_admin &&
           a->default_exclusive == b->default_exclusive &&
           a->reuseaddr_shares_tcp == b->reuseaddr_shares_tcp &&
           a->force_exclusive == b->force_exclusive &&
           strncmp(a->profile, b->profile, sizeof a->profile) == 0;
}

static void unpin_attachment(void)
{
    struct bindguard_bpf *skel = bindguard_bpf__open();
    if (!skel)
        return;
    struct bpf_program *p;
    bpf_object__for_each_program(p, skel->obj) {
        char path[512];
        kbpf_pin_path(path, sizeof path, "link_", bpf_program__name(p));
        unlink(path);
        kbpf_pin_path(path, sizeof path, "prog_", bpf_program__name(p));
        unlink(path);
    }
    bindguard_bpf__destroy(skel);
}

int kernel_enable(const char *cgroup, const struct kernel_settings *s, bool *changed,
                  char *why, size_t len)
{
    *changed = false;
    struct stat cg;
    if (stat(cgroup, &cg) != 0) {
        snprintf(why, len, "cannot use cgroup %s: %s", cgroup, strerror(errno));
        return -1;
    }
    uint64_t id;
    struct kmap_settings want, have;
    char path[512];
    fill_settings(&want, s);
    kbpf_pin_path(path, sizeof path, "prog_", "bg_bind4");
    if (kbpf_link_cgroup(&id) && id == (uint64_t)cg.st_ino && kbpf_prog_settings(path, &have) &&
        same_settings(&want, &have))
        return 0;
    unpin_attachment();  /* enabled elsewhere or otherwise: replaced */
    struct kernel_attachment *a = kernel_attach(cgroup, s, why, len);
    if (!a)
        return -1;
    for (int i = 0; i < a->n; i++) {
        const char *name = bpf_program__name(a->progs[i]);
        char lpath[512], ppath[512];
        kbpf_pin_path(lpath, sizeof lpath, "link_", name);
        kbpf_pin_path(ppath, sizeof ppath, "prog_", name);
        if (bpf_link__pin(a->links[i], lpath) != 0 ||
            bpf_program__pin(a->progs[i], ppath) != 0) {
            snprintf(why, len, "cannot pin %s: %s", lpath, strerror(errno));
            kernel_detach(a);
            unpin_attachment();
            return -1;
        }
    }
    kernel_detach(a);  /* the pins keep the links, and so the attachment */
    *changed = true;
    return 0;
}

static void unpin_maps(void)
{
    for (size_t i = 0; i < BG_COUNT(shared_maps); i++) {
        char path[512];
        kbpf_pin_path(path, sizeof path, "", shared_maps[i]);
        unlink(path);
    }
}

int kernel_disable(char *why, size_t len)
{
    unpin_attachment();
    unpin_maps();
    if (rmdir(kernel_pin_dir()) != 0 && errno != ENOENT) {
        snprintf(why, len, "%s still holds something: %s", kernel_pin_dir(), strerror(errno));
        return -1;
    }
    return 0;
}
