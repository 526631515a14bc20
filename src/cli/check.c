/* check - would a bind succeed now, and who holds the port? For CI jobs.
 *
 * Judged in the order a real bind meets them: bindguard first, by guard_check() (the
 * judging code every bind runs, with the table as the kernel confirms it); then, if
 * bindguard lets it through, the kernel, by a throwaway socket of the same class
 * (probe.c) bound and closed. The answer says which of the two refuses, and names the
 * socket the kernel has in the way. With no table at all, only the kernel answers. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
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
#include "kernel_backend.h"
#include "text.h"

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

enum refused_by { NOBODY, BINDGUARD, KERNEL };

struct answer {
    const struct table_entry *want;
    const char *cls, *table;     /* table: its file, NULL if there is none */
    enum refused_by by;
    struct guard_refusal ref;    /* by bindguard */
    int kernel_err;              /* the probe's errno */
    /* by the kernel: the socket in the way, if one is found */
    bool have_holder, holder_ours;
    struct kernel_sock k;
    struct holder holder;
    struct table_entry held;     /* its entry, if holder_ours */
    char want_s[64], table_s[PATH_MAX], line[LOG_LINE_MAX + PATH_MAX];
};

static bool holds_port(const struct kernel_sock *k)
{
    return k->proto == IPPROTO_UDP || k->state == TCP_LISTEN || k->state == TCP_CLOSE;
}

/* Our entry for a kernel socket, from a snapshot of the port. */
static bool entry_of(const struct cli_snapshot *s, uint32_t inode, struct table_entry *e)
{
    for (size_t i = 0; s && i < s->n; i++)
        if (s->v[i].e.inode == inode && s->v[i].live != GUARD_STALE) {
            *e = s->v[i].e;
            return true;
        }
    return false;
}

/* The socket the kernel has in the way: one on the port whose address overlaps (a
 * listener first), named by a process that holds it. */
static void find_kernel_holder(struct table *t, const struct bg_config *cfg, struct answer *a)
{
    struct kernel_sock ks[MAX_KERNEL_SOCKS];
    int n = kernel_port_sockets(a->want->proto, a->want->addr.port, ks, MAX_KERNEL_SOCKS);
    int best = -1;
    for (int i = 0; i < n && i < MAX_KERNEL_SOCKS; i++)
        if (holds_port(&ks[i]) && rules_overlap(&ks[i].local, true, &a->want->addr) &&
            (best < 0 || (ks[i].state == TCP_LISTEN && ks[best].state != TCP_LISTEN)))
            best = i;
    if (best < 0)
        return;
    a->have_holder = true;
    a->k = ks[best];
    struct cli_snapshot s;
    bool snap = t && cli_snapshot_take(t, cfg, a->want->addr.port, &s) == 0;
    a->holder_ours = snap && entry_of(&s, a->k.inode, &a->held);
    if (snap)
        cli_snapshot_free(&s);
    struct table_entry e = { .inode = a->k.inode, .uid = a->k.uid, .fd = -1 };
    holder_find(a->holder_ours ? &a->held : &e, &a->holder);
}

static void say_holder(const struct answer *a, char *buf, size_t len)
{
    char held[64], comm[TABLE_COMM_LEN + 1];
    const struct holder *h = &a->holder;
    address_format(&a->k.local, held, sizeof held);
    snprintf(comm, sizeof comm, "%.*s", TABLE_COMM_LEN, h->comm);
    text_defang(comm, strlen(comm));  /* any process names itself (text.h) */
    int n = h->pid > 0 ? snprintf(buf, len, "pid %d (%s, uid %u)", h->pid, comm, a->k.uid)
                       : snprintf(buf, len, "uid %u", a->k.uid);
    if (n > 0 && (size_t)n < len)
        snprintf(buf + n, len - (size_t)n, " on %s%s", held, !a->holder_ours
                 ? ", which runs without bindguard"
                 : a->held.cls == BG_CLASS_REUSEADDR ? ", for sharing, under bindguard"
                                                     : ", under bindguard");
}

static void compose_line(struct answer *a)
{
    const char *proto = cli_proto_name(a->want->proto);
    char tail[PATH_MAX + 64] = "";
    if (!a->table)
        snprintf(tail, sizeof tail, "; no port table %s to judge it by (is the name right?)",
                 a->table_s);
    if (a->by == BINDGUARD) {
        snprintf(a->line, sizeof a->line, "%s", a->ref.line);
    } else if (a->by == KERNEL) {
        char why[200];
        if (a->kernel_err == EADDRINUSE && a->have_holder) {
            memcpy(why, "held by ", 9);
            say_holder(a, why + 8, sizeof why - 8);
        } else {
            snprintf(why, sizeof why, "%s", strerror(a->kernel_err));
        }
        snprintf(a->line, sizeof a->line, "bind %s/%s would be refused by the kernel (%s)%s: "
                 "%s%s", a->want_s, proto, cli_errno_name(a->kernel_err),
                 a->table ? ", though bindguard allows it" : "", why, tail);
    } else if (a->table) {
        snprintf(a->line, sizeof a->line, "bind %s/%s (%s) would succeed now", a->want_s,
                 proto, a->cls);
    } else {
        snprintf(a->line, sizeof a->line, "bind %s/%s (%s): the kernel would let it bind%s",
                 a->want_s, proto, a->cls, tail);
    }
}

static void json_holder(struct json *j, const struct answer *a)
{
    char addr[64];
    bool judged = a->by == BINDGUARD, ours = judged || a->holder_ours;
    const struct table_entry *e = judged ? &a->ref.held : &a->held;
    const struct holder *h = judged ? &a->ref.holder : &a->holder;
    if (!judged && !a->have_holder) {
        json_null(j, "holder");
        return;
    }
    address_format(judged ? &e->addr : &a->k.local, addr, sizeof addr);
    json_object_begin(j, "holder");
    if (h->pid > 0)
        json_int(j, "pid", h->pid);
    else
        json_null(j, "pid");
    json_string(j, "command", h->comm);
    json_uint(j, "uid", judged ? e->uid : a->k.uid);
    json_string(j, "address", addr);
    json_string(j, "class", ours ? policy_class_name((enum bg_class)e->cls) : NULL);
    json_bool(j, "listening", judged ? (e->flags & TABLE_F_LISTENING) != 0
                                     : a->k.state == TCP_LISTEN);
    json_bool(j, "bindguard", ours);
    json_object_end(j);
}

static void print_json(const struct answer *a, const char *profile)
{
    struct json j;
    static const char *const by_name[] = { [NOBODY] = NULL, [BINDGUARD] = "bindguard",
                                           [KERNEL] = "kernel" };
    int err = a->by == BINDGUARD ? policy_errno(a->ref.verdict) : a->kernel_err;
    json_document_begin(&j, stdout);
    json_string(&j, "address", a->want_s);
    json_string(&j, "proto", cli_proto_name(a->want->proto));
    json_string(&j, "class", a->cls);
    json_string(&j, "profile", profile);
    json_string(&j, "table", a->table);
    json_bool(&j, "allowed", a->by == NOBODY);
    json_string(&j, "refused_by", by_name[a->by]);
    json_string(&j, "verdict", a->by == BINDGUARD ? policy_verdict_name(a->ref.verdict)
                               : a->by == KERNEL ? "KERNEL" : "SUCCESS");
    if (err)
        json_string(&j, "errno", cli_errno_name(err));
    else
        json_null(&j, "errno");
    if (a->by != NOBODY)
        json_holder(&j, a);
    else
        json_null(&j, "holder");
    json_string(&j, "message", a->line);
    json_document_end(&j);
}

/* bindguard's verdict, if there is a table: -1 when it can't be judged (said). */
/* The kernel backend's bindings, where it is in use: a refusal there is bindguard's. */
static int judge_kernel_backend(struct answer *a, const struct bg_config *cfg)
{
    if (kernel_view_check(a->want, cfg->profile, &a->ref) != 1)
        return 0;
    a->by = BINDGUARD;
    return 1;
}

static int judge(struct answer *a, struct table **t, const struct bg_config *cfg)
{
    char why[PATH_MAX + 128];
    *t = cli_table_open(cfg, why, sizeof why);
    cli_table_file(cfg->table, a->table_s, sizeof a->table_s);
    if (!*t && errno != ENOENT)
        return cli_fail("cannot judge: %s", why), -1;
    if (*t)
        a->table = a->table_s;
    guard_init(cfg);
    /* No table of yours yet (t NULL): the other users' tables still judge. */
    int r = guard_check(*t, a->want, &a->ref);
    if (r == 1)
        a->by = BINDGUARD;
    return r == 0 ? judge_kernel_backend(a, cfg) : r;
}

/* "ADDR:PORT/PROTO" with --as and --emulate: -1, or an exit status. */
static int check_options(const struct cli_command *self, int argc, char **argv, int *cls,
                         bool *json, bool *emulate)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"as", required_argument, NULL, 'a'},
        {"emulate", no_argument, NULL, 'e'},
        CLI_OPTION_PROFILE, CLI_OPTION_TABLE, CLI_OPTION_HELP, {0},
    };
    int c;
    while ((c = cli_getopt(self, argc, argv, "ja:e", opts)) != -1) {
        if (c == 'j')
            *json = true;
        else if (c == 'e')
            *emulate = true;
        else if (c == 'a' && (*cls = policy_class_parse(optarg)) < 0)
            return cli_usage("--as wants default, reuseaddr or exclusive, not '%s'", optarg);
        else if (c != 'a')
            return cli_opt_exit(c);
    }
    if (argc - optind != 1)
        return cli_usage("give one ADDR:PORT/PROTO, e.g. 0.0.0.0:8080/tcp");
    return -1;
}

static int check_main(const struct cli_command *self, int argc, char **argv)
{
    bool json = false, emulate = false;
    int cls = -1;
    int rc = check_options(self, argc, argv, &cls, &json, &emulate);
    if (rc >= 0)
        return rc;
    struct bg_addr addr;
    uint8_t proto;
    if (!cli_parse_endpoint(argv[optind], &addr, &proto) || addr.port == 0)
        return cli_usage("bad address '%s' (want ADDR:PORT[/tcp|/udp] or PORT, port 1..65535)",
                         argv[optind]);
    const struct bg_config *cfg = cli_config(false);
    if (!cfg)
        return CLI_EXIT_USAGE;
    emulate |= cfg->emulate;
    if (cls < 0)
        cls = (int)cli_unmodified_class(cfg);
    struct table_entry want;
    make_want(&addr, proto, (enum bg_class)cls, &want);
    struct answer a = { .want = &want, .cls = policy_class_name((enum bg_class)cls) };
    address_format(&addr, a.want_s, sizeof a.want_s);
    struct table *t;
    if (judge(&a, &t, cfg) < 0)
        return CHECK_EXIT_UNKNOWN;
    if (a.by == NOBODY) {
        a.kernel_err = probe_socket(&addr, proto, probe_options(cfg, (enum bg_class)cls, proto,
                                                                emulate), false, NULL);
        if (a.kernel_err) {
            a.by = KERNEL;
            find_kernel_holder(t, cfg, &a);
        }
    }
    compose_line(&a);
    if (json)
        print_json(&a, cfg->profile->name);
    else
        printf("bindguard: %s\n", a.line);
    return a.by != NOBODY ? CLI_EXIT_FAIL : a.table ? 0 : CHECK_EXIT_UNKNOWN;
}

const struct cli_command cli_check = {
    "check", check_main, "would my bind succeed now, and who holds the port (exit 0/1)",
    "usage: bindguard check [--json] [--as CLASS] [--emulate] [--profile P] [--table NAME]\n"
    "                       ADDR:PORT[/PROTO] | [:]PORT[/PROTO]\n"
    "\n"
    "Judges a bind of ADDR:PORT (tcp unless /udp; PORT alone: every address, both IP\n"
    "stacks) by the current user as a real one would meet it: first bindguard, exactly as\n"
    "the library would judge it now (every binding in the port table, confirmed with the\n"
    "kernel); then, if bindguard allows it, the kernel, by binding and closing a socket of\n"
    "that class. Says which of the two refuses, and who holds the port.\n"
    "Exit 0: the bind would succeed; 1: it would be refused (the line names the holder);\n"
    "2: bad arguments; 3: the port table is missing or could not be judged (the kernel's\n"
    "answer is still given).\n"
    "\n"
    "  --as CLASS     the class of the bind: default, reuseaddr or exclusive (default: what\n"
    "                 an unmodified program gets, exclusive)\n"
    "  --emulate      as under `bindguard run --emulate` (also $BINDGUARD_EMULATE)\n"
    "  --json         one JSON object\n"
    "  --profile P    ws2003 (default), xp, wsk, or a Windows name (see run --help)\n"
    "  --table PREFIX the port tables' prefix (default: $BINDGUARD_TABLE or /bindguard-v3)\n",
};
