/* check - would a bind succeed now, and who holds the port? For CI jobs.
 *
 * bindguard's verdict comes from guard_check(), the judging code every bind runs. A port
 * that bindguard would allow may still be taken in the kernel by a program that runs
 * without bindguard; such sockets are found over sock_diag and named too. */
#include "cli.h"

#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "holder.h"
#include "json.h"
#include "kernel.h"

#define CHECK_EXIT_UNKNOWN 3   /* the table could not be judged */
#define MAX_KERNEL_SOCKS   64

/* The binding being asked about, as guard_bind would describe it. */
static void make_want(const struct bg_addr *a, uint8_t proto, enum bg_class cls,
                      struct table_entry *w)
{
    memset(w, 0, sizeof *w);
    w->addr = *a;
    w->proto = proto;
    w->cls = (uint8_t)cls;
    w->uid = geteuid();
    w->pid = getpid();
    w->fd = -1;
    w->since = time(NULL);
    w->netns = cli_netns();
    snprintf(w->comm, sizeof w->comm, "bindguard");
}

/* A socket the kernel has on the port that bindguard does not know: Linux refuses an
 * overlapping bind (no sharing options) whatever bindguard says. */
struct outsider {
    struct kernel_sock k;
    struct holder holder;
};

static bool in_table(const struct cli_snapshot *s, uint32_t inode)
{
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].e.inode == inode && s->v[i].live != GUARD_STALE)
            return true;
    return false;
}

static bool holds_port(const struct kernel_sock *k)
{
    return k->proto == IPPROTO_UDP || k->state == TCP_LISTEN || k->state == TCP_CLOSE;
}

static bool find_outsider(struct table *t, const struct bg_config *cfg,
                          const struct table_entry *want, struct outsider *o)
{
    struct kernel_sock ks[MAX_KERNEL_SOCKS];
    int n = kernel_port_sockets(want->proto, want->addr.port, ks, MAX_KERNEL_SOCKS);
    struct cli_snapshot s;
    if (n <= 0 || cli_snapshot_take(t, cfg, want->addr.port, &s) != 0)
        return false;
    bool found = false;
    for (int i = 0; i < n && i < MAX_KERNEL_SOCKS && !found; i++) {
        if (!holds_port(&ks[i]) || in_table(&s, ks[i].inode) ||
            !rules_overlap(&ks[i].local, true, &want->addr))
            continue;
        o->k = ks[i];
        struct table_entry e = { .inode = ks[i].inode, .uid = ks[i].uid, .fd = -1 };
        holder_find(&e, &o->holder);
        found = true;
    }
    cli_snapshot_free(&s);
    return found;
}

struct answer {
    const struct table_entry *want;
    int verdict;                 /* 1 refused by bindguard, 2 by the kernel, 0 free */
    struct guard_refusal ref;
    struct outsider out;
    char want_s[64], line[LOG_LINE_MAX + 64];
};

static void say_holder(const struct answer *a, char *buf, size_t len)
{
    char held[64];
    const struct holder *h = &a->out.holder;
    address_format(&a->out.k.local, held, sizeof held);
    int n = h->pid > 0 ? snprintf(buf, len, "pid %d (%.*s, uid %u)", h->pid, TABLE_COMM_LEN,
                                  h->comm, a->out.k.uid)
                       : snprintf(buf, len, "uid %u", a->out.k.uid);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " on %s", held);
}

static void compose_line(struct answer *a, const char *cls)
{
    const char *proto = cli_proto_name(a->want->proto);
    if (a->verdict == 1) {
        snprintf(a->line, sizeof a->line, "%s", a->ref.line);
    } else if (a->verdict == 2) {
        char who[160];
        say_holder(a, who, sizeof who);
        snprintf(a->line, sizeof a->line, "bind %s/%s would be refused by the kernel "
                 "(EADDRINUSE): held by %s, which runs without bindguard", a->want_s, proto,
                 who);
    } else {
        snprintf(a->line, sizeof a->line, "bind %s/%s (%s) would succeed now", a->want_s,
                 proto, cls);
    }
}

static void json_holder(struct json *j, const struct answer *a)
{
    char addr[64];
    const struct table_entry *e = &a->ref.held;
    bool ours = a->verdict == 1;
    const struct holder *h = ours ? &a->ref.holder : &a->out.holder;
    address_format(ours ? &e->addr : &a->out.k.local, addr, sizeof addr);
    json_object_begin(j, "holder");
    if (h->pid > 0)
        json_int(j, "pid", h->pid);
    else
        json_null(j, "pid");
    json_string(j, "command", h->comm);
    json_uint(j, "uid", ours ? e->uid : a->out.k.uid);
    json_string(j, "address", addr);
    json_string(j, "class", ours ? policy_class_name((enum bg_class)e->cls) : NULL);
    json_bool(j, "listening", ours ? (e->flags & TABLE_F_LISTENING) != 0
                                   : a->out.k.state == TCP_LISTEN);
    json_bool(j, "bindguard", ours);
    json_object_end(j);
}

static void print_json(const struct answer *a, const char *cls, const char *profile)
{
    struct json j;
    int err = a->verdict == 1 ? policy_errno(a->ref.verdict) : a->verdict == 2 ? EADDRINUSE : 0;
    json_document_begin(&j, stdout);
    json_string(&j, "address", a->want_s);
    json_string(&j, "proto", cli_proto_name(a->want->proto));
    json_string(&j, "class", cls);
    json_string(&j, "profile", profile);
    json_bool(&j, "allowed", a->verdict == 0);
    json_string(&j, "verdict", a->verdict == 1 ? policy_verdict_name(a->ref.verdict)
                               : a->verdict == 2 ? "KERNEL" : "SUCCESS");
    if (err)
        json_string(&j, "errno", cli_errno_name(err));
    else
        json_null(&j, "errno");
    if (a->verdict)
        json_holder(&j, a);
    else
        json_null(&j, "holder");
    json_string(&j, "message", a->line);
    json_document_end(&j);
}

static int check_main(const struct cli_command *self, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"as", required_argument, NULL, 'a'},
        CLI_OPTION_PROFILE, CLI_OPTION_TABLE, CLI_OPTION_HELP, {0},
    };
    bool json = false;
    int cls = -1, c;
    while ((c = cli_getopt(self, argc, argv, "ja:", opts)) != -1) {
        if (c == 'j')
            json = true;
        else if (c == 'a' && (cls = policy_class_parse(optarg)) < 0)
            return cli_usage("check: --as wants default, reuseaddr or exclusive, not '%s'",
                             optarg);
        else if (c != 'a')
            return cli_opt_exit(c);
    }
    if (argc - optind != 1)
        return cli_usage("check: give one ADDR:PORT/PROTO, e.g. 0.0.0.0:8080/tcp");
    struct bg_addr addr;
    uint8_t proto;
    if (!cli_parse_endpoint(argv[optind], &addr, &proto) || addr.port == 0)
        return cli_usage("check: bad address '%s' (want ADDR:PORT[/tcp|/udp], port 1..65535)",
                         argv[optind]);

    const struct bg_config *cfg = config_get();
    if (cls < 0)
        cls = (int)cli_unmodified_class(cfg);
    struct guard_real real = { bind, setsockopt };
    guard_init(cfg, &real);
    char why[256];
    struct table *t = cli_table_open(cfg, why, sizeof why);
    if (!t) {
        cli_fail("check: cannot judge: %s", why);
        return CHECK_EXIT_UNKNOWN;
    }
    struct table_entry want;
    make_want(&addr, proto, (enum bg_class)cls, &want);
    struct answer a = { .want = &want };
    address_format(&addr, a.want_s, sizeof a.want_s);
    int r = guard_check(t, &want, &a.ref);
    if (r < 0)
        return CHECK_EXIT_UNKNOWN;
    a.verdict = r == 1 ? 1 : find_outsider(t, cfg, &want, &a.out) ? 2 : 0;
    const char *cls_name = policy_class_name((enum bg_class)cls);
    compose_line(&a, cls_name);
    if (json)
        print_json(&a, cls_name, cfg->profile->name);
    else
        printf("bindguard: %s\n", a.line);
    return a.verdict ? CLI_EXIT_FAIL : 0;
}

const struct cli_command cli_check = {
    "check", check_main, "would my bind succeed now, and who holds the port (exit 0/1)",
    "usage: bindguard check [--json] [--as CLASS] [--profile P] [--table NAME] ADDR:PORT[/PROTO]\n"
    "\n"
    "Judges a bind of ADDR:PORT (tcp unless /udp) by the current user exactly as the\n"
    "library would now: every binding in the port table, confirmed with the kernel. Also\n"
    "names a socket the kernel has on the port that runs without bindguard.\n"
    "Exit 0: the bind would succeed; 1: it would be refused (the line names the holder);\n"
    "2: bad arguments; 3: the port table could not be judged.\n"
    "\n"
    "  --as CLASS     the class of the bind: default, reuseaddr or exclusive (default: what\n"
    "                 an unmodified program gets, exclusive)\n"
    "  --json         one JSON object\n"
    "  --profile P    ws2003 (default), xp, wsk, or a Windows name (see run --help)\n"
    "  --table PREFIX the port tables' prefix (default: $BINDGUARD_TABLE or /bindguard-v3)\n",
};
