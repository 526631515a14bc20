/* bpf/kmap - what the kernel backend's BPF object and the CLI both read: the layout of
 * the pinned maps, the ring buffer's refusal record and the loader's settings.
 *
 * libc-free like the rule book (rules/), which it builds on: the BPF object includes it
 * after vmlinux.h, the CLI after libc. Every field has a fixed width and the layout is the
 * ABI between the two (KMAP_VERSION is in the settings, so a CLI never misreads a map
 * pinned by another build). */
#ifndef BG_BPF_KMAP_H
#define BG_BPF_KMAP_H

#include "rules/rules.h"

#define KMAP_VERSION       1
#define KMAP_PER_PORT      16        /* bindings judged per (netns, protocol, port) */
#define KMAP_PORTS         131072    /* keys in the bindings map (allocated on demand) */
#define KMAP_EVENTS_BYTES  (256 * 1024)
#define KMAP_PENDING_NS    (20ull * 1000 * 1000) /* a claim bind4/6 made and post_bind
                                                   * has not confirmed: the kernel's own
                                                   * bind takes microseconds, so after
                                                   * this it was refused and counts no more */
#define KMAP_COMM_LEN      16
#define KMAP_SO_EXCLUSIVEADDRUSE (-3)  /* ~SO_REUSEADDR, include/bindguard.h */

/* One (network namespace, protocol, port). */
struct kmap_key {
    bg_u64 netns;    /* SO_NETNS_COOKIE of the socket's namespace */
    bg_u16 port;     /* host order */
    bg_u8  proto;    /* BG_PROTO_TCP / BG_PROTO_UDP */
    bg_u8  pad[5];
};

/* One socket's binding on that port. cookie 0: a free slot. */
struct kmap_slot {
    struct bg_binding b;     /* what the rule book judges (uid: the binder's uid) */
    bg_u64 cookie;           /* SO_COOKIE of the socket */
    bg_u64 pending_until;    /* CLOCK_MONOTONIC ns; 0 once post_bind confirmed it */
    bg_u64 since;            /* CLOCK_BOOTTIME ns of the bind */
    bg_u32 pid;              /* the binder's process (tgid) */
    bg_u8  explicit_excl;    /* it set SO_EXCLUSIVEADDRUSE itself */
    bg_u8  pad[3];
    char   comm[KMAP_COMM_LEN];
};

struct kmap_port {
    struct bpf_spin_lock lock;
    bg_u32 gen;              /* bumped under the lock by every change to slot[] */
    struct kmap_slot slot[KMAP_PER_PORT];
};

/* Socket storage: what the program set and where its claim is. */
enum {
    KSOCK_EXCLUSIVE = 1,     /* SO_EXCLUSIVEADDRUSE on */
    KSOCK_REUSEADDR = 2,     /* SO_REUSEADDR on (seen by the setsockopt program) */
    KSOCK_REUSEPORT = 4,     /* SO_REUSEPORT on (idem) */
    KSOCK_CLAIMED = 8,       /* key/slot below hold this socket's claim */
    KSOCK_BOUND = 16,        /* post_bind confirmed it */
};
struct ksock {
    struct kmap_key key;     /* the claim's port, when KSOCK_CLAIMED */
    bg_u64 cookie;           /* SO_COOKIE, to find the claim again at release */
    bg_u32 flags;
    bg_u32 slot;             /* the claim's slot in key's kmap_port */
    bg_u8  cls;              /* the class bind4/6 judged it with (port 0: post_bind's) */
    bg_u8  v6only;
    bg_u8  pad[6];
};

/* The loader's settings, constant for one loaded object (its .rodata). */
struct kmap_settings {
    bg_u32 version;          /* KMAP_VERSION */
    bg_u8  rules;            /* enum bg_rules of the profile */
    bg_u8  has_exclusive;    /* the profile has SO_EXCLUSIVEADDRUSE */
    bg_u8  exclusive_needs_admin;
    bg_u8  default_exclusive;
    bg_u8  reuseaddr_shares_tcp;
    bg_u8  force_exclusive;
    bg_u8  pad[2];
    char   profile[16];      /* its name, for `bindguard kernel status` */
};

/* Counters (an array map, one u64 each). */
enum {
    KSTAT_REFUSED,  /* binds refused */
    KSTAT_BOUND,    /* bindings recorded */
    KSTAT_FULL,     /* binds let through unjudged: port (KMAP_PER_PORT) or map full */
    KSTAT_BUSY,     /* binds let through unjudged: the port kept changing (JUDGE_TRIES) */
    KSTAT_COUNT
};

/* One refusal, through the ring buffer. */
struct kmap_event {
    bg_u64 time;             /* CLOCK_BOOTTIME ns */
    bg_u64 netns;
    struct bg_addr want;
    struct bg_addr held;
    bg_u32 pid, uid;         /* the refused binder */
    bg_u32 holder_pid, holder_uid;
    bg_u64 holder_since;     /* CLOCK_BOOTTIME ns */
    bg_u32 err;              /* EADDRINUSE or EACCES */
    bg_u8  proto, verdict, want_cls, held_cls;
    char   comm[KMAP_COMM_LEN];
    char   holder_comm[KMAP_COMM_LEN];
    char   profile[16];      /* the judging attachment's profile */
};

#endif
