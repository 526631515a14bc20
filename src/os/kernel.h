/* kernel - what the kernel says exists, over NETLINK_SOCK_DIAG (inet_diag).
 *
 * No privileges needed; replies cover the asking socket's network namespace only. Each
 * call opens and closes its own netlink socket (raw syscalls, never bindguard's own
 * wrappers), so it is safe from any thread and after fork. Only denial paths, `list`
 * and `gc` pay for it. */
#ifndef BG_KERNEL_H
#define BG_KERNEL_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "address.h"

enum kernel_answer { KERNEL_GONE, KERNEL_ALIVE, KERNEL_UNKNOWN };

struct kernel_sock {
    uint64_t cookie;
    uint32_t inode;
    uint32_t uid;
    uint8_t  state;        /* TCP_* (UDP: TCP_CLOSE / TCP_ESTABLISHED as the kernel says) */
    uint8_t  proto;
    struct bg_addr local;  /* family = the socket's family */
};

/* All sockets of proto (IPPROTO_TCP/UDP) whose local port is `port`, both families,
 * every state including TCP bound-but-not-listening where the kernel can report it
 * (>= 6.8). Up to max into out; returns the number found (may exceed max) or -errno. */
int kernel_port_sockets(uint8_t proto, uint16_t port, struct kernel_sock *out, size_t max);

/* Does the socket with this inode still exist bound to a->port, owned by uid?
 * `bound_only_possible`: a TCP socket that may not be listening (slow path, ~1 ms).
 * KERNEL_UNKNOWN when the kernel cannot be asked (then bindguard must not deny). */
enum kernel_answer kernel_confirm(uint8_t proto, const struct bg_addr *a, uint32_t inode,
                                  uint32_t uid, bool bound_only_possible);

/* Another user's table's word, checked strictly (doc/design.md "Trust domains"): is
 * there a socket with this inode, owned by uid, of a's family, bound to exactly a's
 * address, scope and port, with a's V6ONLY, listening exactly when `listening` says?
 * TCP that does not listen needs the bound-inactive dump (~1 ms, kernel >= 6.8; before
 * that KERNEL_UNKNOWN). */
enum kernel_answer kernel_confirm_exact(uint8_t proto, const struct bg_addr *a, uint32_t inode,
                                        uint32_t uid, bool listening);

/* The same for several claims on one port and protocol at once: one dump per (family,
 * listening) group, whatever the number of claims, so that a table full of false claims
 * costs one dump, not one per claim. Fills each claim's answer. */
struct kernel_claim {
    struct bg_addr addr;
    uint32_t inode, uid;
    bool listening;
    enum kernel_answer answer;
};
void kernel_confirm_claims(uint8_t proto, struct kernel_claim *c, size_t n);

/* The linger rule: are there TCP connections (not LISTEN, not TIME_WAIT) with local
 * address a (wildcard: any local address) and port a->port, owned by uid? */
enum kernel_answer kernel_has_connections(const struct bg_addr *a, uint32_t uid);

/* Whether this kernel reports TCP sockets that are bound but not listening (>= 6.8).
 * Probed once per process by binding a throwaway socket (~1 ms), then remembered. */
bool kernel_bound_inactive_supported(void);

/* Whether the kernel backend (bindguard kernel, cgroup BPF) judges this process's binds:
 * a fresh socket's SO_EXCLUSIVEADDRUSE reads 0 there instead of failing. Asked of the
 * first socket only (one getsockopt per process), then remembered: the library then
 * steps aside, so each bind is judged once. */
bool kernel_backend_enforces(int fresh_fd);

/* Descriptor-level facts about our own socket: SO_NETNS_COOKIE (0 if unsupported). */
uint64_t kernel_netns_cookie(int fd);

#endif
