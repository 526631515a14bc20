/* probe - what the kernel itself does with a bind, asked with throwaway sockets.
 *
 * A probe socket (bindprobe.h) carries the kernel options a program of its class sets
 * (probe_options) and is closed at once. */
#include "cli.h"

#include <errno.h>
#include <grp.h>
#include <netinet/in.h>
#include <pwd.h>
#include <string.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

#include "sys.h"

unsigned probe_options(const struct bg_config *cfg, enum bg_class cls, uint8_t proto,
                       bool emulate)
{
    unsigned o = 0;
    bool tcp = proto == IPPROTO_TCP;
    if (cls == BG_CLASS_REUSEADDR)
        o |= PROBE_REUSEADDR | PROBE_REUSEPORT;
    /* TCP servers set SO_REUSEADDR to restart over TIME_WAIT; only with
     * BINDGUARD_REUSEADDR=windows does it make the socket a sharer. */
    else if (tcp && cfg->reuseaddr != BG_REUSEADDR_WINDOWS)
        o |= PROBE_REUSEADDR;
    /* Emulate gives every managed socket SO_REUSEPORT before an explicit-port bind. */
    if (emulate)
        o |= PROBE_REUSEPORT;
    return o;
}

int probe_socket(const struct bg_addr *a, uint8_t proto, unsigned opts, bool listening,
                 int *fd_out)
{
    return bindprobe(a, proto, opts | (listening ? BINDPROBE_LISTEN : 0), fd_out);
}

/* As nobody, in a child: its errno, or -1 if it could not become nobody. */
static int probe_as_nobody(const struct bg_addr *a, uint8_t proto, unsigned opts)
{
    struct passwd *pw = getpwnam("nobody");
    uid_t uid = pw ? pw->pw_uid : 65534;
    gid_t gid = pw ? pw->pw_gid : 65534;
    pid_t pid = fork();
    if (pid == 0) {
        if (setgroups(0, NULL) != 0 || setgid(gid) != 0 || setuid(uid) != 0)
            _exit(255);
        _exit(probe_socket(a, proto, opts, false, NULL) & 0xff);
    }
    int st;
    if (pid < 0 || waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st) == 255)
        return -1;
    return WEXITSTATUS(st);
}

/* first bound (and listening, TCP), then second, by nobody if other_user (root only).
 * The second's errno (0: the kernel lets both bind), or -1: not probed (*first_err: the
 * first's errno, or 0 if nobody could not be become). */
static int probe_pair(const struct bg_addr *first, unsigned first_opts,
                      const struct bg_addr *second, unsigned second_opts, uint8_t proto,
                      bool other_user, int *first_err)
{
    int fd = -1;
    *first_err = probe_socket(first, proto, first_opts, true, &fd);
    if (*first_err)
        return -1;
    int err = other_user ? probe_as_nobody(second, proto, second_opts)
                         : probe_socket(second, proto, second_opts, false, NULL);
    sys_close(fd);
    return err;
}

uint16_t probe_free_port(uint8_t proto)
{
    /* Free on both stacks, every address: a dual-stack wildcard gets it. */
    struct bg_addr any = { .family = AF_INET6 };
    int fd = -1;
    if (bindprobe(&any, proto, 0, &fd) != 0)
        return 0;
    uint16_t port = bindprobe_port(fd);
    sys_close(fd);
    return port;
}

/* A specific IPv4 address (plain or v4-mapped) as 127.0.0.x: the same address the same
 * x (xs[] remembers them), a different one the next x. A specific IPv6 address as ::1. */
static void to_loopback(struct bg_addr *a, uint32_t xs[2], int *n_xs)
{
    if (rules_addr_kind(a) == BG_WILDCARD)
        return;
    if (!rules_addr_is_v4mapped(a)) {
        static const uint8_t v6_loopback[16] = { [15] = 1 };
        memcpy(a->ip, v6_loopback, sizeof v6_loopback);
        a->scope_id = 0;
        return;
    }
    uint32_t v;
    memcpy(&v, a->ip + 12, 4);
    int x = 0;
    while (x < *n_xs && xs[x] != v)
        x++;
    if (x == *n_xs)
        xs[(*n_xs)++] = v;
    a->ip[12] = 127, a->ip[13] = 0, a->ip[14] = 0, a->ip[15] = (uint8_t)(x + 1);
}

/* Why the kernel need not be asked, or NULL. */
static const char *no_probe(const struct probe_side *a, const struct probe_side *b,
                            bool same_user)
{
    bool both_specific = rules_addr_kind(&a->addr) != BG_WILDCARD &&
                         rules_addr_kind(&b->addr) != BG_WILDCARD;
    return a->proto != b->proto ? "different protocols never meet in the kernel"
           : a->addr.port != b->addr.port ? "different ports never meet in the kernel"
           : both_specific && memcmp(a->addr.ip, b->addr.ip, 16) != 0
               ? "the kernel lets two different specific addresses bind too"
           : !same_user && geteuid() != 0 ? "binding as another user needs root"
                                          : NULL;
}

void probe_pair_on_loopback(const struct bg_config *cfg, const struct probe_side *a,
                            const struct probe_side *b, bool same_user,
                            struct probe_pair_answer *r)
{
    memset(r, 0, sizeof *r);
    const char *skip = no_probe(a, b, same_user);
    struct bg_addr la = a->addr, lb = b->addr;
    uint32_t xs[2];
    int n_xs = 0;
    to_loopback(&la, xs, &n_xs);
    to_loopback(&lb, xs, &n_xs);
    la.port = lb.port = skip ? 0 : probe_free_port(a->proto);
    if (!skip && la.port == 0)
        skip = "no free port found";
    for (int emulate = 0; emulate < 2 && !skip; emulate++) {
        int first_err;
        int err = probe_pair(&la, probe_options(cfg, a->cls, a->proto, emulate), &lb,
                             probe_options(cfg, b->cls, b->proto, emulate), a->proto,
                             !same_user, &first_err);
        if (err < 0) {
            snprintf(r->why_not, sizeof r->why_not, first_err
                     ? "the first bind fails on this machine (%s)" : "could not become nobody",
                     cli_errno_name(first_err));
            return;
        }
        r->kernel_err[emulate] = err;
    }
    if (skip)
        snprintf(r->why_not, sizeof r->why_not, "%s", skip);
    r->probed = !skip;
}
