/* fuzz_run - one run of one differential fuzzer case (test_fuzz).
 *
 *   fuzz_run SEED native|off|enforce PORT...
 *
 * Makes the case's calls (tests/fuzz/case.h) with PORT... as its port range (as many
 * as the case has) and prints one line per call, "I CALL => RESULT", descriptors as slot
 * names and ports as offsets into the range, so that transcripts of runs on other ports
 * compare as text. Under the shim (off, enforce) it also echoes what bindguard logged
 * during the call, "# log LINE"; under enforce, after every call, how many bindings the
 * table holds, "# entries N". Exits 3 if it could not set up. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "fdstate.h"
#include "fuzz/case.h"
#include "proc_child.h"
#include "own.h"
#include "table.h"

#define HUGE_FD     (FDSTATE_MAX_FD + 5)  /* past what bindguard keeps records for */
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif

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
    calls_outcome(rc, err, res, sizeof res);
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
    calls_outcome(fd, err, res, RES_LEN);
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
    calls_outcome(rc, errno, res, RES_LEN);
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
    calls_getopt_text(rc, err, op->null_val ? NULL : val, op->null_len ? NULL : &vl, res, RES_LEN);
}

static void run_bind(struct run *r, const struct op *op, char *text, size_t len, char *res)
{
    char fdt[32], port[16];
    int fd = fd_of(r, op->fd, fdt, sizeof fdt);
    union sa_room u;
    socklen_t sl = calls_sockaddr(op, r->ports, &u);
    calls_port_token(op->port < 0 ? 0 : (unsigned)r->ports[op->port], r->ports, r->nports, port,
               sizeof port);
    snprintf(text, len, "bind %s %s%s:%s family=%d len=%s", fdt, op->null_addr ? "NULL " : "",
             addrs[op->addr].ip, port, addrs[op->addr].family, len_names[op->len]);
    errno = ERRNO_BEFORE;
    int rc = bind(fd, op->null_addr ? NULL : &u.sa, sl);
    calls_outcome(rc, errno, res, RES_LEN);
}

static void run_listen(struct run *r, const struct op *op, char *text, size_t len, char *res)
{
    char fdt[32];
    int fd = fd_of(r, op->fd, fdt, sizeof fdt);
    snprintf(text, len, "listen %s %d", fdt, op->backlog);
    errno = ERRNO_BEFORE;
    int rc = listen(fd, op->backlog);
    calls_outcome(rc, errno, res, RES_LEN);
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
    calls_outcome(rc, errno, res, RES_LEN);
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
    calls_outcome(got, errno, res, RES_LEN);
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
    calls_outcome(rc, errno, res, RES_LEN);
    if (rc != 0)
        return;
    char ip[INET6_ADDRSTRLEN] = "", port[16] = "";
    if (u.sa.sa_family == AF_INET) {
        inet_ntop(AF_INET, &u.in.sin_addr, ip, sizeof ip);
        calls_port_token(ntohs(u.in.sin_port), r->ports, r->nports, port, sizeof port);
    } else if (u.sa.sa_family == AF_INET6) {
        inet_ntop(AF_INET6, &u.in6.sin6_addr, ip, sizeof ip);
        calls_port_token(ntohs(u.in6.sin6_port), r->ports, r->nports, port, sizeof port);
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
    const char *slots = getenv("BINDGUARD_TABLE_SLOTS");
    if (!r->table && table_exists(name))
        r->table = own_open(name, slots ? (uint32_t)atoi(slots) : 0, why, sizeof why, NULL, 0);
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

int main(int argc, char **argv)
{
    static const op_runner runners[] = {
        [OP_SOCKET] = run_socket, [OP_SETOPT] = run_setopt, [OP_GETOPT] = run_getopt,
        [OP_BIND] = run_bind,     [OP_LISTEN] = run_listen, [OP_CLOSE] = run_close,
        [OP_DUP] = run_dup,       [OP_NAME] = run_name,
    };
    if (argc < 4)
        return proc_child_usage("fuzz_run SEED native|off|enforce PORT...");
    struct fuzz_case c;
    gen_case(strtoull(argv[1], NULL, 0), &c);
    int ports[MAX_PORTS];
    if (argc - 3 != c.cfg.nports)
        return proc_child_usage("fuzz_run SEED MODE PORT...: as many ports as the case has");
    for (int k = 0; k < c.cfg.nports; k++)
        ports[k] = atoi(argv[3 + k]);
    struct run r = {.ports = ports, .nports = c.cfg.nports, .log_fd = -1,
                    .enforce = strcmp(argv[2], "enforce") == 0};
    for (int i = 0; i < SLOTS; i++)
        r.slot[i] = r.stale[i] = -1;
    int p[2];
    if (pipe(p) != 0 || (r.unix_fd = socket(AF_UNIX, SOCK_STREAM, 0)) < 0)
        return 3;
    r.pipe_r = p[0];
    const char *log = getenv("BINDGUARD_LOG");
    if (strcmp(argv[2], "native") != 0 && log)
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
