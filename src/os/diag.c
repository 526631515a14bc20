/* diag - the sock_diag wire format: writing a query, reading its reply (diag.h). */
#include "diag.h"

#include <errno.h>
#include <string.h>
#include <arpa/inet.h>
#include <linux/sock_diag.h>
#include <netinet/in.h>

#include "address.h"

_Static_assert(offsetof(struct diag_request, bc_attr) == NLMSG_LENGTH(sizeof(struct inet_diag_req_v2)),
               "the bytecode attribute must follow the request without padding");
_Static_assert(sizeof(struct diag_request) == offsetof(struct diag_request, bc_attr)
               + NLA_HDRLEN + 2 * sizeof(struct inet_diag_bc_op), "no tail padding");

static void fill_exact(const struct diag_query *q, struct inet_diag_sockid *id)
{
    const struct bg_addr *a = q->exact;
    /* inet_diag hands these fields to the packet lookups in opposite orders: our (local)
     * side is src/sport for TCP but dst/dport for UDP
     * (doc/kernel-notes.md "UDP src/dst asymmetry"). */
    bool udp = q->proto == IPPROTO_UDP;
    __be32 *ip = udp ? id->idiag_dst : id->idiag_src;
    if (q->family == AF_INET)
        memcpy(ip, a->ip + 12, 4);
    else
        memcpy(ip, a->ip, 16);
    *(udp ? &id->idiag_dport : &id->idiag_sport) = htons(q->port);
    id->idiag_if = q->family == AF_INET6 ? a->scope_id : 0;
}

size_t diag_build_request(const struct diag_query *q, struct diag_request *r)
{
    memset(r, 0, sizeof *r);
    r->nh.nlmsg_type = SOCK_DIAG_BY_FAMILY;
    r->nh.nlmsg_flags = NLM_F_REQUEST;
    r->nh.nlmsg_seq = q->seq;
    r->req.sdiag_family = q->family;
    r->req.sdiag_protocol = q->proto;
    r->req.idiag_states = q->states;
    /* We know no cookie: the inode in the answer tells whether it is the holder. */
    r->req.id.idiag_cookie[0] = r->req.id.idiag_cookie[1] = INET_DIAG_NOCOOKIE;
    if (q->exact) {
        fill_exact(q, &r->req.id);
        r->nh.nlmsg_len = offsetof(struct diag_request, bc_attr);
        return r->nh.nlmsg_len;
    }
    r->nh.nlmsg_flags |= NLM_F_DUMP;
    /* idiag_sport lets the listening and UDP walks skip other ports early; the bytecode
     * also filters the walks that ignore idiag_sport (bound-inactive), so the reply holds
     * only this port whatever else exists. "no" jumps 4 past the end: reject. */
    r->req.id.idiag_sport = htons(q->port);
    r->bc_attr.nla_type = INET_DIAG_REQ_BYTECODE;
    r->bc_attr.nla_len = NLA_HDRLEN + sizeof r->bc;
    r->bc[0] = (struct inet_diag_bc_op){INET_DIAG_BC_S_EQ, sizeof r->bc, sizeof r->bc + 4};
    r->bc[1].no = q->port;
    r->nh.nlmsg_len = sizeof *r;
    return sizeof *r;
}

/* ---- reply ---------------------------------------------------------------------- */

static const void *msg_data(const struct nlmsghdr *h)
{
    return (const char *)h + NLMSG_HDRLEN;
}

/* INET_DIAG_SKV6ONLY if present (listening and unconnected AF_INET6 sockets), else 0;
 * -1 if the attributes are malformed. */
static int v6only_attr(const struct nlmsghdr *h)
{
    size_t off = NLMSG_LENGTH(NLMSG_ALIGN(sizeof(struct inet_diag_msg)));
    int v6only = 0;
    while (off < h->nlmsg_len) {
        const struct nlattr *at = (const void *)((const char *)h + off);
        if (h->nlmsg_len - off < NLA_HDRLEN || at->nla_len < NLA_HDRLEN
            || at->nla_len > h->nlmsg_len - off)
            return -1;
        if ((at->nla_type & NLA_TYPE_MASK) == INET_DIAG_SKV6ONLY && at->nla_len > NLA_HDRLEN)
            v6only = *((const uint8_t *)at + NLA_HDRLEN) != 0;
        off += NLA_ALIGN(at->nla_len);
    }
    return v6only;
}

static bool parse_sock(const struct nlmsghdr *h, uint8_t proto, struct kernel_sock *k)
{
    const struct inet_diag_msg *m = msg_data(h);
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof *m)
        || (m->idiag_family != AF_INET && m->idiag_family != AF_INET6))
        return false;
    int v6only = v6only_attr(h);
    if (v6only < 0)
        return false;
    memset(k, 0, sizeof *k);
    k->cookie = (uint64_t)m->id.idiag_cookie[1] << 32 | m->id.idiag_cookie[0];
    k->inode = m->idiag_inode;
    k->uid = m->idiag_uid;
    k->state = m->idiag_state;
    k->proto = proto;
    k->local.family = m->idiag_family;
    k->local.port = ntohs(m->id.idiag_sport);
    if (m->idiag_family == AF_INET) {
        address_set_v4(&k->local, m->id.idiag_src);
        return true;
    }
    memcpy(k->local.ip, m->id.idiag_src, 16);
    k->local.v6only = (uint8_t)v6only;
    if (k->local.ip[0] == 0xfe && (k->local.ip[1] & 0xc0) == 0x80)   /* fe80::/10 */
        k->local.scope_id = m->id.idiag_if;
    return true;
}

/* NLMSG_DONE and NLMSG_ERROR carry an int: 0 (done, or an ACK) or -errno. */
static int status_of(const struct nlmsghdr *h)
{
    int e;
    if (h->nlmsg_len < NLMSG_LENGTH(sizeof e))
        return h->nlmsg_type == NLMSG_DONE ? 0 : -EBADMSG;
    memcpy(&e, msg_data(h), sizeof e);
    return e <= 0 && e > -4096 ? e : -EBADMSG;
}

/* *ended: the reply is complete (nothing more of it is queued). */
static int on_message(const struct nlmsghdr *h, const struct diag_query *q, diag_visit_fn visit,
                      void *ctx, bool *ended)
{
    if (h->nlmsg_seq != q->seq)
        return DIAG_MORE;
    /* An exact lookup answers with a single message, a dump with MULTI ones. */
    *ended = h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR
             || !(h->nlmsg_flags & NLM_F_MULTI);
    if (h->nlmsg_type == NLMSG_DONE || h->nlmsg_type == NLMSG_ERROR)
        return status_of(h);
    if (h->nlmsg_type == NLMSG_OVERRUN)
        return -EOVERFLOW;
    if (h->nlmsg_type == SOCK_DIAG_BY_FAMILY) {
        struct kernel_sock k;
        if (!parse_sock(h, q->proto, &k))
            return -EBADMSG;
        /* Not every walk honours the port we asked for: always re-check it. */
        if (k.local.port == q->port && visit(&k, ctx))
            return 0;
    }
    return *ended ? 0 : DIAG_MORE;
}

/* The messages of one datagram (buf aligned for nlmsghdr): DIAG_MORE if the reply goes on. */
int diag_walk_datagram(const char *buf, size_t len, const struct diag_query *q, diag_visit_fn visit,
                         void *ctx, bool *ended)
{
    for (size_t off = 0; off < len;) {
        const struct nlmsghdr *h = (const void *)(buf + off);
        if (len - off < sizeof *h || h->nlmsg_len < sizeof *h || h->nlmsg_len > len - off)
            return -EBADMSG;
        int rc = on_message(h, q, visit, ctx, ended);
        if (rc != DIAG_MORE)
            return rc;
        off += NLMSG_ALIGN(h->nlmsg_len);
    }
    return DIAG_MORE;
}
