#include "model.h"

#include <arpa/inet.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

void model_init(struct model *m, const struct case_cfg *cfg)
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

struct model_obj *model_fd(struct model *m, struct fdref f)
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
    struct model_obj *o = &m->obj[m->slot[slot]];
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
static bool sharing(const struct model *m, const struct model_obj *o, bool reuseaddr,
                    bool reuseport)
{
    return reuseport || (reuseaddr && (o->proto == IPPROTO_UDP || m->cfg->windows_reuseaddr));
}

static bool shares(const struct model *m, const struct model_obj *o)
{
    return sharing(m, o, o->reuseaddr, o->reuseport);
}

enum bg_class model_class(const struct model *m, const struct model_obj *o)
{
    if (o->excl)
        return BG_CLASS_EXCLUSIVE;
    if (shares(m, o))
        return BG_CLASS_REUSEADDR;
    /* Without SO_EXCLUSIVEADDRUSE (win9x) there is no exclusive class to fall back to. */
    return m->cfg->windows_default || !m->profile->has_exclusive ? BG_CLASS_DEFAULT
                                                                 : BG_CLASS_EXCLUSIVE;
}

/* Ports are numbered as offsets into the range + 1, so port 0 stays 0. */
bool model_kernel_takes(const struct model_obj *o, const struct op *op, struct bg_addr *out)
{
    static const int model_ports[MAX_PORTS] = {1, 2, 3, 4};
    union sa_room u;
    socklen_t len = calls_sockaddr(op, model_ports, &u);
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

void model_judge(const struct model *m, const struct model_obj *o, const struct bg_addr *want,
                 enum bg_class cls, uint8_t proto, struct model_denial *d)
{
    d->v = BG_SUCCESS;
    d->n = 0;
    for (int i = 0; i < m->n_obj; i++) {
        const struct model_obj *h = &m->obj[i];
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

bool model_exclusive_opt(const struct op *op)
{
    return op->opt == OPT_EXCLUSIVE;
}

static bool turns_sharing_on(const struct model *m, const struct model_obj *o,
                             const struct op *op)
{
    return sharing(m, o, op->opt == OPT_REUSEADDR, op->opt == OPT_REUSEPORT) && !op->null_val &&
           op->setlen >= (int)sizeof(int) && op->value != 0;
}

bool model_opt_answer(const struct model *m, const struct op *op, const struct model_obj *o,
                      char *want, size_t len)
{
    if (!o || o->kind != OBJ_INET)
        return false;
    bool has = m->profile->has_exclusive;
    if (op->kind == OP_SETOPT && model_exclusive_opt(op)) {
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
    if (op->kind != OP_GETOPT || !model_exclusive_opt(op))
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
    calls_getopt_text(0, ERRNO_BEFORE, val, &n, want, len);
    return true;
}

void model_taint(struct model *m, struct model_obj *o, const struct op *op)
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

bool model_tainted(const struct model *m, const struct model_obj *o, const struct op *op)
{
    if (o && (o->tainted || (o->ports & m->port_taint)))
        return true;
    return op->kind == OP_BIND && op->port >= 0 && (m->port_taint & (1u << op->port));
}

void model_apply(struct model *m, int i, const struct op *op, struct model_obj *o,
                 const char *res, const struct bg_addr *bound)
{
    bool ok = strncmp(res, "ok", 2) == 0;
    switch ((enum op_kind)op->kind) {
    case OP_SOCKET:
        unref(m, op->dst);
        if (ok) {
            struct model_obj *n = &m->obj[m->n_obj];
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
                o->cls = model_class(m, o);
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
