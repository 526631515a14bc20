/* case - what a case of the differential fuzzer (test_fuzz) is made of, shared by the
 * generator, the runner agent (tests/agents/fuzz_run.c) and the checker.
 *
 * A case is a seed. gen_case turns it into the same sequence of 20-60 calls every time
 * (socket, setsockopt, getsockopt, bind, listen, close, dup/dup2/dup3/F_DUPFD,
 * getsockname) over SLOTS descriptor slots and two to four ports, with valid and broken
 * arguments alike, then a close of every slot; and into the configuration of the
 * enforcing run. The calls_* functions give the arguments a call passes and the words its
 * result prints as, the same for the runner and the model of what it must print. */
#ifndef BG_FUZZ_CASE_H
#define BG_FUZZ_CASE_H

#include <errno.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <sys/un.h>

#define SLOTS       5
#define MAX_PORTS   4
#define MAX_OPS     (60 + SLOTS)
#define CLOSED_FD   1000          /* never opened by the runner: a reliably closed number */
#define DUP2_BASE   400           /* dup2/dup3 onto an empty slot land at DUP2_BASE + slot */
#define FDUP_MIN    300           /* F_DUPFD's lower bound */
/* Every call starts with this in errno: libc leaves errno alone on success, and so must
 * bindguard's bookkeeping. */
#define ERRNO_BEFORE EDOM
#define GETOPT_FILL 0xa5          /* what a getsockopt buffer holds before the call */
#define RES_LEN     128           /* a call's result as printed */

enum op_kind { OP_SOCKET, OP_SETOPT, OP_GETOPT, OP_BIND, OP_LISTEN, OP_CLOSE, OP_DUP, OP_NAME };
enum fd_kind { FDK_SLOT, FDK_NEG, FDK_BIG, FDK_HUGE, FDK_PIPE, FDK_UNIX };
enum dup_how { DUP_DUP, DUP_DUP2, DUP_DUP3, DUP_FCNTL, DUP_FCNTL_CLOEXEC };
/* close_range over one descriptor; with CLOSE_RANGE_CLOEXEC it closes nothing. */
enum close_how { CLOSE_CLOSE, CLOSE_RANGE, CLOSE_RANGE_EXEC };
enum addr_kind { AK_V4, AK_V6, AK_UNIX };
enum len_sel { LEN_EXACT, LEN_ZERO, LEN_SHORT, LEN_RFC2133, LEN_PLUS1, LEN_STORAGE1, LEN_HUGE };
/* The first entries of opts[]. */
enum { OPT_REUSEADDR, OPT_REUSEPORT, OPT_EXCLUSIVE, OPT_V6ONLY };

/* What the calls choose from (generator.c). */
extern const struct fuzz_domain { int domain; const char *name; } domains[4];
extern const struct fuzz_type { int type; const char *name; } types[6];
extern const struct fuzz_opt { int level, name; const char *text; } opts[8];
/* family is what goes into the sockaddr's family field. */
extern const struct fuzz_addr { int family; enum addr_kind kind; const char *ip; } addrs[11];
extern const char *const len_names[7];

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

/* The case of `seed`. */
void gen_case(uint64_t seed, struct fuzz_case *c);
/* A number below n from the generator's random sequence in *s. */
unsigned gen_below(uint64_t *s, unsigned n);

union sa_room {
    struct sockaddr sa;
    struct sockaddr_in in;
    struct sockaddr_in6 in6;
    struct sockaddr_un un;
    struct sockaddr_storage ss;
    char room[256];
};

/* The sockaddr a bind op passes with `ports` as its range (zeroes beyond it), and the
 * length it passes. */
socklen_t calls_sockaddr(const struct op *op, const int *ports, union sa_room *u);
/* A port as a transcript names it: "+k" for the k-th of the range, "0", or "eph" (a
 * port the kernel picked). */
void calls_port_token(unsigned port, const int *ports, int nports, char *buf, size_t len);
/* "ok" or errno's name; "ok errno=E" if a successful call changed errno. */
void calls_outcome(long r, int err, char *buf, size_t len);
/* A getsockopt result with what came back: the length and the bytes it covers. */
void calls_getopt_text(int r, int err, const unsigned char *val, const socklen_t *len,
                       char *buf, size_t size);

#endif
