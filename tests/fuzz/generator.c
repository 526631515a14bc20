/* generator - a fuzz case from its seed (case.h): the same calls every time, aimed at
 * live sockets and their families more often than chance would, with a couple of
 * unbound sockets kept around so that binds meet. */
#include <fcntl.h>
#include <limits.h>
#include <netinet/tcp.h>
#include <string.h>

#include "bindguard.h"
#include "case.h"

/* ===== deterministic randomness ========================================================= */

static uint64_t splitmix(uint64_t *s)
{
    uint64_t z = (*s += UINT64_C(0x9e3779b97f4a7c15));
    z = (z ^ (z >> 30)) * UINT64_C(0xbf58476d1ce4e5b9);
    z = (z ^ (z >> 27)) * UINT64_C(0x94d049bb133111eb);
    return z ^ (z >> 31);
}

unsigned gen_below(uint64_t *s, unsigned n)
{
    return (unsigned)(splitmix(s) % n);
}

static bool chance(uint64_t *s, unsigned percent)
{
    return gen_below(s, 100) < percent;
}

/* An index into a table of weights. */
static unsigned weighted(uint64_t *s, const unsigned *w, unsigned n)
{
    unsigned total = 0;
    for (unsigned i = 0; i < n; i++)
        total += w[i];
    unsigned r = gen_below(s, total);
    for (unsigned i = 0; i < n; i++) {
        if (r < w[i])
            return i;
        r -= w[i];
    }
    return n - 1;
}
#define WEIGHTED(s, w) weighted((s), (w), (unsigned)(sizeof(w) / sizeof((w)[0])))
#define COUNT(a) (sizeof(a) / sizeof((a)[0]))

/* ===== what the calls choose from ========================================================= */

const struct fuzz_domain domains[4] = {
    {AF_INET, "inet"}, {AF_INET6, "inet6"}, {AF_UNIX, "unix"}, {4242, "af4242"},
};
static const unsigned domain_w[] = {45, 45, 5, 2};

const struct fuzz_type types[6] = {
    {SOCK_STREAM, "stream"},
    {SOCK_DGRAM, "dgram"},
    {SOCK_STREAM | SOCK_NONBLOCK, "stream|nonblock"},
    {SOCK_DGRAM | SOCK_CLOEXEC, "dgram|cloexec"},
    {SOCK_RAW, "raw"},
    {SOCK_SEQPACKET, "seqpacket"},
};
static const unsigned type_w[] = {50, 40, 4, 4, 1, 1};

const struct fuzz_opt opts[8] = {
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

static const int opt_values[] = {1, 0, 42, -1};
static const unsigned opt_value_w[] = {50, 25, 15, 10};
static const int setopt_lens[] = {4, 0, 1, 3, 8, 200};
static const unsigned setopt_len_w[] = {75, 5, 5, 5, 5, 5};
static const unsigned getopt_lens[] = {4, 0, 1, 8, 200, UINT_MAX};
static const unsigned getopt_len_w[] = {70, 6, 6, 6, 6, 6};

const struct fuzz_addr addrs[11] = {
    {AF_INET, AK_V4, "0.0.0.0"},      {AF_INET, AK_V4, "127.0.0.1"},
    {AF_INET, AK_V4, "127.0.0.2"},    {AF_INET6, AK_V6, "::"},
    {AF_INET6, AK_V6, "::1"},         {AF_INET6, AK_V6, "::ffff:127.0.0.1"},
    {AF_INET6, AK_V6, "::ffff:0.0.0.0"}, {AF_UNSPEC, AK_V4, "0.0.0.0"},
    {AF_UNSPEC, AK_V4, "127.0.0.1"},  {AF_UNIX, AK_UNIX, "@abstract"},
    {4242, AK_V4, "0.0.0.0"},
};
const char *const len_names[7] = {"exact", "0", "short", "24", "plus1", "storage+1", "200"};
static const unsigned len_w[] = {80, 3, 4, 4, 3, 3, 3};

static const int backlogs[] = {16, 0, 1, -1, INT_MAX};
static const unsigned backlog_w[] = {70, 10, 10, 5, 5};

/* ===== the calls =========================================================================== */

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
    return n ? live[gen_below(&g->s, (unsigned)n)] : -1;
}

static struct fdref gen_fd(struct gen *g, bool for_close, bool unbound)
{
    struct fdref f = {FDK_SLOT, (uint8_t)gen_below(&g->s, SLOTS)};
    if (chance(&g->s, for_close ? 8 : 12)) {
        static const uint8_t odd[] = {FDK_NEG, FDK_BIG, FDK_HUGE, FDK_PIPE, FDK_UNIX};
        /* Closing the shared pipe or UNIX socket would let a later socket reuse its
         * number differently in each run. */
        f.kind = odd[gen_below(&g->s, for_close ? 3 : COUNT(odd))];
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
        return (uint8_t)empty[gen_below(&g->s, (unsigned)n)];
    return (uint8_t)gen_below(&g->s, SLOTS);
}

static void gen_socket(struct gen *g, struct op *op)
{
    op->dst = gen_dst(g);
    op->domain = (uint8_t)WEIGHTED(&g->s, domain_w);
    op->type = (uint8_t)WEIGHTED(&g->s, type_w);
    int base = types[op->type].type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    unsigned r = gen_below(&g->s, 100);
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
        op->addr = (uint8_t)pick[gen_below(&g->s, n)];
    } else {
        op->addr = (uint8_t)gen_below(&g->s, COUNT(addrs));
    }
    /* The first port of the range takes most binds, so that they meet. */
    op->port = chance(&g->s, 15)   ? -1
               : chance(&g->s, 50) ? 0
                                   : (int8_t)gen_below(&g->s, (unsigned)nports);
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

void gen_case(uint64_t seed, struct fuzz_case *c)
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
    c->cfg.nports = 2 + (int)gen_below(&g.s, MAX_PORTS - 1);
    int n = 20 + (int)gen_below(&g.s, 41);
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

