/* list, gc - the live bindings, and reaping the ones whose sockets are gone. */
#include "cli.h"

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
#include "own.h"

/* ---- list -------------------------------------------------------------------------- */

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
    if (c->live == GUARD_STALE) {
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
    json_string(j, "table", c->table ? c->table : own_path);
    json_string(j, "proto", cli_proto_name(e->proto));
    json_string(j, "address", r->addr);
    json_int(j, "port", e->addr.port);
    json_string(j, "family", e->addr.family == AF_INET6 ? "ipv6" : "ipv4");
    json_bool(j, "v6only", e->addr.v6only);
    json_string(j, "class", policy_class_name((enum bg_class)e->cls));
    json_bool(j, "explicit", e->flags & TABLE_F_EXPLICIT);
    json_bool(j, "listening", e->flags & TABLE_F_LISTENING);
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
    json_object_end(j);
}

static void text_entry(const struct cli_entry *c, const struct row *r)
{
    char pid[16] = "-", comm[sizeof r->comm];
    if (r->pid > 0)
        snprintf(pid, sizeof pid, "%d", r->pid);
    /* Any process can name itself; its name must not drive the terminal. */
    for (size_t i = 0; i < sizeof comm; i++)
        comm[i] = (r->comm[i] > 0 && r->comm[i] < 0x20) || r->comm[i] == 0x7f ? '?' : r->comm[i];
    printf("%-5s %-26s %-9s %-6s %-7s %-15s %-6u %-10s %s\n", cli_proto_name(c->e.proto),
           r->addr, policy_class_name((enum bg_class)c->e.cls),
           (c->e.flags & TABLE_F_LISTENING) ? "yes" : "no", pid, comm, c->e.uid, r->since,
           cli_liveness_name(c->live));
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
        printf("%-5s %-26s %-9s %-6s %-7s %-15s %-6s %-10s %s\n", "PROTO", "ADDRESS", "CLASS",
               "LISTEN", "PID", "COMMAND", "UID", "SINCE", "STATE");
    }
    for (size_t i = 0; i < s->n; i++) {
        if (!shown(&s->v[i], o, here))
            continue;
        struct row r;
        row_of(&s->v[i], &r);
        if (o->json)
            json_entry(&j, &s->v[i], &r, path);
        else
            text_entry(&s->v[i], &r);
    }
    if (o->json) {
        json_array_end(&j);
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
                return cli_usage("list: --port wants 1..65535, not '%s'", optarg);
            break;
        default:
            return cli_opt_exit(c);
        }
    }
    int rc = cli_no_operands(self, argc, argv);
    if (rc >= 0)
        return rc;
    const struct bg_config *cfg = config_get();
    char why[256];
    struct table *t = cli_table_open(cfg, why, sizeof why);
    if (!t)
        return cli_fail("%s", why);
    struct cli_snapshot s;
    if (cli_snapshot_take(t, cfg, o.port, &s) != 0)
        return cli_fail("%s", s.why);
    if (s.n)
        qsort(s.v, s.n, sizeof *s.v, by_port);
    print_list(&s, &o, table_path(t));
    cli_snapshot_free(&s);
    return fflush(stdout) == 0 ? 0 : CLI_EXIT_FAIL;
}

const struct cli_command cli_list = {
    "list", list_main, "the live bindings, each confirmed with the kernel",
    "usage: bindguard list [--json] [--port N] [--stale] [--all-namespaces] [--table NAME]\n"
    "\n"
    "The bindings in the port table whose sockets the kernel still shows: protocol,\n"
    "address:port, class, listening, the pid and command holding the socket now, uid,\n"
    "and since when.\n"
    "\n"
    "  --json             one JSON object: {\"version\", \"table\", \"netns\", \"bindings\": [...]}\n"
    "  --port N           only port N\n"
    "  --stale            also entries whose sockets are gone (state \"stale\")\n"
    "  --all-namespaces   also entries of other network namespaces; the kernel can't\n"
    "                     confirm those from here (state \"unconfirmed\")\n"
    "  --table PREFIX     the port tables' prefix (default: $BINDGUARD_TABLE or /bindguard-v3)\n",
};

/* ---- gc ---------------------------------------------------------------------------- */

struct gc_call {
    struct table *t;
    unsigned timeout_ms;
    const struct cli_snapshot *s;
    int err;
    unsigned reaped, lingered;
    char repaired[160];   /* what table_check found, if it found something */
};

/* Under the lock again, by (idx, id): an entry replaced since the snapshot is left alone. */
static void gc_locked(void *arg)
{
    struct gc_call *g = arg;
    g->err = table_lock(g->t, g->timeout_ms);
    if (g->err != 0)
        return;
    for (size_t i = 0; i < g->s->n; i++) {
        const struct cli_entry *c = &g->s->v[i];
        if (c->table)
            continue;   /* another user's: never written from here (doc/design.md) */
        if (c->live == GUARD_STALE) {
            g->reaped += table_release(g->t, c->idx, c->e.id);
        } else if (c->live == GUARD_LINGERING && !(c->e.flags & TABLE_F_LINGER)) {
            g->lingered += table_set_flags(g->t, c->idx, c->e.id, TABLE_F_LINGER, 0);
        }
    }
    if (table_check(g->t, g->repaired, sizeof g->repaired) != 0)
        table_rebuild(g->t);
    else
        g->repaired[0] = '\0';
    table_unlock(g->t);
}

/* The file behind a table name, as table_open resolves it (for --rebuild, when the
 * table can't be opened at all). */
/* This user's table file under the prefix (own.h's first name). */
static void table_file(const char *prefix, char *buf, size_t len)
{
    char name[CONFIG_PATH_MAX + 32];
    if (!own_name(prefix, geteuid(), 0, name, sizeof name) ||
        !table_file_path(name, buf, len, NULL, 0))
        snprintf(buf, len, "%s", prefix);
}

static int unusable(const char *name, const char *why, bool rebuild, bool as_json)
{
    if (!rebuild)
        return cli_fail("%s; `bindguard gc --rebuild` removes it so that the next bind "
                        "creates a fresh table", why);
    char path[CONFIG_PATH_MAX + 48];
    table_file(name, path, sizeof path);
    if (unlink(path) != 0)
        return cli_fail("%s; cannot remove %s: %s", why, path, strerror(errno));
    if (as_json) {
        struct json j;
        json_document_begin(&j, stdout);
        json_string(&j, "table", path);
        json_bool(&j, "removed", true);
        json_string(&j, "why", why);
        json_document_end(&j);
    } else {
        printf("bindguard gc: removed %s (%s); the next bind creates a fresh table\n", path, why);
    }
    return 0;
}

/* Entries of our own table (foreign: of the others) in state l. */
static int count_live(const struct cli_snapshot *s, enum guard_liveness l, bool foreign)
{
    int n = 0;
    for (size_t i = 0; i < s->n; i++)
        n += s->v[i].live == l && (s->v[i].table != NULL) == foreign;
    return n;
}

static void gc_json(const struct table *t, const struct gc_call *g, const struct cli_snapshot *s)
{
    struct json j;
    json_document_begin(&j, stdout);
    json_string(&j, "table", table_path(t));
    json_bool(&j, "removed", false);
    json_uint(&j, "reaped", g->reaped);
    json_int(&j, "live", count_live(s, GUARD_LIVE, false));
    json_int(&j, "lingering", count_live(s, GUARD_LINGERING, false));
    json_int(&j, "unconfirmed", count_live(s, GUARD_UNKNOWN, false));
    if (g->repaired[0])
        json_string(&j, "rebuilt_chains", g->repaired);
    else
        json_null(&j, "rebuilt_chains");
    json_document_end(&j);
}

static int gc_table(const struct bg_config *cfg, bool rebuild, bool as_json)
{
    char why[256];
    struct table *t = cli_table_open(cfg, why, sizeof why);
    if (!t)
        return unusable(cfg->table, why, rebuild, as_json);
    struct cli_snapshot s;
    if (cli_snapshot_take(t, cfg, 0, &s) != 0)
        return s.err == ETIMEDOUT || s.err == ENOMEM ? cli_fail("%s", s.why)
                                                      : unusable(cfg->table, s.why, rebuild,
                                                                 as_json);
    struct gc_call g = { .t = t, .timeout_ms = cfg->lock_timeout_ms, .s = &s };
    if (!fault_call(gc_locked, &g))
        g.err = EFAULT;
    int rc = 0;
    if (g.err != 0) {
        rc = cli_fail("port table %s: %s while reaping", table_path(t),
                      g.err == ETIMEDOUT ? "lock held too long" : "lost");
    } else if (as_json) {
        gc_json(t, &g, &s);
    } else {
        printf("bindguard gc: reaped %u stale entr%s from %s (%d live, %d lingering, "
               "%d unconfirmed)\n", g.reaped, g.reaped == 1 ? "y" : "ies", table_path(t),
               count_live(&s, GUARD_LIVE, false), count_live(&s, GUARD_LINGERING, false),
               count_live(&s, GUARD_UNKNOWN, false));
        if (g.repaired[0])
            printf("bindguard gc: rebuilt the table's chains (%s)\n", g.repaired);
        /* Never written from here, root included: doc/design.md "Trust domains". */
        if (s.n_paths)
            printf("bindguard gc: left %zu other user%s table%s alone (%d stale entr%s there; "
                   "only their owners reap them)\n", s.n_paths, s.n_paths == 1 ? "'s" : "s'",
                   s.n_paths == 1 ? "" : "s", count_live(&s, GUARD_STALE, true),
                   count_live(&s, GUARD_STALE, true) == 1 ? "y" : "ies");
    }
    cli_snapshot_free(&s);
    return rc;
}

static int gc_main(const struct cli_command *self, int argc, char **argv)
{
    static const struct option opts[] = {
        {"rebuild", no_argument, NULL, 'r'}, {"json", no_argument, NULL, 'j'},
        CLI_OPTION_TABLE, CLI_OPTION_HELP, {0},
    };
    bool rebuild = false, as_json = false;
    int c;
    while ((c = cli_getopt(self, argc, argv, "rj", opts)) != -1) {
        if (c == 'r')
            rebuild = true;
        else if (c == 'j')
            as_json = true;
        else
            return cli_opt_exit(c);
    }
    int rc = cli_no_operands(self, argc, argv);
    if (rc >= 0)
        return rc;
    return gc_table(config_get(), rebuild, as_json);
}

const struct cli_command cli_gc = {
    "gc", gc_main, "reap entries whose sockets are gone; print how many",
    "usage: bindguard gc [--rebuild] [--json] [--table NAME]\n"
    "\n"
    "Confirms every entry of the port table with the kernel and removes those whose\n"
    "sockets are gone (entries of other network namespaces are left alone), then checks\n"
    "the table's chains and rebuilds them if they are inconsistent.\n"
    "\n"
    "  --rebuild      if the table is unusable (its lock held by a thread that no longer\n"
    "                 exists, failed validation, truncated, not a table), remove its file\n"
    "                 so that the next bind creates a fresh one. Without it, gc only\n"
    "                 says so and exits 1.\n"
    "  --json         one JSON object: {\"version\", \"table\", \"removed\", \"reaped\",\n"
    "                 \"live\", \"lingering\", \"unconfirmed\", \"rebuilt_chains\"} (a table\n"
    "                 removed by --rebuild: {\"version\", \"table\", \"removed\": true, \"why\"})\n"
    "  --table PREFIX the port tables' prefix (default: $BINDGUARD_TABLE or /bindguard-v3)\n",
};
