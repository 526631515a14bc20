/* calls - the arguments a fuzz call passes and the words its result prints as (case.h). */
#include <arpa/inet.h>
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "case.h"

void calls_port_token(unsigned port, const int *ports, int nports, char *buf, size_t len)
{
    for (int k = 0; k < nports; k++)
        if ((int)port == ports[k]) {
            snprintf(buf, len, "+%d", k);
            return;
        }
    snprintf(buf, len, "%s", port == 0 ? "0" : "eph");
}

socklen_t calls_sockaddr(const struct op *op, const int *ports, union sa_room *u)
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

void calls_outcome(long r, int err, char *buf, size_t len)
{
    const char *name = strerrorname_np(err);
    if (r >= 0 && err == ERRNO_BEFORE)
        snprintf(buf, len, "ok");
    else if (r >= 0)
        snprintf(buf, len, "ok errno=%s", name ? name : "?");
    else
        snprintf(buf, len, "%s", name ? name : "E?");
}

void calls_getopt_text(int r, int err, const unsigned char *val, const socklen_t *len,
                        char *buf, size_t size)
{
    calls_outcome(r, err, buf, size);
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
