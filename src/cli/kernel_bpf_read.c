/* kernel_bpf_read - what the pinned kernel backend holds: its state and settings, the
 * bindings it keeps, and the refusals it reported (kernel_backend.h). */
#include "kernel_backend.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <bpf/bpf.h>
#include <bpf/libbpf.h>

#include "address.h"
#include "bpf/kmap.h"
#include "kernel_bpf.h"
#include "log.h"

static int pinned(const char *name)
{
    char path[512];
    kbpf_pin_path(path, sizeof path, "", name);
    return bpf_obj_get(path);
}

bool kernel_state(struct kernel_state *st, char *why, size_t len)
{
    memset(st, 0, sizeof *st);
    int fd = pinned("stats");
    if (fd < 0) {
        snprintf(why, len, "%s: %s", kernel_pin_dir(), strerror(errno));
        return false;
    }
    uint64_t *slots[KSTAT_COUNT] = { &st->refused, &st->bound, &st->full, &st->busy };
    for (uint32_t k = 0; k < KSTAT_COUNT; k++)
        bpf_map_lookup_elem(fd, &k, slots[k]);
    close(fd);
    char path[512];
    struct kmap_settings k;
    kbpf_pin_path(path, sizeof path, "prog_", "bg_bind4");
    st->enabled = kbpf_link_cgroup(&st->cgroup_id);
    if (st->enabled && kbpf_prog_settings(path, &k)) {
        snprintf(st->settings.profile, sizeof st->settings.profile, "%.*s",
                 (int)sizeof k.profile, k.profile);
        st->settings.default_exclusive = k.default_exclusive;
        st->settings.reuseaddr_shares_tcp = k.reuseaddr_shares_tcp;
        st->settings.force_exclusive = k.force_exclusive;
    }
    return true;
}

static uint64_t clock_ns(clockid_t c)
{
    struct timespec ts;
    clock_gettime(c, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

/* CLOCK_BOOTTIME ns, as the programs stamp, to realtime seconds. */
static int64_t boot_to_real(uint64_t boot_ns)
{
    int64_t ago = (int64_t)(clock_ns(CLOCK_BOOTTIME) - boot_ns);
    return (int64_t)((clock_ns(CLOCK_REALTIME) - (uint64_t)(ago > 0 ? ago : 0)) / 1000000000ull);
}

int kernel_bindings(uint16_t port, void (*fn)(const struct kernel_binding *, void *),
                    void *arg, char *why, size_t len)
{
    int fd = pinned("bindings");
    if (fd < 0) {
        snprintf(why, len, "%s/bindings: %s", kernel_pin_dir(), strerror(errno));
        return -1;
    }
    struct kmap_key key, next;
    struct kmap_port *v = malloc(sizeof *v);
    int n = 0;
    uint64_t now = clock_ns(CLOCK_MONOTONIC);
    void *prev = NULL;
    while (v && bpf_map_get_next_key(fd, prev, &next) == 0) {
        key = next;
        prev = &key;
        if ((port && key.port != port) || bpf_map_lookup_elem_flags(fd, &key, v, BPF_F_LOCK))
            continue;
        for (int i = 0; i < KMAP_PER_PORT; i++) {
            const struct kmap_slot *s = &v->slot[i];
            if (!s->cookie || (s->pending_until && s->pending_until < now))
                continue;
            struct kernel_binding b = { .netns = key.netns, .proto = key.proto, .b = s->b,
                                        .pending = s->pending_until != 0, .pid = s->pid,
                                        .since = boot_to_real(s->since) };
            snprintf(b.comm, sizeof b.comm, "%.*s", KMAP_COMM_LEN, s->comm);
            fn(&b, arg);
            n++;
        }
    }
    free(v);
    close(fd);
    return n;
}

/* ---- refusals ------------------------------------------------------------------------- */

struct events_ctx {
    kernel_event_fn fn;
    void *arg;
};

static const char *held_how(int cls)
{
    return cls == BG_CLASS_EXCLUSIVE ? "exclusively" : cls == BG_CLASS_REUSEADDR ? "for sharing"
                                                                                  : "by default";
}

static int on_event(void *ctx, void *data, size_t size)
{
    const struct events_ctx *c = ctx;
    const struct kmap_event *e = data;
    if (size < sizeof *e)
        return 0;
    char want[64], held[64], comm[17], hcomm[17], first[40], second[40], line[LOG_LINE_MAX];
    char out[LOG_LINE_MAX + 128], prof[17];
    address_format(&e->want, want, sizeof want);
    address_format(&e->held, held, sizeof held);
    snprintf(comm, sizeof comm, "%.*s", KMAP_COMM_LEN, e->comm);
    snprintf(hcomm, sizeof hcomm, "%.*s", KMAP_COMM_LEN, e->holder_comm);
    snprintf(prof, sizeof prof, "%.*s", (int)sizeof e->profile, e->profile);
    const struct bg_profile *p = policy_profile(prof);
    snprintf(first, sizeof first, "%s %s", policy_class_name((enum bg_class)e->held_cls),
             policy_kind_name(rules_addr_kind(&e->held)));
    snprintf(second, sizeof second, "%s %s", policy_class_name((enum bg_class)e->want_cls),
             policy_kind_name(rules_addr_kind(&e->want)));
    struct log_refusal r = {
        .want_addr = want, .proto = e->proto == BG_PROTO_TCP ? "tcp" : "udp",
        .err = (int)e->err, .held_how = held_how(e->held_cls), .pid = (int)e->holder_pid,
        .comm = hcomm, .uid = e->holder_uid, .held_addr = held,
        .since = boot_to_real(e->holder_since),
        .table = policy_table_name(p, e->holder_uid == e->uid), .first = first,
        .second = second,
        .rule = rules_meets_across_stacks(&e->held, &e->want) && e->err == EACCES
                    ? "across stacks" : NULL,
    };
    log_format_refusal(&r, line, sizeof line);
    snprintf(out, sizeof out, "%s; refused pid %u (%s, uid %u)", line, e->pid, comm, e->uid);
    c->fn(out, c->arg);
    return 0;
}

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
    (void)sig;
    stop = 1;
}

int kernel_events(bool follow, kernel_event_fn fn, void *arg, char *why, size_t len)
{
    int fd = pinned("events");
    if (fd < 0) {
        snprintf(why, len, "%s/events: %s", kernel_pin_dir(), strerror(errno));
        return -1;
    }
    struct events_ctx c = { fn, arg };
    libbpf_set_print(kbpf_quiet_print);
    struct ring_buffer *rb = ring_buffer__new(fd, on_event, &c, NULL);
    if (!rb) {
        snprintf(why, len, "cannot read the refusals: %s", strerror(errno));
        close(fd);
        return -1;
    }
    int r = ring_buffer__consume(rb);
    if (follow) {
        struct sigaction sa = { .sa_handler = on_signal };
        sigaction(SIGINT, &sa, NULL);
        sigaction(SIGTERM, &sa, NULL);
        while (!stop && (r = ring_buffer__poll(rb, 500)) >= 0)
            ;
        if (r == -EINTR)
            r = 0;
    }
    ring_buffer__free(rb);
    close(fd);
    if (r < 0) {
        snprintf(why, len, "reading the refusals failed: %s", strerror(-r));
        return -1;
    }
    return 0;
}
