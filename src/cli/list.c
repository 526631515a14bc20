/* list - the live bindings, each confirmed with the kernel. */
#include "cli.h"

#include <limits.h>

#include <errno.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "fault.h"
#include "holder.h"
#include "json.h"
#include "kernel_backend.h"
#include "own.h"
#include "text.h"

struct list_opts {
    bool json, stale, all_netns;
    uint16_t port;   /* 0: every port */
};

static bool shown(const struct cli_entry *c, const struct list_opts *o, uint64_t here)
{
    if (o->port && c->e.addr.port != o->port)
        return false;
    if (c->e.netns != here && !o->all_netns)
        return false;
    return c->live != GUARD_STALE || o->stale;
}

static int by_port(const void *a, const void *b)
{
    const struct table_entry *x = &((const struct cli_entry *)a)->e;
    const struct table_entry *y = &((const struct cli_entry *)b)->e;
    if (x->addr.port != y->addr.port)
        return x->addr.port < y->addr.port ? -1 : 1;
    if (x->proto != y->proto)
        return x->proto < y->proto ? -1 : 1;
    return x->since < y->since ? -1 : x->since > y->since;
}

/* What list shows of one entry: a stale entry's process is history, so it shows what
 * the table recorded; the others name a process that holds the socket now. */
struct row {
    char addr[64], comm[TABLE_COMM_LEN + 1], since[24];
    int pid;
};

static void row_of(const struct cli_entry *c, struct row *r)
{
    address_format(&c->e.addr, r->addr, sizeof r->addr);
    cli_format_since(c->e.since, r->since, sizeof r->since);
    if (c->live == GUARD_STALE || c->kernel) {
        r->pid = c->e.pid;
        table_entry_comm(&c->e, r->comm, sizeof r->comm);
        return;
    }
    struct holder h;
    holder_find(&c->e, &h);
    r->pid = h.pid;
    snprintf(r->comm, sizeof r->comm, "%.*s", TABLE_COMM_LEN, h.comm);
}

static void json_entry(struct json *j, const struct cli_entry *c, const struct row *r,
                       const char *own_path)
{
    const struct table_entry *e = &c->e;
    json_object_begin(j, NULL);
    json_string(j, "table", c->kernel ? NULL : c->table ? c->table : own_path);
    json_string(j, "proto", cli_proto_name(e->proto));
    json_string(j, "address", r->addr);
    json_int(j, "port", e->addr.port);
    json_string(j, "family", e->addr.family == AF_INET6 ? "ipv6" : "ipv4");
    json_bool(j, "v6only", e->addr.v6only);
    json_string(j, "class", policy_class_name((enum bg_class)e->cls));
    json_bool(j, "explicit", e->flags & TABLE_F_EXPLICIT);
    json_bool(j, "listening", c->listening);
    json_string(j, "state", cli_liveness_name(c->live));
    if (r->pid > 0)
        json_int(j, "pid", r->pid);
    else
        json_null(j, "pid");
    json_string(j, "command", r->comm);
    json_uint(j, "uid", e->uid);
    json_int(j, "since", e->since);
    json_uint(j, "inode", e->inode);
    json_uint(j, "netns", e->netns);
    json_string(j, "netns_name", c->ns_name[0] ? c->ns_name : NULL);
    if (c->ns_pid > 0)
        json_int(j, "netns_pid", c->ns_pid);
    else
        json_null(j, "netns_pid");
    json_string(j, "backend", c->kernel ? "kernel" : "library");
    json_object_end(j);
}

/* "here", or the cookie and what leads into the namespace. */
static void netns_of(const struct cli_entry *c, uint64_t here, char *buf, size_t len)
{
    char name[sizeof c->ns_name];
    snprintf(name, sizeof name, "%s", c->ns_name);
    text_defang(name, strlen(name));
    if (c->e.netns == here)
        snprintf(buf, len, "here");
    else if (name[0])
        snprintf(buf, len, "%llu (ip netns %s)", (unsigned long long)c->e.netns, name);
    else if (c->ns_pid > 0)
        snprintf(buf, len, "%llu (pid %d)", (unsigned long long)c->e.netns, c->ns_pid);
    else
        snprintf(buf, len, "%llu", (unsigned long long)c->e.netns);
}

static void text_entry(const struct cli_entry *c, const struct row *r, bool netns,
                       uint64_t here)
{
    char pid[16] = "-", comm[sizeof r->comm];
    if (r->pid > 0)
        snprintf(pid, sizeof pid, "%d", r->pid);
    /* Any process can name itself; its name must not drive the terminal (text.h). */
    snprintf(comm, sizeof comm, "%s", r->comm);
    text_defang(comm, strlen(comm));
    printf("%-5s %-26s %-9s %-6s %-7s %-15s %-6u %-10s %-8s ", cli_proto_name(c->e.proto),
           r->addr, policy_class_name((enum bg_class)c->e.cls),
           c->kernel ? "-" : c->listening ? "yes" : "no", pid, comm, c->e.uid, r->since,
           c->kernel ? "kernel" : "library");
    if (netns) {
        char ns[128];
        netns_of(c, here, ns, sizeof ns);
        printf("%-11s %s\n", cli_liveness_name(c->live), ns);
    } else {
        printf("%s\n", cli_liveness_name(c->live));
    }
}

/* Entries shown that another namespace's kernel could not confirm. */
static int unconfirmed(const struct cli_snapshot *s, const struct list_opts *o, uint64_t here)
{
    int n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += shown(&s->v[i], o, here) && s->v[i].live == GUARD_UNKNOWN && s->v[i].e.netns != here;
    return n;
}

static void print_list(const struct cli_snapshot *s, const struct list_opts *o,
                       const char *path)
{
    uint64_t here = cli_netns();
    struct json j;
    if (o->json) {
        json_document_begin(&j, stdout);
        json_string(&j, "table", path);
        json_uint(&j, "netns", here);
        json_array_begin(&j, "bindings");
    } else {
        printf("%-5s %-26s %-9s %-6s %-7s %-15s %-6s %-10s %-8s %s%s\n", "PROTO", "ADDRESS",
               "CLASS", "LISTEN", "PID", "COMMAND", "UID", "SINCE", "BACKEND",
               o->all_netns ? "STATE       " : "STATE", o->all_netns ? "NETNS" : "");
    }
    for (size_t i = 0; i < s->n; i++) {
        if (!shown(&s->v[i], o, here))
            continue;
        struct row r;
        row_of(&s->v[i], &r);
        if (o->json)
            json_entry(&j, &s->v[i], &r, path);
        else
            text_entry(&s->v[i], &r, o->all_netns, here);
    }
    if (o->json) {
        json_array_end(&j);
        json_string(&j, "unconfirmed_why", unconfirmed(s, o, here) ? s->netns_why : NULL);
        json_document_end(&j);
    }
}

static int list_main(const struct cli_command *self, int argc, char **argv)
{
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'},
        {"port", required_argument, NULL, 'p'},
        {"stale", no_argument, NULL, 's'},
        {"all-namespaces", no_argument, NULL, 'A'},
        CLI_OPTION_TABLE, CLI_OPTION_HELP, {0},
    };
    struct list_opts o = {0};
    int c;
    while ((c = cli_getopt(self, argc, argv, "jp:sA", opts)) != -1) {
        switch (c) {
        case 'j': o.json = true; break;
        case 's': o.stale = true; break;
        case 'A': o.all_netns = true; break;
        case 'p':
            if (!cli_parse_port(optarg, &o.port))
                return cli_usage("--port wants 1..65535, not '%s'", optarg);
            break;
        default:
            return cli_opt_exit(c);
        }
    }
    int rc = cli_no_operands(argc, argv);
    if (rc >= 0)
        return rc;
    const struct bg_config *cfg = cli_config(false);
    if (!cfg)
        return CLI_EXIT_USAGE;
    char why[PATH_MAX + 256];
    struct table *t = cli_table_open(cfg, why, sizeof why);
    /* No table of yours yet: other users' tables are still listed; none at all is the
     * missing table. */
    if (!t && errno != ENOENT)
        return cli_fail("%s", why);
    struct cli_snapshot s;
    if (cli_snapshot_take(t, cfg, o.port, &s) != 0)
        return cli_fail("%s", s.why);
    if (!t && s.n_paths == 0) {
        cli_snapshot_free(&s);
        return cli_fail("%s", why);
    }
    cli_snapshot_add_kernel(&s, o.port);
    if (s.n)
        qsort(s.v, s.n, sizeof *s.v, by_port);
    if (o.all_netns)
        cli_netns_confirm(&s);
    char own[PATH_MAX];
    cli_table_file(cfg->table, own, sizeof own);
    print_list(&s, &o, t ? table_path(t) : own);
    int n = o.json ? 0 : unconfirmed(&s, &o, cli_netns());
    if (n)
        cli_tell(stderr, "%d entr%s of other network namespaces unconfirmed: %s", n,
                 n == 1 ? "y" : "ies", s.netns_why);
    cli_snapshot_free(&s);
    return fflush(stdout) == 0 ? 0 : CLI_EXIT_FAIL;
}

const struct cli_command cli_list = {
    "list", list_main, "the live bindings, each confirmed with the kernel",
    "usage: bindguard list [--json] [--port N] [--stale] [--all-namespaces] [--table NAME]\n"
    "\n"
    "The bindings in the port table whose sockets the kernel still shows: protocol,\n"
    "address:port, class, listening, the pid and command holding the socket now, uid,\n"
    "and since when; then, as root, the kernel backend's (BACKEND kernel).\n"
    "\n"
    "  --json             one JSON object: {\"version\", \"table\", \"netns\", \"bindings\": [...]}\n"
    "  --port N           only port N\n"
    "  --stale            also entries whose sockets are gone (state \"stale\")\n"
    "  --all-namespaces   also entries of other network namespaces, with a NETNS column\n"
    "                     (cookie, and the `ip netns` name or a pid in it), confirmed\n"
    "                     from inside each namespace (root); those that can't be are\n"
    "                     \"unconfirmed\", and why is said\n"
    "  --table PREFIX     the port tables' prefix (default: $BINDGUARD_TABLE or /bindguard-v3)\n",
};
