/* address - bg_addr from and to sockaddrs and text. See address.h. */
#include "address.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>

#include "parse.h"

/* The rule book spells these out, having no libc (rules/types.h). */
_Static_assert((int)BG_AF_INET == AF_INET && (int)BG_AF_INET6 == AF_INET6, "address families");
_Static_assert((int)BG_PROTO_TCP == IPPROTO_TCP && (int)BG_PROTO_UDP == IPPROTO_UDP, "protocols");
_Static_assert(sizeof(struct bg_addr) == 24, "bg_addr is stored in the table as is");

static const uint8_t v4mapped_prefix[12] = { 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff };

void address_set_v4(struct bg_addr *a, const void *ip4)
{
    memcpy(a->ip, v4mapped_prefix, sizeof v4mapped_prefix);
    memcpy(a->ip + 12, ip4, 4);
}

/* The shortest address Linux binds: an IPv6 one without sin6_scope_id (RFC 2133's
 * 24-byte sockaddr_in6) is accepted, so it must be judged too. */
#define SIN6_LEN_RFC2133 24

static socklen_t min_sockaddr_len(int family)
{
    switch (family) {
    case AF_INET:
        return sizeof(struct sockaddr_in);
    case AF_INET6:
        return SIN6_LEN_RFC2133;
    }
    return 0;
}

/* Linux binds {AF_UNSPEC, INADDR_ANY} on an AF_INET socket exactly as AF_INET
 * (inet_bind's "compatibility games"): it must be judged like one, or it would be a
 * way around bindguard. Any other foreign family is EAFNOSUPPORT from the kernel. */
static bool binds_as(const struct sockaddr *sa, int sock_family)
{
    if (sa->sa_family == sock_family)
        return true;
    return sock_family == AF_INET && sa->sa_family == AF_UNSPEC &&
           ((const struct sockaddr_in *)sa)->sin_addr.s_addr == htonl(INADDR_ANY);
}

int address_from_sockaddr(const struct sockaddr *sa, socklen_t len, int sock_family,
                          bool v6only, struct bg_addr *out)
{
    socklen_t need = min_sockaddr_len(sock_family);
    /* Anything we cannot judge is left to the kernel by the caller. */
    if (!sa || need == 0 || len < need || len > sizeof(struct sockaddr_storage) ||
        !binds_as(sa, sock_family))
        return -1;
    memset(out, 0, sizeof *out);
    out->family = (uint8_t)sock_family;
    if (sock_family == AF_INET) {
        const struct sockaddr_in *sin = (const struct sockaddr_in *)sa;
        address_set_v4(out, &sin->sin_addr.s_addr);
        out->port = ntohs(sin->sin_port);
        return 0;
    }
    const struct sockaddr_in6 *sin6 = (const struct sockaddr_in6 *)sa;
    memcpy(out->ip, &sin6->sin6_addr, 16);
    out->scope_id = len >= sizeof *sin6 ? sin6->sin6_scope_id : 0;
    out->port = ntohs(sin6->sin6_port);
    out->v6only = v6only;
    return v6only && rules_addr_is_v4mapped(out) ? -1 : 0;  /* Linux: EINVAL, whatever holds the port */
}

socklen_t address_to_sockaddr(const struct bg_addr *a, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (a->family == AF_INET) {
        struct sockaddr_in *sin = (struct sockaddr_in *)ss;
        sin->sin_family = AF_INET;
        sin->sin_port = htons(a->port);
        memcpy(&sin->sin_addr.s_addr, a->ip + 12, 4);
        return sizeof *sin;
    }
    if (a->family == AF_INET6) {
        struct sockaddr_in6 *sin6 = (struct sockaddr_in6 *)ss;
        sin6->sin6_family = AF_INET6;
        sin6->sin6_port = htons(a->port);
        sin6->sin6_scope_id = a->scope_id;
        memcpy(&sin6->sin6_addr, a->ip, 16);
        return sizeof *sin6;
    }
    return 0;
}

bool address_is_loopback(const struct bg_addr *a)
{
    static const uint8_t v6_loopback[16] = { [15] = 1 };
    if (rules_addr_is_v4mapped(a))
        return a->ip[12] == 127;
    return memcmp(a->ip, v6_loopback, sizeof v6_loopback) == 0;
}


int address_format(const struct bg_addr *a, char *buf, size_t len)
{
    char ip[INET6_ADDRSTRLEN] = "?";
    if (a->family == AF_INET) {
        inet_ntop(AF_INET, a->ip + 12, ip, sizeof ip);
        return snprintf(buf, len, "%s:%u", ip, (unsigned)a->port);
    }
    if (a->family == AF_INET6)
        inet_ntop(AF_INET6, a->ip, ip, sizeof ip);
    if (a->scope_id != 0)
        return snprintf(buf, len, "[%s%%%u]:%u", ip, (unsigned)a->scope_id, (unsigned)a->port);
    return snprintf(buf, len, "[%s]:%u", ip, (unsigned)a->port);
}

/* "[v6]" or "[v6%scope]" at s, up to end (exclusive). */
static int parse_v6_host(const char *s, const char *end, struct bg_addr *out)
{
    char host[INET6_ADDRSTRLEN + 16];
    size_t n = (size_t)(end - s);
    if (n < 2 || s[0] != '[' || s[n - 1] != ']' || n - 2 >= sizeof host)
        return -1;
    memcpy(host, s + 1, n - 2);
    host[n - 2] = '\0';
    char *pct = strchr(host, '%');
    uint32_t scope = 0;
    if (pct) {
        *pct = '\0';
        if (!parse_u32_str(pct + 1, 0, UINT32_MAX, &scope))
            return -1;
    }
    struct in6_addr in6;
    if (inet_pton(AF_INET6, host, &in6) != 1)
        return -1;
    memcpy(out->ip, &in6, 16);
    out->scope_id = scope;
    out->family = AF_INET6;
    return 0;
}

static int parse_v4_host(const char *s, const char *end, struct bg_addr *out)
{
    char host[INET_ADDRSTRLEN];
    size_t n = (size_t)(end - s);
    if (n == 0 || n >= sizeof host)
        return -1;
    memcpy(host, s, n);
    host[n] = '\0';
    struct in_addr in;
    if (inet_pton(AF_INET, host, &in) != 1)
        return -1;
    address_set_v4(out, &in.s_addr);
    out->family = AF_INET;
    return 0;
}

int address_parse(const char *s, struct bg_addr *out)
{
    if (!s)
        return -1;
    /* The last colon separates the port; an IPv6 host's own colons sit inside []. */
    const char *colon = strrchr(s, ':');
    uint32_t port;
    if (!colon || !parse_u32_str(colon + 1, 0, 65535, &port))
        return -1;
    struct bg_addr a;
    memset(&a, 0, sizeof a);
    int rc = s[0] == '[' ? parse_v6_host(s, colon, &a) : parse_v4_host(s, colon, &a);
    if (rc != 0)
        return -1;
    a.port = (uint16_t)port;
    *out = a;
    return 0;
}
