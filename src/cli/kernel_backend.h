/* kernel_backend - the CLI's side of the kernel backend (doc/design.md "Kernel backend").
 *
 * kernel_env.c finds what the backend needs on this host (root, cgroup v2, a kernel new
 * enough, a BPF filesystem) without libbpf. kernel_bpf.c loads, attaches, pins and reads
 * the BPF object through libbpf; kernel_nobpf.c stands in for it when the build had no
 * BPF toolchain. Only the CLI links either: the preloaded library never links libbpf.
 *
 * Pinned under kernel_pin_dir() (/sys/fs/bpf/bindguard, mode 0700; BINDGUARD_KERNEL_DIR
 * overrides it, for tests): the maps every attachment shares (bindings, socks, events,
 * stats), and for `kernel enable` its programs (prog_*) and links (link_*). */
#ifndef BG_CLI_KERNEL_BACKEND_H
#define BG_CLI_KERNEL_BACKEND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "cli.h"
#include "kready.h"
#include "policy.h"
#include "rules/rules.h"

#define KERNEL_PIN_DEFAULT KREADY_PIN_DIR
#define KERNEL_ENV_DIR     "BINDGUARD_KERNEL_DIR"

/* ---- kernel_env.c ------------------------------------------------------------------- */

const char *kernel_pin_dir(void);
/* The cgroup v2 mount point from /proc/self/mountinfo. false: none mounted. */
bool kernel_cgroup2_root(char *buf, size_t len);
/* This process's cgroup v2 directory (mount point + /proc/self/cgroup's 0:: path). */
bool kernel_own_cgroup(char *buf, size_t len);
/* What keeps the backend from working here, in words ("root", "cgroup v2", "kernel >=
 * 5.18 (this is 5.10)", "BPF support not built (missing: clang)"); "" if nothing does. */
void kernel_missing(char *buf, size_t len);
/* Make sure a BPF filesystem holds the pin directory's parent, mounting one at
 * /sys/fs/bpf if none is (said on stderr), and the directory exists with mode 0700. */
bool kernel_pin_dir_ready(char *why, size_t len);
/* The cgroup v2 directory whose id (inode) is `id`, below the mount point. */
bool kernel_cgroup_path(uint64_t id, char *buf, size_t len);

/* ---- kernel_bpf.c / kernel_nobpf.c ------------------------------------------------- */

/* NULL when built with the backend; else what the build lacked. */
const char *kernel_build_missing(void);

struct kernel_settings {
    const struct bg_profile *profile;
    bool default_exclusive, reuseaddr_shares_tcp, force_exclusive;
};

/* From the environment the options set (--profile, --default, --reuseaddr). */
void kernel_settings_from_config(struct kernel_settings *s, bool force_exclusive);

/* run --kernel: cmd in a transient child cgroup of ours with the programs attached;
 * its exit status, or one line and CLI_EXIT_USAGE when the backend can't be used. */
int kernel_run(char **cmd);

/* enable: load, attach to `cgroup` and pin programs and links; the maps are shared.
 * Already enabled there with the same settings: nothing changes (*changed false). */
int kernel_enable(const char *cgroup, const struct kernel_settings *s, bool *changed,
                  char *why, size_t len);
/* disable: unpin everything (links go, so do the attachments). 0 when nothing is left. */
int kernel_disable(char *why, size_t len);

/* An attachment that lives as long as the handle (run --kernel). */
struct kernel_attachment;
struct kernel_attachment *kernel_attach(const char *cgroup, const struct kernel_settings *s,
                                        char *why, size_t len);
void kernel_detach(struct kernel_attachment *a);

struct kernel_state {
    bool enabled;            /* pinned links exist */
    uint64_t cgroup_id;      /* where they are attached */
    struct kmap_settings_view {
        char profile[16];
        bool default_exclusive, reuseaddr_shares_tcp, force_exclusive;
    } settings;
    uint64_t refused, bound, full, busy;
};
/* false: the maps are not pinned (never enabled or run). */
bool kernel_state(struct kernel_state *st, char *why, size_t len);

/* One binding in the shared map. */
struct kernel_binding {
    uint64_t netns;
    uint8_t proto;
    struct bg_binding b;
    bool pending;
    uint32_t pid;
    char comm[17];
    int64_t since;           /* realtime seconds */
};
/* Every binding (port 0: all ports) to fn; its count, or -1 (why says why). */
int kernel_bindings(uint16_t port, void (*fn)(const struct kernel_binding *, void *),
                    void *arg, char *why, size_t len);

/* One refusal from the ring buffer, as a log line. */
typedef void (*kernel_event_fn)(const char *line, void *arg);
/* Read refusals; follow: until SIGINT/SIGTERM. */
int kernel_events(bool follow, kernel_event_fn fn, void *arg, char *why, size_t len);

/* ---- kernel_view.c: for list and check --------------------------------------------- */

/* Would the kernel backend refuse `want`? 1 and *r filled (as guard_check fills it), or 0
 * (allowed, or the backend is not in use here). */
int kernel_view_check(const struct table_entry *want, const struct bg_profile *p,
                      struct guard_refusal *r);
/* Append the backend's bindings on `port` (0: all) to a snapshot as rows with `kernel`
 * set; nothing unless root and the backend is pinned here. */
void cli_snapshot_add_kernel(struct cli_snapshot *s, uint16_t port);

#endif
