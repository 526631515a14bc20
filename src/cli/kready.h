/* kready - can the kernel backend (`bindguard kernel`, cgroup BPF) run here, and is it
 * on? What demo and doctor ask; the backend itself answers `bindguard kernel status`.
 *
 * Only facts readable without privileges are probed (uid, /proc/self/mountinfo, uname,
 * /sys/fs/bpf); nothing is loaded or attached. */
#ifndef BG_CLI_KREADY_H
#define BG_CLI_KREADY_H

#include <stdbool.h>
#include <stddef.h>

#define KREADY_MIN_MAJOR 5   /* bpf_set_retval in cgroup/bind hooks: 5.18 */
#define KREADY_MIN_MINOR 18

struct kready {
    bool built;             /* this build has the BPF backend (meson option bpf) */
    bool root;              /* effective uid 0: loading and attaching needs it */
    bool cgroup2;           /* a cgroup v2 hierarchy is mounted ... */
    char cgroup2_at[256];   /* ... here (first one in mountinfo) */
    bool kernel_new;        /* release >= KREADY_MIN_MAJOR.KREADY_MIN_MINOR */
    char release[65];       /* uname -r */
    bool enabled;           /* pinned under KREADY_PIN_DIR: `bindguard kernel enable` ran */
};

#define KREADY_PIN_DIR "/sys/fs/bpf/bindguard"

void kready_probe(struct kready *k);
/* What stands between this machine and an enabled backend, as "a, b, c" (the missing
 * requirements, then "not enabled"); "" when it is enabled. */
void kready_missing(const struct kready *k, char *buf, size_t len);

#endif
