/* test_fuzz - differential fuzzer: random socket-call sequences natively and under the shim.
 *
 * A case is a seed. From it, the same generator gives every run the same sequence of
 * 20-60 calls (socket, setsockopt, getsockopt, bind, listen, close, dup/dup2/dup3/F_DUPFD,
 * getsockname) over five descriptor slots and two to four ports, with valid and broken
 * arguments alike, then a close of every slot. This binary re-executes itself as
 * `test_fuzz --child fuzz SEED MODE PORT...` three times per case: natively, under the shim
 * with BINDGUARD_MODE=off and under it enforcing (BINDGUARD_DEFAULT and _REUSEADDR drawn
 * from the seed), each with its own ports (same layout), table and log. The child prints
 * one line per call with descriptors as slot names and ports as offsets into its range,
 * so the transcripts compare as text; under the shim it also echoes what bindguard
 * logged during the call ("# log ...").
 *
 * off must equal native line for line, log nothing and create no table.
 *
 * enforce is checked against a model of the enforcing run, built from that run's own
 * results: which socket each slot refers to (dup shares one), the options the kernel
 * accepted, SO_EXCLUSIVEADDRUSE, which sockets are bound and which bindings bindguard
 * must hold. Where bindguard answers by itself (SO_EXCLUSIVEADDRUSE, the EINVAL between it
 * and the sharing options, a refused bind) the model gives the exact answer. A refusal
 * must come with one log line whose cell policy_verdict maps to the same errno, naming
 * the binding socket's class and kind and a live binding that denies it that much; and
 * a bind the model says must be refused must be, even where the kernel refuses it too.
 * Everything else the kernel decides, and must equal native. Once every slot is closed,
 * the table must be empty.
 *
 * Re-sync after a difference: a bind refused under enforce that native let through leaves
 * the two runs' kernels in different states, on that socket and that port only (ports
 * never interact, and ephemeral ports lie outside the range). Such sockets and ports are
 * marked tainted: calls touching them are no longer compared with native (the model still
 * checks bindguard's own answers there), and a differing result on them taints further.
 * So a case is checked to its end, not just to its first refusal.
 *
 * CI runs FUZZ_CASES cases from a fixed base seed, so a failure reproduces;
 * BG_FUZZ_CASES=N runs more, BG_FUZZ_SEED=S starts elsewhere (case k has seed S+k), and
 * BG_FUZZ_SEED=S BG_FUZZ_CASES=1 reruns one case. A failing case runs once more with
 * other ports before it counts, since another process may take a port meanwhile. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "address.h"
#include "bindguard.h"
#include "fdstate.h"
#include "harness.h"
#include "policy.h"
#include "proc.h"
#include "own.h"
#include "table.h"

#define FUZZ_CASES     200
#define FUZZ_BASE_SEED UINT64_C(0x62696e6467756172)  /* "bindguar" */
#define SLOTS          5
#define MAX_PORTS      4
#define MAX_OPS        (60 + SLOTS)
#define CHILD_MS       20000u
#define TABLE_SLOTS    256u
#define CLOSED_FD      1000          /* never opened by the child: a reliably closed number */
#define DUP2_BASE      400           /* dup2/dup3 onto an empty slot land at DUP2_BASE + slot */
#define FDUP_MIN       300           /* F_DUPFD's lower bound */
#define HUGE_FD        (FDSTATE_MAX_FD + 5)
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

/* ===== deterministic randomness ========================================================= */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

static unsigned below(uint64_t *s, unsigned n)
{
    return (unsigned)(splitmix(s) % n);
}

static bool chance(uint64_t *s, unsigned percent)
{
    return below(s, 100) < percent;
}

/* An index into a table of weights. */
static unsigned weighted(uint64_t *s, const unsigned *w, unsigned n)
{
    unsigned total = 0;
    for (unsigned i = 0; i < n; i++)
        total += w[i];
    unsigned r = below(s, total);
    for (unsigned i = 0; i < n; i++) {
        if (r < w[i])
            return i;
        r -= w[i];
    }
    return n - 1;
}
#define WEIGHTED(s, w) weighted((s), (w), (unsigned)(sizeof(w) / sizeof((w)[0])))
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ===== what a case is made of ============================================================ */

enum op_kind { OP_SOCKET, OP_SETOPT, OP_GETOPT, OP_BIND, OP_LISTEN, OP_CLOSE, OP_DUP, OP_NAME };
enum fd_kind { FDK_SLOT, FDK_NEG, FDK_BIG, FDK_HUGE, FDK_PIPE, FDK_UNIX };
enum dup_how { DUP_DUP, DUP_DUP2, DUP_DUP3, DUP_FCNTL, DUP_FCNTL_CLOEXEC };
/* close_range over one descriptor; with CLOSE_RANGE_CLOEXEC it closes nothing. */
enum close_how { CLOSE_CLOSE, CLOSE_RANGE, CLOSE_RANGE_EXEC };
enum addr_kind { AK_V4, AK_V6, AK_UNIX };
enum len_sel { LEN_EXACT, LEN_ZERO, LEN_SHORT, LEN_RFC2133, LEN_PLUS1, LEN_STORAGE1, LEN_HUGE };

static const struct { int domain; const char *name; } domains[] = {
    {AF_INET, "inet"}, {AF_INET6, "inet6"}, {AF_UNIX, "unix"}, {4242, "af4242"},
};
static const unsigned domain_w[] = {45, 45, 5, 2};

static const struct { int type; const char *name; } types[] = {
    {SOCK_STREAM, "stream"},
    {SOCK_DGRAM, "dgram"},
    {SOCK_STREAM | SOCK_NONBLOCK, "stream|nonblock"},
    {SOCK_DGRAM | SOCK_CLOEXEC, "dgram|cloexec"},
    {SOCK_RAW, "raw"},
    {SOCK_SEQPACKET, "seqpacket"},
};
static const unsigned type_w[] = {50, 40, 4, 4, 1, 1};

static const struct { int level, name; const char *text; } opts[] = {
    {SOL_SOCKET, SO_REUSEADDR, "SO_REUSEADDR"},
    {SOL_SOCKET, SO_REUSEPORT, "SO_REUSEPORT"},
    {SOL_SOCKET, SO_EXCLUSIVEADDRUSE, "SO_EXCLUSIVEADDRUSE"},
    {IPPROTO_IPV6, IPV6_V6ONLY, "IPV6_V6ONLY"},
    {SOL_SOCKET, SO_KEEPALIVE, "SO_KEEPALIVE"},
    {SOL_SOCKET, 12345, "SOL_SOCKET/12345"},
    {9999, 1, "level9999/1"},
    {IPPROTO_TCP, TCP_NODELAY, "TCP_NODELAY"},
};
static const unsigned opt_w[] = {25, 20, 25, 20, 3, 3, 2, 2};
enum { OPT_REUSEADDR, OPT_REUSEPORT, OPT_EXCLUSIVE, OPT_V6ONLY };

static const int opt_values[] = {1, 0, 42, -1};
static const unsigned opt_value_w[] = {50, 25, 15, 10};
static const int setopt_lens[] = {4, 0, 1, 3, 8, 200};
static const unsigned setopt_len_w[] = {75, 5, 5, 5, 5, 5};
static const unsigned getopt_lens[] = {4, 0, 1, 8, 200, UINT_MAX};
static const unsigned getopt_len_w[] = {70, 6, 6, 6, 6, 6};

/* family is what goes into the sockaddr's family field. */
static const struct { int family; enum addr_kind kind; const char *ip; } addrs[] = {
    {AF_INET, AK_V4, "0.0.0.0"},      {AF_INET, AK_V4, "127.0.0.1"},
    {AF_INET, AK_V4, "127.0.0.2"},    {AF_INET6, AK_V6, "::"},
    {AF_INET6, AK_V6, "::1"},         {AF_INET6, AK_V6, "::ffff:127.0.0.1"},
    {AF_INET6, AK_V6, "::ffff:0.0.0.0"}, {AF_UNSPEC, AK_V4, "0.0.0.0"},
    {AF_UNSPEC, AK_V4, "127.0.0.1"},  {AF_UNIX, AK_UNIX, "@abstract"},
    {4242, AK_V4, "0.0.0.0"},
};
static const char *const len_names[] = {"exact", "0", "short", "24", "plus1", "storage+1", "200"};
static const unsigned len_w[] = {80, 3, 4, 4, 3, 3, 3};

static const int backlogs[] = {16, 0, 1, -1, INT_MAX};
static const unsigned backlog_w[] = {70, 10, 10, 5, 5};

struct fdref {
    uint8_t kind;  /* enum fd_kind */
    uint8_t slot;
};

struct op {
    uint8_t kind;          /* enum op_kind */
    struct fdref fd;       /* the descriptor operated on (dup: the source) */
    uint8_t dst;           /* socket, dup: the slot the new descriptor goes to */
    uint8_t how;           /* enum dup_how, enum close_how */
    uint8_t domain, type;  /* indices into domains[], types[] */
    int proto;
    uint8_t opt;           /* index into opts[] */
    int value;
    int setlen;
    unsigned getlen;
    bool null_val, null_len;
    uint8_t addr;          /* index into addrs[] */
    int8_t port;           /* offset into the port range, -1 for port 0 */
    uint8_t len;           /* enum len_sel */
    bool null_addr;
    int backlog;
};

/* How the enforcing run is configured; part of the case, drawn from its seed. */
struct case_cfg {
    const char *profile;     /* BINDGUARD_PROFILE */
    bool windows_default;    /* BINDGUARD_DEFAULT=windows */
    bool windows_reuseaddr;  /* BINDGUARD_REUSEADDR=windows */
    int nports;
};

struct fuzz_case {
    uint64_t seed;
    struct case_cfg cfg;
    struct op ops[MAX_OPS];
    int n;
};

/* ===== the generator ===================================================================== */

/* The generator's guess of each slot's state, only to aim calls at live sockets and
 * addresses at their family more often than chance would. */
struct gen {
    uint64_t s;
    int family[SLOTS];  /* 0: probably empty */
    bool bound[SLOTS];
};

/* A live slot, preferably an unbound one if `unbound`; -1 if none is live. */
static int live_slot(struct gen *g, bool unbound)
{
    int live[SLOTS], n = 0;
    for (int pass = unbound ? 0 : 1; pass < 2 && n == 0; pass++)
        for (int i = 0; i < SLOTS; i++)
            if (g->family[i] && (pass == 1 || !g->bound[i]))
                live[n++] = i;
    return n ? live[below(&g->s, (unsigned)n)] : -1;
}

static struct fdref gen_fd(struct gen *g, bool for_close, bool unbound)
{
    struct fdref f = {FDK_SLOT, (uint8_t)below(&g->s, SLOTS)};
    if (chance(&g->s, for_close ? 8 : 12)) {
        static const uint8_t odd[] = {FDK_NEG, FDK_BIG, FDK_HUGE, FDK_PIPE, FDK_UNIX};
        /* Closing the shared pipe or UNIX socket would let a later socket reuse its
         * number differently in each run. */
        f.kind = odd[below(&g->s, for_close ? 3 : COUNT(odd))];
        return f;
    }
    int live = live_slot(g, unbound);
    if (live >= 0 && chance(&g->s, 90))
        f.slot = (uint8_t)live;
    return f;
}

/* A slot to put a new descriptor in: mostly an empty one, so bound sockets stay a while. */
static uint8_t gen_dst(struct gen *g)
{
    int empty[SLOTS], n = 0;
    for (int i = 0; i < SLOTS; i++)
        if (!g->family[i])
            empty[n++] = i;
    if (n > 0 && chance(&g->s, 75))
        return (uint8_t)empty[below(&g->s, (unsigned)n)];
    return (uint8_t)below(&g->s, SLOTS);
}

static void gen_socket(struct gen *g, struct op *op)
{
    op->dst = gen_dst(g);
    op->domain = (uint8_t)WEIGHTED(&g->s, domain_w);
    op->type = (uint8_t)WEIGHTED(&g->s, type_w);
    int base = types[op->type].type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    unsigned r = below(&g->s, 100);
    op->proto = r < 90 ? 0
                : r < 96 ? (base == SOCK_DGRAM ? IPPROTO_UDP : IPPROTO_TCP)
                : r < 99 ? (base == SOCK_DGRAM ? IPPROTO_TCP : IPPROTO_UDP)
                         : 255;
    g->family[op->dst] = domains[op->domain].domain;
    g->bound[op->dst] = false;
}

static void gen_opt(struct gen *g, struct op *op, bool set)
{
    op->fd = gen_fd(g, false, set);
    op->opt = (uint8_t)WEIGHTED(&g->s, opt_w);
    op->value = opt_values[WEIGHTED(&g->s, opt_value_w)];
    op->setlen = setopt_lens[WEIGHTED(&g->s, setopt_len_w)];
    op->getlen = getopt_lens[WEIGHTED(&g->s, getopt_len_w)];
    op->null_val = chance(&g->s, 4);
    op->null_len = !set && chance(&g->s, 3);
}

static void gen_bind(struct gen *g, struct op *op, int nports)
{
    op->fd = gen_fd(g, false, true);
    int fam = op->fd.kind == FDK_SLOT ? g->family[op->fd.slot] : 0;
    if ((fam == AF_INET || fam == AF_INET6) && chance(&g->s, 75)) {
        unsigned pick[COUNT(addrs)], n = 0;
        for (unsigned i = 0; i < COUNT(addrs); i++)
            if (addrs[i].family == fam)
                pick[n++] = i;
        op->addr = (uint8_t)pick[below(&g->s, n)];
    } else {
        op->addr = (uint8_t)below(&g->s, COUNT(addrs));
    }
    /* The first port of the range takes most binds, so that they meet. */
    op->port = chance(&g->s, 15)   ? -1
               : chance(&g->s, 50) ? 0
                                   : (int8_t)below(&g->s, (unsigned)nports);
    op->len = (uint8_t)WEIGHTED(&g->s, len_w);
    op->null_addr = chance(&g->s, 3);
    if (op->fd.kind == FDK_SLOT)
        g->bound[op->fd.slot] = true;
}

static void gen_dup(struct gen *g, struct op *op)
{
    static const unsigned how_w[] = {30, 35, 15, 12, 8};
    op->how = (uint8_t)WEIGHTED(&g->s, how_w);
    op->fd = gen_fd(g, false, false);
    op->dst = gen_dst(g);
    int fam = 0;
    if (op->fd.kind == FDK_SLOT)
        fam = g->family[op->fd.slot];
    else if (op->fd.kind == FDK_PIPE || op->fd.kind == FDK_UNIX)
        fam = -1;
    /* dup and F_DUPFD empty the target slot first, whether or not they succeed. */
    bool vacates = op->how != DUP_DUP2 && op->how != DUP_DUP3;
    if (fam || vacates) {
        g->family[op->dst] = fam;
        g->bound[op->dst] = op->fd.kind == FDK_SLOT && g->bound[op->fd.slot];
    }
}

static void gen_case(uint64_t seed, struct fuzz_case *c)
{
    memset(c, 0, sizeof *c);
    c->seed = seed;
    struct gen g = {.s = seed};
    /* Every rule set: ws2003 and an alias of it, xp (exclusive for root only), win98
     * (no SO_EXCLUSIVEADDRUSE at all), wsk (CHECK cells, nobody on the share list). */
    static const char *const profiles[] = {"ws2003", "win7", "xp", "win98", "wsk"};
    static const unsigned profile_w[] = {50, 10, 15, 10, 15};
    c->cfg.profile = profiles[WEIGHTED(&g.s, profile_w)];
    c->cfg.windows_default = chance(&g.s, 35);
    c->cfg.windows_reuseaddr = chance(&g.s, 25);
    c->cfg.nports = 2 + (int)below(&g.s, MAX_PORTS - 1);
    int n = 20 + (int)below(&g.s, 41);
    static const unsigned kind_w[] = {10, 20, 6, 30, 8, 9, 9, 8};
    for (int i = 0; i < n; i++) {
        struct op *op = &c->ops[i];
        int unbound = 0;
        for (int j = 0; j < SLOTS; j++)
            unbound += g.family[j] != 0 && !g.bound[j];
        /* Conflicts need sockets still to bind: keep a couple around. */
        op->kind = unbound < 2 && chance(&g.s, 50) ? OP_SOCKET : (uint8_t)WEIGHTED(&g.s, kind_w);
        switch (op->kind) {
        case OP_SOCKET:
            gen_socket(&g, op);
            break;
        case OP_SETOPT:
        case OP_GETOPT:
            gen_opt(&g, op, op->kind == OP_SETOPT);
            break;
        case OP_BIND:
            gen_bind(&g, op, c->cfg.nports);
            break;
        case OP_LISTEN:
            op->fd = gen_fd(&g, false, false);
            if (op->fd.kind == FDK_SLOT)
                g.bound[op->fd.slot] = true;
            op->backlog = backlogs[WEIGHTED(&g.s, backlog_w)];
            break;
        case OP_CLOSE: {
            static const unsigned close_w[] = {80, 12, 8};
            op->fd = gen_fd(&g, true, false);
            op->how = (uint8_t)WEIGHTED(&g.s, close_w);
            if (op->fd.kind == FDK_SLOT && op->how != CLOSE_RANGE_EXEC)
                g.family[op->fd.slot] = 0;
            break;
        }
        case OP_DUP:
            gen_dup(&g, op);
            break;
        default:
            op->fd = gen_fd(&g, false, false);
            break;
        }
    }
    /* Every case ends with all slots closed, so bindguard must leave its table empty. */
    for (int i = 0; i < SLOTS; i++)
        c->ops[n++] = (struct op){.kind = OP_CLOSE, .fd = {FDK_SLOT, (uint8_t)i}};
    c->n = n;
}

/* ===== what both sides print alike ======================================================== */

union sa_room {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
    struct sockaddr_storage ss;
    char room[256];
};

/* "+k" for the k-th port of the range, "0", or "eph" (a port the kernel picked). */
static void port_token(unsigned port, const int *ports, int nports, char *buf, size_t len)
{
    for (int k = 0; k < nports; k++)
        if ((int)port == ports[k]) {
            snprintf(buf, len, "+%d", k);
            return;
        }
    snprintf(buf, len, "%s", port == 0 ? "0" : "eph");
}

/* The sockaddr an op passes (zeroes beyond it) and the length it passes. */
static socklen_t op_sockaddr(const struct op *op, const int *ports, union sa_room *u)
{
    memset(u, 0, sizeof *u);
    uint16_t port = htons((uint16_t)(op->port < 0 ? 0 : ports[op->port]));
    socklen_t exact = 0;
    switch (addrs[op->addr].kind) {
    case AK_V4:
        u->in.sin_port = port;
        inet_pton(AF_INET, addrs[op->addr].ip, &u->in.sin_addr);
        exact = sizeof u->in;
        break;
    case AK_V6:
        u->in6.sin6_port = port;
        inet_pton(AF_INET6, addrs[op->addr].ip, &u->in6.sin6_addr);
        exact = sizeof u->in6;
        break;
    case AK_UNIX: {
        /* Abstract and per process, so concurrent runs never meet; the tail keeps them
         * apart when a short length cuts the last byte off. */
        int n = snprintf(u->un.sun_path + 1, sizeof u->un.sun_path - 1, "bg-fuzz-%d-pad",
                         (int)getpid());
        exact = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + (size_t)n);
        break;
    }
    }
    u->sa.sa_family = (sa_family_t)addrs[op->addr].family;
    switch ((enum len_sel)op->len) {
    case LEN_EXACT:    return exact;
    case LEN_ZERO:     return 0;
    case LEN_SHORT:    return exact - 1;
    case LEN_RFC2133:  return 24;
    case LEN_PLUS1:    return exact + 1;
    case LEN_STORAGE1: return sizeof(struct sockaddr_storage) + 1;
    case LEN_HUGE:     return 200;
    }
    return exact;
}

/* Every call starts with this in errno: libc leaves errno alone on success, and so must
 * bindguard's bookkeeping. */
#define ERRNO_BEFORE EDOM

/* "ok" or errno's name; "ok errno=E" if a successful call changed errno. */
static void outcome(long r, int err, char *buf, size_t len)
{
    const char *name = strerrorname_np(err);
    if (r >= 0 && err == ERRNO_BEFORE)
        snprintf(buf, len, "ok");
    else if (r >= 0)
        snprintf(buf, len, "ok errno=%s", name ? name : "?");
    else
        snprintf(buf, len, "%s", name ? name : "E?");
}

/* A getsockopt result with what came back: the length and the bytes it covers. */
static void getopt_text(int r, int err, const unsigned char *val, const socklen_t *len,
                        char *buf, size_t size)
{
    outcome(r, err, buf, size);
    if (r < 0)
        return;
    size_t n = strlen(buf);
    if (len)
        n += (size_t)snprintf(buf + n, size - n, " len=%u", (unsigned)*len);
    if (val && len) {
        n += (size_t)snprintf(buf + n, size - n, " val=");
        for (unsigned i = 0; i < *len && i < 8 && n < size; i++)
            n += (size_t)snprintf(buf + n, size - n, "%02x", val[i]);
    }
}

#define GETOPT_FILL 0xa5  /* what a getsockopt buffer holds before the call */
#define RES_LEN     128   /* a call's result as printed */

/* ===== the child: one run of one case ====================================================== */

struct run {
    const int *ports;
    int nports;
    bool enforce;
    struct table *table;  /* bindguard's, once it has made it */
    int slot[SLOTS], stale[SLOTS];
    int pipe_r, unix_fd, log_fd;
    char logbuf[8192];
    size_t loglen;
};

/* The descriptor an operand names, and how it reads in the transcript. An empty slot
 * stands for the number it last had if that is still closed, else for CLOSED_FD: either
 * way a closed descriptor, whatever bindguard opened meanwhile. */
static int fd_of(struct run *r, struct fdref f, char *text, size_t len)
{
    switch ((enum fd_kind)f.kind) {
    case FDK_SLOT:
        if (r->slot[f.slot] >= 0) {
            snprintf(text, len, "s%u", f.slot);
            return r->slot[f.slot];
        }
        snprintf(text, len, "s%u(closed)", f.slot);
        if (r->stale[f.slot] >= 0 && fcntl(r->stale[f.slot], F_GETFD) < 0 && errno == EBADF)
            return r->stale[f.slot];
        return CLOSED_FD;
    case FDK_NEG:  snprintf(text, len, "-1");    return -1;
    case FDK_BIG:  snprintf(text, len, "9999");  return 9999;
    case FDK_HUGE: snprintf(text, len, "huge");  return HUGE_FD;
    case FDK_PIPE: snprintf(text, len, "pipe");  return r->pipe_r;
    case FDK_UNIX: snprintf(text, len, "unix");  return r->unix_fd;
    }
    return -1;
}

static void slot_closed(struct run *r, int slot)
{
    r->stale[slot] = r->slot[slot];
    r->slot[slot] = -1;
}

/* The slot whose live descriptor fd is, or -1. */
static int slot_holding(const struct run *r, int fd)
{
    for (int i = 0; i < SLOTS; i++)
        if (fd >= 0 && r->slot[i] == fd)
            return i;
    return -1;
}

/* Before a descriptor lands in a slot that still holds one: close that one, and say so. */
static void vacate(struct run *r, int slot, char *text, size_t len)
{
    if (r->slot[slot] < 0)
        return;
    errno = ERRNO_BEFORE;
    int rc = close(r->slot[slot]), err = errno;
    char res[32];
    outcome(rc, err, res, sizeof res);
    size_t n = strlen(text);
    snprintf(text + n, len - n, " (closed s%d: %s)", slot, res);
    slot_closed(r, slot);
}

static void run_socket(struct run *r, const struct op *op, char *text, size_t len, char *res)
{
    snprintf(text, len, "socket s%u %s %s %d", op->dst, domains[op->domain].name,
             types[op->type].name, op->proto);
    vacate(r, op->dst, text, len);
    errno = ERRNO_BEFORE;
    int fd = socket(domains[op->domain].domain, types[op->type].type, op->proto), err = errno;
    outcome(fd, err, res, RES_LEN);
    if (fd >= 0)
        r->slot[op->dst] = fd;
}

static void run_setopt(struct run *r, const struct op *op, char *text, size_t len, char *res)
{
    char fdt[32];
    int fd = fd_of(r, op->fd, fdt, sizeof fdt);
    union sa_room val;
    memset(&val, 0, sizeof val);
    memcpy(val.room, &op->value, sizeof op->value);
    snprintf(text, len, "setsockopt %s %s %d len=%d%s", fdt, opts[op->opt].text, op->value,
             op->setlen, op->null_val ? " NULL" : "");
    errno = ERRNO_BEFORE;
    int rc = setsockopt(fd, opts[op->opt].level, opts[op->opt].name,
                        op->null_val ? NULL : val.room, (socklen_t)op->setlen);
    outcome(rc, errno, res, RES_LEN);
}

static void run_getopt(struct run *r, const struct op *op, char *text, size_t len, char *res)
{
    char fdt[32];
    int fd = fd_of(r, op->fd, fdt, sizeof fdt);
    unsigned char val[256];
    memset(val, GETOPT_FILL, sizeof val);
    socklen_t vl = op->getlen;
    snprintf(text, len, "getsockopt %s %s len=%d%s%s", fdt, opts[op->opt].text, (int)op->getlen,
             op->null_val ? " NULL" : "", op->null_len ? " NULL-len" : "");
    errno = ERRNO_BEFORE;
    int rc = getsockopt(fd, opts[op->opt].level, opts[op->opt].name, op->null_val ? NULL : val,
                        op->null_len ? NULL : &vl);
    int err = errno;
    getopt_text(rc, err, op->null_val ? NULL : val, op->null_len ? NULL : &vl, res, RES_LEN);
}

static void run_bind(struct run *r, const struct op *op, char *text, size_t len, char *res)
{
    char fdt[32], port[16];
    int fd = fd_of(r, op->fd, fdt, sizeof fdt);
    union sa_room u;
    socklen_t sl = op_sockaddr(op, r->ports, &u);
    port_token(op->port < 0 ? 0 : (unsigned)r->ports[op->port], r->ports, r->nports, port,
               sizeof port);
    snprintf(text, len, "bind %s %s%s:%s family=%d len=%s", fdt, op->null_addr ? "NULL " : "",
             addrs[op->addr].ip, port, addrs[op->addr].family, len_names[op->len]);
    errno = ERRNO_BEFORE;
    int rc = bind(fd, op->null_addr ? NULL : &u.sa, sl);
    outcome(rc, errno, res, RES_LEN);
}

static void run_listen(struct run *r, const struct op *op, char *text, size_t len, char *res)
{
    char fdt[32];
    int fd = fd_of(r, op->fd, fdt, sizeof fdt);
    snprintf(text, len, "listen %s %d", fdt, op->backlog);
    errno = ERRNO_BEFORE;
    int rc = listen(fd, op->backlog);
    outcome(rc, errno, res, RES_LEN);
}

static void run_close(struct run *r, const struct op *op, char *text, size_t len, char *res)
{
    static const char *const names[] = {"close", "close_range", "close_range(CLOEXEC)"};
    char fdt[32];
    int fd = fd_of(r, op->fd, fdt, sizeof fdt), rc;
    snprintf(text, len, "%s %s", names[op->how], fdt);
    int slot = slot_holding(r, fd);
    errno = ERRNO_BEFORE;
    if (op->how == CLOSE_CLOSE)
        rc = close(fd);
    else
        rc = close_range((unsigned)fd, (unsigned)fd,
                         op->how == CLOSE_RANGE_EXEC ? (int)CLOSE_RANGE_CLOEXEC : 0);
    outcome(rc, errno, res, RES_LEN);
    if (slot >= 0 && op->how != CLOSE_RANGE_EXEC)
        slot_closed(r, slot);
}

static void run_dup(struct run *r, const struct op *op, char *text, size_t len, char *res)
{
    static const char *const names[] = {"dup", "dup2", "dup3", "F_DUPFD", "F_DUPFD_CLOEXEC"};
    char fdt[32];
    int fd = fd_of(r, op->fd, fdt, sizeof fdt), got = -1;
    snprintf(text, len, "%s %s -> s%u", names[op->how], fdt, op->dst);
    bool vacates = op->how != DUP_DUP2 && op->how != DUP_DUP3;
    if (vacates)
        vacate(r, op->dst, text, len);
    int target = r->slot[op->dst] >= 0 ? r->slot[op->dst] : DUP2_BASE + op->dst;
    errno = ERRNO_BEFORE;
    switch ((enum dup_how)op->how) {
    case DUP_DUP:           got = dup(fd);                                      break;
    case DUP_DUP2:          got = dup2(fd, target);                             break;
    case DUP_DUP3:          got = dup3(fd, target, O_CLOEXEC);                  break;
    case DUP_FCNTL:         got = fcntl(fd, F_DUPFD, FDUP_MIN);                 break;
    case DUP_FCNTL_CLOEXEC: got = fcntl(fd, F_DUPFD_CLOEXEC, FDUP_MIN);         break;
    }
    outcome(got, errno, res, RES_LEN);
    if (got >= 0)
        r->slot[op->dst] = got;
}

static void run_name(struct run *r, const struct op *op, char *text, size_t len, char *res)
{
    char fdt[32];
    int fd = fd_of(r, op->fd, fdt, sizeof fdt);
    snprintf(text, len, "getsockname %s", fdt);
    union sa_room u;
    memset(&u, 0, sizeof u);
    socklen_t sl = sizeof u.ss;
    errno = ERRNO_BEFORE;
    int rc = getsockname(fd, &u.sa, &sl);
    outcome(rc, errno, res, RES_LEN);
    if (rc != 0)
        return;
    char ip[INET6_ADDRSTRLEN] = "", port[16] = "";
    if (u.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &u.in.sin_addr, ip, sizeof ip);
        port_token(ntohs(u.in.sin_port), r->ports, r->nports, port, sizeof port);
    } else if (u.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &u.in6.sin6_addr, ip, sizeof ip);
        port_token(ntohs(u.in6.sin6_port), r->ports, r->nports, port, sizeof port);
    }
    snprintf(res + 2, RES_LEN - 2, " family=%d len=%u %s:%s", u.sa.sa_family, (unsigned)sl, ip,
             port);
}

static bool table_exists(const char *name)
{
    char path[256];
    snprintf(path, sizeof path, "/dev/shm%s.%u", name, (unsigned)geteuid());
    return access(path, F_OK) == 0;
}

/* Under enforce, after every call, how many bindings bindguard holds: "# entries N".
 * Opened only once bindguard has made the table, since opening creates it. */
static void echo_entries(struct run *r)
{
    const char *name = getenv("BINDGUARD_TABLE");
    char why[256];
    if (!r->enforce || !name)
        return;
    if (!r->table && table_exists(name))
        r->table = own_open(name, TABLE_SLOTS, why, sizeof why, NULL, 0);
    if (!r->table) {
        proc_child_say("# entries %s", table_exists(name) ? "?" : "0");
        return;
    }
    if (table_lock(r->table, 1000) != 0) {
        proc_child_say("# entries ?");
        return;
    }
    size_t n = table_count(r->table);
    table_unlock(r->table);
    proc_child_say("# entries %zu", n);
}

/* Whatever bindguard logged during the last call, one "# log" line each. */
static void echo_log(struct run *r)
{
    if (r->log_fd < 0)
        return;
    ssize_t n;
    while ((n = read(r->log_fd, r->logbuf + r->loglen, sizeof r->logbuf - 1 - r->loglen)) > 0)
        r->loglen += (size_t)n;
    char *start = r->logbuf, *nl;
    while ((nl = memchr(start, '\n', r->loglen - (size_t)(start - r->logbuf)))) {
        proc_child_say("# log %.*s", (int)(nl - start), start);
        start = nl + 1;
    }
    r->loglen -= (size_t)(start - r->logbuf);
    memmove(r->logbuf, start, r->loglen);
}

typedef void (*op_runner)(struct run *, const struct op *, char *, size_t, char *);

static int child_fuzz(int argc, char **argv)
{
    static const op_runner runners[] = {
        [OP_SOCKET] = run_socket, [OP_SETOPT] = run_setopt, [OP_GETOPT] = run_getopt,
        [OP_BIND] = run_bind,     [OP_LISTEN] = run_listen, [OP_CLOSE] = run_close,
        [OP_DUP] = run_dup,       [OP_NAME] = run_name,
    };
    if (argc < 3)
        return 2;
    struct fuzz_case c;
    gen_case(strtoull(argv[0], NULL, 0), &c);
    int ports[MAX_PORTS];
    if (argc - 2 != c.cfg.nports)
        return 2;
    for (int k = 0; k < c.cfg.nports; k++)
        ports[k] = atoi(argv[2 + k]);
    struct run r = {.ports = ports, .nports = c.cfg.nports, .log_fd = -1,
                    .enforce = strcmp(argv[1], "enforce") == 0};
    for (int i = 0; i < SLOTS; i++)
        r.slot[i] = r.stale[i] = -1;
    int p[2];
    if (pipe(p) != 0 || (r.unix_fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
        return 3;
    r.pipe_r = p[0];
    const char *log = getenv("BINDGUARD_LOG");
    if (strcmp(argv[1], "native") != 0 && log)
        r.log_fd = open(log, O_RDONLY | O_CLOEXEC);
    setvbuf(stdout, NULL, _IOLBF, 0);
    echo_log(&r);
    for (int i = 0; i < c.n; i++) {
        char text[256], res[RES_LEN];
        runners[c.ops[i].kind](&r, &c.ops[i], text, sizeof text, res);
        proc_child_say("%d %s => %s", i, text, res);
        echo_log(&r);
        echo_entries(&r);
    }
    return 0;
}

/* ===== the test side: three runs of a case ================================================ */

enum mode { MODE_NATIVE, MODE_OFF, MODE_ENFORCE, N_MODES };
static const char *const mode_names[] = {"native", "off", "enforce"};

struct transcript {
    char *text;               /* the whole stdout, NUL-terminated */
    char *parsed;             /* a copy of it, cut into the pieces below */
    char *stderr_text;
    int status;
    const char *res[MAX_OPS]; /* per op: what came after " => " (NULL: line missing) */
    char *log[MAX_OPS];       /* per op: its "# log" lines, joined by '\n' (NULL: none) */
    char *log_first;          /* one logged before any op ran */
    int entries[MAX_OPS];     /* per op: bindings in the table after it (-1: not said) */
    int nlog;
};

static char *slurp(int fd)
{
    off_t size = lseek(fd, 0, SEEK_END);
    char *buf = malloc((size_t)(size > 0 ? size : 0) + 1);
    ck_assert(buf);
    ssize_t got = size > 0 ? pread(fd, buf, (size_t)size, 0) : 0;
    buf[got > 0 ? got : 0] = '\0';
    close(fd);
    return buf;
}

/* One run under way. Its output goes to memory files rather than proc's pipes: a
 * transcript outgrows their buffers, and the child never waits for us to read. */
struct running {
    struct proc *p;
    int out, err;
    char table[128], log[256];
};

static void output_to_memory(void *arg)
{
    const struct running *rn = arg;
    if (dup2(rn->out, STDOUT_FILENO) < 0 || dup2(rn->err, STDERR_FILENO) < 0)
        _exit(126);
}

static void start_run(const struct fuzz_case *c, enum mode m, const int *ports, struct running *rn)
{
    char seed[32], portv[MAX_PORTS][16], env[4][64];
    snprintf(seed, sizeof seed, "0x%016" PRIx64, c->seed);
    const char *argv[6 + MAX_PORTS] = {"self", "--child", "fuzz", seed, mode_names[m]};
    for (int k = 0; k < c->cfg.nports; k++) {
        snprintf(portv[k], sizeof portv[k], "%d", ports[k]);
        argv[5 + k] = portv[k];
    }
    argv[5 + c->cfg.nports] = NULL;

    proc_table_name(rn->table, sizeof rn->table);
    proc_log_path(rn->log, sizeof rn->log);
    /* Created before the child starts, so the child can follow it from the beginning. */
    int lfd = open(rn->log, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
    ck_assert_msg(lfd >= 0, "%s: %s", rn->log, strerror(errno));
    close(lfd);

    snprintf(env[0], sizeof env[0], "BINDGUARD_MODE=%s", m == MODE_OFF ? "off" : "enforce");
    snprintf(env[1], sizeof env[1], "BINDGUARD_DEFAULT=%s",
             c->cfg.windows_default ? "windows" : "exclusive");
    snprintf(env[2], sizeof env[2], "BINDGUARD_REUSEADDR=%s",
             c->cfg.windows_reuseaddr ? "windows" : "linux");
    snprintf(env[3], sizeof env[3], "BINDGUARD_PROFILE=%s", c->cfg.profile);
    const struct proc_how how = {
        .shim = m != MODE_NATIVE, .table = rn->table, .log = rn->log, .slots = TABLE_SLOTS,
        .env = {env[0], env[1], env[2], env[3]}, .pre_exec = output_to_memory, .arg = rn,
    };
    rn->out = memfd_create("fuzz-out", MFD_CLOEXEC);
    rn->err = memfd_create("fuzz-err", MFD_CLOEXEC);
    ck_assert(rn->out >= 0 && rn->err >= 0);
    rn->p = proc_spawn(&how, argv);
}

/* Split a transcript into per-op results and log lines. */
static void parse_transcript(struct transcript *t, int n_ops)
{
    int last = -1;
    t->parsed = strdup(t->text);
    ck_assert(t->parsed);
    for (char *line = t->parsed; line && *line;) {
        char *nl = strchr(line, '\n');
        if (nl)
            *nl = '\0';
        int idx;
        char *arrow = strstr(line, " => ");
        if (strncmp(line, "# log ", 6) == 0 && last < 0) {
            t->log_first = t->log_first ? t->log_first : line + 6;
            t->nlog++;
        } else if (strncmp(line, "# log ", 6) == 0) {
            /* Joined in place: the separator goes where the earlier line ended. */
            if (t->log[last])
                line[-1] = '\n';
            else
                t->log[last] = line + 6;
            t->nlog++;
        } else if (last >= 0 && sscanf(line, "# entries %d", &idx) == 1) {
            t->entries[last] = idx;
        } else if (arrow && sscanf(line, "%d ", &idx) == 1 && idx >= 0 && idx < n_ops) {
            t->res[idx] = arrow + 4;
            last = idx;
        }
        line = nl ? nl + 1 : NULL;
    }
}

static void finish_run(struct running *rn, int n_ops, struct transcript *t)
{
    memset(t, 0, sizeof *t);
    for (int i = 0; i < MAX_OPS; i++)
        t->entries[i] = -1;
    t->status = proc_finish(rn->p, CHILD_MS);
    t->text = slurp(rn->out);
    t->stderr_text = slurp(rn->err);
    parse_transcript(t, n_ops);
}

static void free_transcript(struct transcript *t)
{
    free(t->text);
    free(t->parsed);
    free(t->stderr_text);
}

/* ===== ports ================================================================================ */

static uint64_t port_rng;

/* Free ports far below the kernel's ephemeral range, so no port-0 bind or listen of a case
 * can land on them, and below where test_cells (20000 up) and the benchmarks (10000 up)
 * take theirs, so a suite or benchmark running beside this one rarely meets them. */
static void fresh_ports(int *ports, int n)
{
    for (int i = 0; i < n;) {
        int port = 2000 + (int)below(&port_rng, 8000);
        bool dup = false;
        for (int j = 0; j < i; j++)
            dup |= ports[j] == port;
        int t = socket(AF_INET6, SOCK_STREAM, 0), u = socket(AF_INET6, SOCK_DGRAM, 0), off = 0;
        union sa_room a;
        memset(&a, 0, sizeof a);
        a.in6.sin6_family = AF_INET6;
        a.in6.sin6_port = htons((uint16_t)port);
        setsockopt(t, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        setsockopt(u, IPPROTO_IPV6, IPV6_V6ONLY, &off, sizeof off);
        if (!dup && bind(t, &a.sa, sizeof a.in6) == 0 && bind(u, &a.sa, sizeof a.in6) == 0)
            ports[i++] = port;
        close(t);
        close(u);
    }
}

/* ===== the model of the enforcing run ======================================================= */

enum obj_kind { OBJ_PIPE, OBJ_UNIX, OBJ_INET, OBJ_OTHER };

/* One open file description of the enforcing run, as far as bindguard's rules go. */
struct obj {
    uint8_t kind;
    int family;
    uint8_t proto;
    bool reuseaddr, reuseport, v6only, excl;
    bool kbound;              /* the kernel has bound it (bind, or listen's autobind) */
    bool entry;               /* bindguard must hold a binding for it */
    bool eph;                 /* that binding is on a port the kernel picked */
    struct bg_addr addr;      /* its address; port = offset in the range + 1 */
    enum bg_class cls;
    int bound_at;             /* the op that made the binding */
    int refs;                 /* slots referring to it */
    bool tainted;             /* native's socket differs from this one */
    unsigned ports;           /* range ports it ever tried to bind, in either run */
};

struct model {
    const struct case_cfg *cfg;
    const struct bg_profile *profile;
    struct obj obj[MAX_OPS + 2];
    int n_obj;
    int slot[SLOTS];          /* index into obj, or -1 */
    unsigned port_taint;
    bool v6only_default;
};

static void model_init(struct model *m, const struct case_cfg *cfg)
{
    memset(m, 0, sizeof *m);
    m->cfg = cfg;
    m->profile = policy_profile(cfg->profile);
    FILE *f = fopen("/proc/sys/net/ipv6/bindv6only", "re");
    int v = 0;
    if (f) {
        if (fscanf(f, "%d", &v) != 1)
            v = 0;
        fclose(f);
    }
    m->v6only_default = v != 0;
    m->obj[0].kind = OBJ_PIPE;
    m->obj[1].kind = OBJ_UNIX;
    m->n_obj = 2;
    for (int i = 0; i < SLOTS; i++)
        m->slot[i] = -1;
}

static struct obj *model_fd(struct model *m, struct fdref f)
{
    switch ((enum fd_kind)f.kind) {
    case FDK_SLOT:
        return m->slot[f.slot] >= 0 ? &m->obj[m->slot[f.slot]] : NULL;
    case FDK_PIPE:
        return &m->obj[0];
    case FDK_UNIX:
        return &m->obj[1];
    default:
        return NULL;
    }
}

static void unref(struct model *m, int slot)
{
    if (m->slot[slot] < 0)
        return;
    struct obj *o = &m->obj[m->slot[slot]];
    /* The last descriptor of a socket in this process takes its binding with it. */
    if (--o->refs == 0)
        o->entry = false;
    m->slot[slot] = -1;
}

/* Does bindguard track a socket made with these arguments (an inet stream or datagram)? */
static bool tracked_args(int domain, int type, int proto)
{
    int base = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain != AF_INET && domain != AF_INET6)
        return false;
    if (base == SOCK_STREAM)
        return proto == 0 || proto == IPPROTO_TCP;
    if (base == SOCK_DGRAM)
        return proto == 0 || proto == IPPROTO_UDP;
    return false;
}

/* Would these options make o a sharer, Windows-style (doc/design.md "Option mapping")? */
static bool sharing(const struct model *m, const struct obj *o, bool reuseaddr, bool reuseport)
{
    return reuseport || (reuseaddr && (o->proto == IPPROTO_UDP || m->cfg->windows_reuseaddr));
}

static bool shares(const struct model *m, const struct obj *o)
{
    return sharing(m, o, o->reuseaddr, o->reuseport);
}

/* doc/design.md "Option mapping", from what the socket really carries. */
static enum bg_class class_of(const struct model *m, const struct obj *o)
{
    if (o->excl)
        return BG_CLASS_EXCLUSIVE;
    if (shares(m, o))
        return BG_CLASS_REUSEADDR;
    /* Without SO_EXCLUSIVEADDRUSE (win9x) there is no exclusive class to fall back to. */
    return m->cfg->windows_default || !m->profile->has_exclusive ? BG_CLASS_DEFAULT
                                                                 : BG_CLASS_EXCLUSIVE;
}

/* Would the kernel bind o to this address (conflicts aside)? Then bindguard must judge
 * it, and *out is the binding. Port = offset in the range + 1, 0 for port 0. */
static bool kernel_takes(const struct obj *o, const struct op *op, struct bg_addr *out)
{
    static const int model_ports[MAX_PORTS] = {1, 2, 3, 4};
    union sa_room u;
    socklen_t len = op_sockaddr(op, model_ports, &u);
    if (op->null_addr || len > sizeof(struct sockaddr_storage))
        return false;
    memset(out, 0, sizeof *out);
    out->family = (uint8_t)o->family;
    if (o->family == AF_INET) {
        bool any = u.in.sin_addr.s_addr == htonl(INADDR_ANY);
        bool family_ok = u.sa.sa_family == AF_INET || (u.sa.sa_family == AF_UNSPEC && any);
        if (len < sizeof u.in || !family_ok)
            return false;
        static const uint8_t mapped[12] = {[10] = 0xff, [11] = 0xff};
        memcpy(out->ip, mapped, sizeof mapped);
        memcpy(out->ip + 12, &u.in.sin_addr, 4);
        out->port = ntohs(u.in.sin_port);
        return true;
    }
    /* inet6_bind: SIN6_LEN_RFC2133 is enough; a v4-mapped address on a v6-only socket is
     * EINVAL before any port is looked at. */
    if (len < 24 || u.sa.sa_family != AF_INET6)
        return false;
    memcpy(out->ip, &u.in6.sin6_addr, 16);
    out->port = ntohs(u.in6.sin6_port);
    out->v6only = o->v6only;
    return !(o->v6only && rules_addr_is_v4mapped(out));
}

struct denial {
    enum bg_verdict v;       /* the most severe verdict of any binding on the port */
    const struct obj *by[MAX_OPS + 2];
    enum bg_verdict each[MAX_OPS + 2];
    int n;
};

/* Judge `want` of class cls for o against every binding the model knows. */
static void judge(const struct model *m, const struct obj *o, const struct bg_addr *want,
                  enum bg_class cls, uint8_t proto, struct denial *d)
{
    d->v = BG_SUCCESS;
    d->n = 0;
    for (int i = 0; i < m->n_obj; i++) {
        const struct obj *h = &m->obj[i];
        if (h == o || !h->entry || h->eph || h->proto != proto || h->addr.port != want->port)
            continue;
        if (!rules_overlap(&h->addr, h->cls == BG_CLASS_EXCLUSIVE, want))
            continue;
        struct bg_side first = {h->cls, rules_addr_kind(&h->addr)};
        struct bg_side second = {cls, rules_addr_kind(want)};
        enum bg_verdict v = rules_resolve_check(policy_verdict(m->profile, true, first, second),
                                                 false);
        /* An IPv4 bind refused by the IPv4 side of a dual-stack wildcard: EACCES. */
        if ((v == BG_INUSE || v == BG_ACCESS) && rules_addr_is_dual_wildcard(&h->addr) &&
            !(want->family == AF_INET6 && !rules_addr_is_v4mapped(want)))
            v = BG_ACCESS;
        if (v == BG_SUCCESS)
            continue;
        d->by[d->n] = h;
        d->each[d->n++] = v;
        if (rules_more_severe(v, d->v))
            d->v = v;
    }
}

/* ===== checking ============================================================================ */

struct check {
    const struct fuzz_case *c;
    struct model m;
    const int *ports;          /* the enforcing run's */
    char why[2048];
    int at;                    /* the op that failed, -1 if none */
};

static bool failed(struct check *k, int op, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static bool failed(struct check *k, int op, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(k->why, sizeof k->why, fmt, ap);
    va_end(ap);
    k->at = op;
    return false;
}

/* The parts of a refusal line: "bind W/P refused (E): held ... on H since T [TABLE, C1 K1
 * vs C2 K2]". Fields point into buf. */
struct refusal {
    char buf[512];
    const char *want, *proto, *err, *held, *table, *c1, *k1, *c2, *k2;
    bool across_stacks;   /* the cell's verdict became ACCESS across stacks */
};

static bool parse_refusal(const char *line, struct refusal *r)
{
    snprintf(r->buf, sizeof r->buf, "%s", line);
    char *b = r->buf;
    char *want = strstr(b, "bind "), *refused = strstr(b, " refused (");
    char *on = strstr(b, ") on "), *bra = strrchr(b, '[');
    if (!want || !refused || !bra)
        return false;
    /* The holder part may be "(comm, uid N) on ..." or, with neither known, "pid N on". */
    on = on ? on + 5 : strstr(b, " on ") ? strstr(b, " on ") + 4 : NULL;
    if (!on)
        return false;
    *refused = '\0';
    char *slash = strrchr(want, '/');
    if (!slash)
        return false;
    *slash = '\0';
    r->want = want + 5;
    r->proto = slash + 1;
    r->err = refused + 10;
    char *close_paren = strchr(r->err, ')');
    if (!close_paren)
        return false;
    *close_paren = '\0';
    r->held = on;
    char *end = strstr(on, " since ");
    if (!end)
        end = strstr(on, " [");
    if (!end)
        return false;
    *end = '\0';
    char *ket = strchr(bra, ']'), *comma = strstr(bra, ", "), *vs = strstr(bra, " vs ");
    if (!ket || !comma || !vs)
        return false;
    *ket = *comma = *vs = '\0';
    r->table = bra + 1;
    char *sp1 = strchr(comma + 2, ' '), *sp2 = strchr(vs + 4, ' ');
    if (!sp1 || !sp2)
        return false;
    *sp1 = *sp2 = '\0';
    char *rule = strstr(sp2 + 1, ", ");
    r->across_stacks = rule && strcmp(rule, ", across stacks") == 0;
    if (rule)
        *rule = '\0';
    r->c1 = comma + 2;
    r->k1 = sp1 + 1;
    r->c2 = vs + 4;
    r->k2 = sp2 + 1;
    return true;
}

/* An address in a log line, as the model's port numbering has it. */
static bool model_addr(const struct check *k, const char *s, struct bg_addr *a)
{
    if (address_parse(s, a) != 0)
        return false;
    for (int i = 0; i < k->c->cfg.nports; i++)
        if (a->port == k->ports[i]) {
            a->port = (uint16_t)(i + 1);
            return true;
        }
    return false;
}

static bool same_binding(const struct bg_addr *a, const struct bg_addr *b)
{
    return a->port == b->port && memcmp(a->ip, b->ip, 16) == 0;
}

/* The refusal line must explain the refusal: its cell gives this errno, its second side
 * is the socket binding now, its first a binding the model knows denies it this much. */
static bool check_refusal(struct check *k, int i, const char *log, const struct obj *o,
                          const struct bg_addr *want, enum bg_class cls, const struct denial *d)
{
    struct refusal r;
    if (!log || strchr(log, '\n') || !parse_refusal(log, &r))
        return failed(k, i, "want exactly one refusal line, the log says: %s",
                      log ? log : "nothing");
    char table[64];
    snprintf(table, sizeof table, "%s", r.table);
    char *sp = strchr(table, ' ');
    if (sp)
        *sp = '\0';
    const struct bg_profile *p = policy_profile(table);
    int c1 = policy_class_parse(r.c1), k1 = policy_kind_parse(r.k1);
    int c2 = policy_class_parse(r.c2), k2 = policy_kind_parse(r.k2);
    if (!p || p->rules != k->m.profile->rules || c1 < 0 || k1 < 0 || c2 < 0 || k2 < 0)
        return failed(k, i, "refusal names no policy cell of profile %s: %s", k->c->cfg.profile,
                      log);
    /* Only ws2003's tables tell users apart, and then it must say same-user. */
    bool same_user = !sp || strcmp(sp + 1, "same-user") == 0;
    /* A CHECK cell is decided by the share list, on which no case puts anybody. */
    enum bg_verdict v = rules_resolve_check(
        policy_verdict(p, same_user, (struct bg_side){c1, k1}, (struct bg_side){c2, k2}), false);
    if (r.across_stacks)
        v = BG_ACCESS;
    int err = policy_errno(v);
    const char *err_name = err ? strerrorname_np(err) : "none";
    if (!same_user || strcmp(err_name, r.err) != 0 || policy_errno(d->v) != err)
        return failed(k, i, "the cell [%s, %s %s vs %s %s] is %s (%s), the refusal says %s and "
                      "the model %s", r.table, r.c1, r.k1, r.c2, r.k2, policy_verdict_name(v),
                      err_name, r.err, policy_verdict_name(d->v));
    struct bg_addr w, h;
    if (!model_addr(k, r.want, &w) || !same_binding(&w, want) ||
        strcmp(r.proto, o->proto == IPPROTO_TCP ? "tcp" : "udp") != 0)
        return failed(k, i, "refusal names %s/%s for this bind", r.want, r.proto);
    if (c2 != (int)cls || k2 != (int)rules_addr_kind(want))
        return failed(k, i, "refusal says the binding socket is %s %s, the model %s %s", r.c2,
                      r.k2, policy_class_name(cls), policy_kind_name(rules_addr_kind(want)));
    if (!model_addr(k, r.held, &h))
        return failed(k, i, "refusal names holder address '%s' outside the range", r.held);
    for (int j = 0; j < d->n; j++)
        if (same_binding(&d->by[j]->addr, &h) && (int)d->by[j]->cls == c1 &&
            (int)rules_addr_kind(&d->by[j]->addr) == k1 && !rules_more_severe(d->v, d->each[j]))
            return true;
    return failed(k, i, "refusal names holder %s (%s %s), no such binding denies this bind",
                  r.held, r.c1, r.k1);
}

static bool is_exclusive_opt(const struct op *op)
{
    return op->opt == OPT_EXCLUSIVE;
}

static bool turns_sharing_on(const struct model *m, const struct obj *o, const struct op *op)
{
    return sharing(m, o, op->opt == OPT_REUSEADDR, op->opt == OPT_REUSEPORT) && !op->null_val &&
           op->setlen >= (int)sizeof(int) && op->value != 0;
}

/* What bindguard itself must answer to a set/getsockopt, where it answers (true). */
static bool shim_opt_answer(const struct model *m, const struct op *op, const struct obj *o,
                            char *want, size_t len)
{
    if (!o || o->kind != OBJ_INET)
        return false;
    bool has = m->profile->has_exclusive;
    if (op->kind == OP_SETOPT && is_exclusive_opt(op)) {
        bool on = op->value != 0;
        const char *r = !has                                ? "ENOPROTOOPT"
                        : op->null_val                      ? "EFAULT"
                        : op->setlen < (int)sizeof(int)     ? "EINVAL"
                        : on && m->profile->exclusive_needs_admin && geteuid() != 0 ? "EACCES"
                        : on && shares(m, o)                ? "EINVAL"
                                                            : "ok";
        snprintf(want, len, "%s", r);
        return true;
    }
    if (op->kind == OP_SETOPT && o->excl && turns_sharing_on(m, o, op)) {
        snprintf(want, len, "EINVAL");
        return true;
    }
    if (op->kind != OP_GETOPT || !is_exclusive_opt(op))
        return false;
    if (!has) {
        snprintf(want, len, "ENOPROTOOPT");
        return true;
    }
    if (op->null_val || op->null_len) {
        snprintf(want, len, "EFAULT");
        return true;
    }
    if ((int)op->getlen < 0) {
        snprintf(want, len, "EINVAL");
        return true;
    }
    unsigned char val[256];
    memset(val, GETOPT_FILL, sizeof val);
    int v = o->excl;
    socklen_t n = op->getlen < sizeof v ? op->getlen : sizeof v;
    memcpy(val, &v, n);
    getopt_text(0, ERRNO_BEFORE, val, &n, want, len);
    return true;
}

static void taint(struct model *m, struct obj *o, const struct op *op)
{
    if (o) {
        o->tainted = true;
        if (op->kind == OP_BIND && op->port >= 0)
            o->ports |= 1u << op->port;
        m->port_taint |= o->ports;
    }
    if (op->kind == OP_BIND && op->port >= 0)
        m->port_taint |= 1u << op->port;
}

static bool tainted(const struct model *m, const struct obj *o, const struct op *op)
{
    if (o && (o->tainted || (o->ports & m->port_taint)))
        return true;
    return op->kind == OP_BIND && op->port >= 0 && (m->port_taint & (1u << op->port));
}

/* After op, as the enforcing run answered it. */
static void model_apply(struct model *m, int i, const struct op *op, struct obj *o,
                        const char *res, const struct bg_addr *bound)
{
    bool ok = strncmp(res, "ok", 2) == 0;
    switch ((enum op_kind)op->kind) {
    case OP_SOCKET:
        unref(m, op->dst);
        if (ok) {
            struct obj *n = &m->obj[m->n_obj];
            int domain = domains[op->domain].domain, type = types[op->type].type;
            memset(n, 0, sizeof *n);
            n->kind = tracked_args(domain, type, op->proto) ? OBJ_INET : OBJ_OTHER;
            n->family = domain;
            n->proto = (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM ? IPPROTO_TCP
                                                                                : IPPROTO_UDP;
            n->v6only = domain == AF_INET6 && m->v6only_default;
            n->refs = 1;
            m->slot[op->dst] = m->n_obj++;
        }
        break;
    case OP_SETOPT:
        if (!ok || !o)
            break;
        if (op->opt == OPT_REUSEADDR)
            o->reuseaddr = op->value != 0;
        else if (op->opt == OPT_REUSEPORT)
            o->reuseport = op->value != 0;
        else if (op->opt == OPT_EXCLUSIVE)
            o->excl = op->value != 0;
        else if (op->opt == OPT_V6ONLY)  /* the kernel reads a NULL value as 0 */
            o->v6only = !op->null_val && op->value != 0;
        break;
    case OP_BIND:
        if (ok && o) {
            o->kbound = true;
            if (bound) {
                o->entry = true;
                o->addr = *bound;
                o->eph = bound->port == 0;
                o->cls = class_of(m, o);
                o->bound_at = i;
            }
        }
        break;
    case OP_LISTEN:
        if (ok && o)
            o->kbound = true;
        break;
    case OP_CLOSE:
        if (op->fd.kind == FDK_SLOT && op->how != CLOSE_RANGE_EXEC)
            unref(m, op->fd.slot);
        break;
    case OP_DUP: {
        int src = o ? (int)(o - m->obj) : -1;
        bool onto_itself = op->fd.kind == FDK_SLOT && op->fd.slot == op->dst;
        bool vacates = op->how != DUP_DUP2 && op->how != DUP_DUP3;
        if (vacates || (ok && !onto_itself))
            unref(m, op->dst);
        if (ok && !onto_itself && src >= 0) {
            m->obj[src].refs++;
            m->slot[op->dst] = src;
        }
        break;
    }
    case OP_GETOPT:
    case OP_NAME:
        break;
    }
}

/* One op of the enforcing run against native and the model. */
static bool check_enforce_op(struct check *k, int i, const char *nat, const char *enf,
                             const char *log, int entries)
{
    struct model *m = &k->m;
    const struct op *op = &k->c->ops[i];
    bool has_fd = op->kind != OP_SOCKET;
    struct obj *o = has_fd ? model_fd(m, op->fd) : NULL;
    bool was_tainted = tainted(m, o, op);
    char want[128];
    struct bg_addr addr;
    const struct bg_addr *bound = NULL;

    if (shim_opt_answer(m, op, o, want, sizeof want)) {
        if (strcmp(enf, want) != 0)
            return failed(k, i, "bindguard answered '%s', want '%s'", enf, want);
        if (log)
            return failed(k, i, "logged for an option: %s", log);
    } else if (op->kind == OP_BIND && o && o->kind == OBJ_INET && !o->kbound &&
               kernel_takes(o, op, &addr)) {
        bound = &addr;
        enum bg_class cls = class_of(m, o);
        struct denial d = {.v = BG_SUCCESS};
        if (addr.port != 0)
            judge(m, o, &addr, cls, o->proto, &d);
        if (addr.port != 0 && d.v != BG_SUCCESS) {
            const char *err = strerrorname_np(policy_errno(d.v));
            int w = 0;
            while (d.each[w] != d.v)
                w++;
            if (strcmp(enf, err) != 0 || !log)
                return failed(k, i, "bindguard must refuse this bind with %s: the %s %s "
                              "binding made at op %d holds the port; got '%s'%s", err,
                              policy_class_name(d.by[w]->cls),
                              policy_kind_name(rules_addr_kind(&d.by[w]->addr)), d.by[w]->bound_at,
                              enf, log ? "" : " and nothing logged");
            if (!check_refusal(k, i, log, o, &addr, cls, &d))
                return false;
        } else if (log) {
            return failed(k, i, "no binding the model knows denies this bind, yet: %s", log);
        } else if (!was_tainted && strcmp(enf, nat) != 0) {
            return failed(k, i, "enforce '%s', native '%s': bindguard must leave this bind to "
                          "the kernel", enf, nat);
        }
    } else if (log) {
        return failed(k, i, "bindguard logged for a call it does not judge: %s", log);
    } else if (!was_tainted && strcmp(enf, nat) != 0) {
        return failed(k, i, "enforce '%s', native '%s': a difference bindguard has no reason for",
                      enf, nat);
    }
    /* SO_EXCLUSIVEADDRUSE exists only for bindguard: native's ENOPROTOOPT changes no socket. */
    if (strcmp(enf, nat) != 0 && !((op->kind == OP_SETOPT || op->kind == OP_GETOPT) &&
                                   is_exclusive_opt(op)))
        taint(m, o, op);
    if (op->kind == OP_BIND && op->port >= 0 && o) {
        o->ports |= 1u << op->port;
        if (o->tainted)
            m->port_taint |= 1u << op->port;
    }
    model_apply(m, i, op, o, enf, bound);
    int held = 0;
    for (int j = 0; j < m->n_obj; j++)
        held += m->obj[j].entry;
    if (entries != held)
        return failed(k, i, "bindguard holds %d binding(s) after this, the model %d", entries,
                      held);
    return true;
}

struct totals {
    int cases, refusals, differences, ops;
};

/* The whole case; false with k->why and k->at on the first unexplained line. */
static bool check_case(struct check *k, struct transcript t[N_MODES], struct totals *tot)
{
    const struct fuzz_case *c = k->c;
    k->at = -1;
    for (int m = 0; m < N_MODES; m++) {
        if (t[m].status != 0 || t[m].stderr_text[0])
            return failed(k, -1, "%s run: exit %d, stderr: %s", mode_names[m], t[m].status,
                          t[m].stderr_text);
        for (int i = 0; i < c->n; i++)
            if (!t[m].res[i])
                return failed(k, i, "%s run printed no line for op %d", mode_names[m], i);
    }
    if (t[MODE_OFF].nlog || t[MODE_NATIVE].nlog)
        return failed(k, -1, "BINDGUARD_MODE=off logged");
    if (t[MODE_ENFORCE].log_first)
        return failed(k, -1, "logged before any call: %s", t[MODE_ENFORCE].log_first);
    for (int i = 0; i < c->n; i++)
        if (strcmp(t[MODE_OFF].res[i], t[MODE_NATIVE].res[i]) != 0)
            return failed(k, i, "off '%s', native '%s'", t[MODE_OFF].res[i], t[MODE_NATIVE].res[i]);
    model_init(&k->m, &c->cfg);
    for (int i = 0; i < c->n; i++) {
        if (!check_enforce_op(k, i, t[MODE_NATIVE].res[i], t[MODE_ENFORCE].res[i],
                              t[MODE_ENFORCE].log[i], t[MODE_ENFORCE].entries[i]))
            return false;
        tot->refusals += t[MODE_ENFORCE].log[i] != NULL;
        tot->differences += strcmp(t[MODE_ENFORCE].res[i], t[MODE_NATIVE].res[i]) != 0;
    }
    return true;
}

/* The whole story of a failed case, for the one reading the test log. */
static void report(const struct check *k, struct transcript t[N_MODES])
{
    fprintf(stderr, "\n=== test_fuzz: case seed 0x%016" PRIx64 " (BINDGUARD_PROFILE=%s, "
            "BINDGUARD_DEFAULT=%s, BINDGUARD_REUSEADDR=%s, %d ports) failed at op %d:\n    %s\n",
            k->c->seed, k->c->cfg.profile, k->c->cfg.windows_default ? "windows" : "exclusive",
            k->c->cfg.windows_reuseaddr ? "windows" : "linux", k->c->cfg.nports, k->at, k->why);
    fprintf(stderr, "reproduce: BG_FUZZ_SEED=0x%016" PRIx64
            " BG_FUZZ_CASES=1 meson test test_fuzz\n", k->c->seed);
    for (int m = 0; m < N_MODES; m++)
        if (m != MODE_OFF || (k->at >= 0 && strstr(k->why, "off '")))
            fprintf(stderr, "--- %s transcript:\n%s", mode_names[m], t[m].text);
    for (int m = 0; m < N_MODES; m++)
        if (t[m].stderr_text[0])
            fprintf(stderr, "--- %s stderr:\n%s", mode_names[m], t[m].stderr_text);
}

/* Bindings bindguard left behind in a run's table. */
static size_t table_left(const char *name)
{
    char why[256];
    struct table *t = own_open(name, TABLE_SLOTS, why, sizeof why, NULL, 0);
    ck_assert_msg(t, "table %s: %s", name, why);
    ck_assert_int_eq(table_lock(t, 1000), 0);
    size_t n = table_count(t);
    table_unlock(t);
    table_close(t);
    return n;
}

static uint64_t env_u64(const char *name, uint64_t dflt)
{
    const char *v = getenv(name);
    return v && *v ? strtoull(v, NULL, 0) : dflt;
}

/* Run one case three ways and check it; false (reported if `say`) if it failed. */
static bool fuzz_run(uint64_t seed, struct totals *tot, bool say)
{
    static struct fuzz_case c;
    gen_case(seed, &c);
    struct running rn[N_MODES];
    struct transcript t[N_MODES];
    int ports[N_MODES][MAX_PORTS];
    /* All at once: a run not started yet has not bound its ports, so picking them one
     * run at a time could give two runs the same port. */
    fresh_ports(&ports[0][0], N_MODES * MAX_PORTS);
    for (int m = 0; m < N_MODES; m++)
        start_run(&c, (enum mode)m, ports[m], &rn[m]);
    for (int m = 0; m < N_MODES; m++)
        finish_run(&rn[m], c.n, &t[m]);
    static struct check k;
    k.c = &c;
    k.ports = ports[MODE_ENFORCE];
    struct totals counted = {1, 0, 0, c.n};
    bool ok = check_case(&k, t, &counted);
    if (ok && table_exists(rn[MODE_OFF].table))
        ok = failed(&k, -1, "BINDGUARD_MODE=off created its table");
    const char *enforced = rn[MODE_ENFORCE].table;
    size_t left = ok && table_exists(enforced) ? table_left(enforced) : 0;
    if (ok && left)
        ok = failed(&k, -1, "%zu binding(s) left in the table after every slot was closed", left);
    if (!ok && say)
        report(&k, t);
    else if (!ok)
        printf("fuzz: case 0x%016" PRIx64 " failed at op %d (%s); running it again\n", seed,
               k.at, k.why);
    for (int m = 0; m < N_MODES; m++) {
        free_transcript(&t[m]);
        harness_table_remove(rn[m].table);
        unlink(rn[m].log);
    }
    if (ok || say) {
        tot->cases += counted.cases;
        tot->ops += counted.ops;
        tot->refusals += counted.refusals;
        tot->differences += counted.differences;
    }
    return ok;
}

/* Every case is deterministic but for its ports, which another process on the machine
 * may take between our choosing and our child binding them: a failure counts only if it
 * happens again with other ports. */
static bool fuzz_one(uint64_t seed, struct totals *tot)
{
    return fuzz_run(seed, tot, false) || fuzz_run(seed, tot, true);
}

START_TEST(differential)
{
    uint64_t base = env_u64("BG_FUZZ_SEED", FUZZ_BASE_SEED);
    uint64_t cases = env_u64("BG_FUZZ_CASES", FUZZ_CASES);
    port_rng = (uint64_t)time(NULL) ^ ((uint64_t)getpid() << 32);
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    struct totals tot = {0, 0, 0, 0};
    int bad = 0;
    uint64_t first_bad = 0;
    for (uint64_t i = 0; i < cases; i++) {
        if (!fuzz_one(base + i, &tot) && bad++ == 0)
            first_bad = base + i;
        /* A few failing cases tell enough; hundreds would bury the first. */
        if (bad >= 3)
            break;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double secs = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    printf("fuzz: %d cases, %d calls, %d refusals and %d differences from native explained; "
           "base seed 0x%016" PRIx64 ", %.1f s\n", tot.cases, tot.ops, tot.refusals,
           tot.differences, base, secs);
    fflush(stdout);  /* a failed assertion ends this process without flushing */
    ck_assert_msg(bad == 0, "%d case(s) failed, the first with seed 0x%016" PRIx64
                  " (details on stderr)", bad, first_bad);
}
END_TEST

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "--child") == 0 && strcmp(argv[2], "fuzz") == 0)
        return child_fuzz(argc - 3, argv + 3);
    if (access(harness_env("BG_LIB"), R_OK) != 0) {
        fprintf(stderr, "test_fuzz: %s not built\n", harness_env("BG_LIB"));
        return EXIT_FAILURE;
    }
    proc_init("fuzz");
    proc_cleanup_on_signals();
    uint64_t base = env_u64("BG_FUZZ_SEED", FUZZ_BASE_SEED);
    uint64_t cases = env_u64("BG_FUZZ_CASES", FUZZ_CASES);
    printf("test_fuzz: base seed 0x%016" PRIx64 ", %" PRIu64 " cases "
           "(BG_FUZZ_SEED, BG_FUZZ_CASES)\n", base, cases);
    fflush(stdout);
    Suite *s = suite_create("fuzz");
    TCase *tc = tcase_create("differential");
    /* About 0.1 s a case; a long run asked for by BG_FUZZ_CASES must not time out. */
    tcase_set_timeout(tc, 60.0 + (double)cases);
    tcase_add_test(tc, differential);
    suite_add_tcase(s, tc);
    int rc = harness_run(s);
    proc_cleanup();
    return rc;
}
