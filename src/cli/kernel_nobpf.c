/* kernel_nobpf - the kernel backend's CLI side in a build without the BPF toolchain:
 * every operation says what the build lacked (BG_BPF_MISSING, from meson). */
#include "kernel_backend.h"

#include <stdio.h>

#ifndef BG_BPF_MISSING
#define BG_BPF_MISSING "the BPF toolchain"
#endif

const char *kernel_build_missing(void)
{
    return BG_BPF_MISSING;
}

static int unbuilt(char *why, size_t len)
{
    snprintf(why, len, "BPF support not built (missing: %s)", BG_BPF_MISSING);
    return -1;
}

int kernel_enable(const char *cgroup, const struct kernel_settings *s, bool *changed,
                  char *why, size_t len)
{
    (void)cgroup, (void)s;
    *changed = false;
    return unbuilt(why, len);
}

int kernel_disable(char *why, size_t len)
{
    (void)why, (void)len;
    return 0;  /* nothing can have been attached by this build */
}

struct kernel_attachment *kernel_attach(const char *cgroup, const struct kernel_settings *s,
                                        char *why, size_t len)
{
    (void)cgroup, (void)s;
    unbuilt(why, len);
    return NULL;
}

void kernel_detach(struct kernel_attachment *a)
{
    (void)a;
}

bool kernel_state(struct kernel_state *st, char *why, size_t len)
{
    (void)st;
    unbuilt(why, len);
    return false;
}

int kernel_bindings(uint16_t port, void (*fn)(const struct kernel_binding *, void *),
                    void *arg, char *why, size_t len)
{
    (void)port, (void)fn, (void)arg;
    return unbuilt(why, len);
}

int kernel_events(bool follow, kernel_event_fn fn, void *arg, char *why, size_t len)
{
    (void)follow, (void)fn, (void)arg;
    return unbuilt(why, len);
}
