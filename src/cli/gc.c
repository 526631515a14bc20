/* gc - reap the entries whose sockets are gone; remove a table that can't be used.
 *
 * The only file bindguard ever removes is a port table of the caller's: one that carries
 * the table's magic, checked on the file itself just before, owned by the caller, and
 * still the one under the caller's table name (own_file: squatted names skipped). */
#include "cli.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bindguard.h"
#include "fault.h"
#include "json.h"

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

/* Does the file carry a table's magic (read from the file itself)? Its identity in *st. */
static bool is_table_file(const char *path, struct stat *st)
{
    int fd = open(path, O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
    uint64_t magic = 0;
    bool ok = fd >= 0 && fstat(fd, st) == 0 && S_ISREG(st->st_mode) &&
              pread(fd, &magic, sizeof magic, 0) == (ssize_t)sizeof magic &&
              magic == TABLE_MAGIC;
    if (fd >= 0)
        close(fd);
    return ok;
}

/* May this process unlink it: write access to its directory, and past a sticky bit? */
static bool may_remove(const char *path, const struct stat *st)
{
    char dir[PATH_MAX];
    struct stat ds;
    snprintf(dir, sizeof dir, "%s", path);
    char *slash = strrchr(dir, '/');
    if (!slash)
        return false;
    slash[slash == dir] = '\0';
    if (stat(dir, &ds) != 0 || access(dir, W_OK | X_OK) != 0)
        return false;
    uid_t me = geteuid();
    return !(ds.st_mode & S_ISVTX) || me == 0 || st->st_uid == me || ds.st_uid == me;
}

/* A table that can't be used: with --rebuild, its file removed, if it is a table's and
 * ours (under whichever of own.h's names it has); else only advice that would work. */
static int unusable(const struct bg_config *cfg, const char *why, bool rebuild, bool as_json)
{
    char path[PATH_MAX], again[CONFIG_PATH_MAX + 64];
    struct stat st, now;
    cli_table_file(cfg->table, path, sizeof path);
    if (!is_table_file(path, &st))
        return cli_fail("%s; bindguard removes only its own tables, so it leaves this file "
                        "alone: move it away, or name another table", why);
    /* cli_table_file skips names squatted by others: a file of someone else's here was
     * swapped in since, and is theirs to remove, root's gc included. */
    if (st.st_uid != geteuid())
        return cli_fail("%s; %s belongs to uid %u, so it is left alone", why, path,
                        (unsigned)st.st_uid);
    bool named = strcmp(cfg->table, BINDGUARD_DEFAULT_TABLE) != 0;
    snprintf(again, sizeof again, "`bindguard gc --rebuild%s%s`", named ? " --table " : "",
             named ? cfg->table : "");
    if (!may_remove(path, &st))
        return cli_fail("%s; only its owner (uid %u) or root can remove it, with %s", why,
                        (unsigned)st.st_uid, again);
    if (!rebuild)
        return cli_fail("%s; %s removes it so that the next bind creates a fresh table", why,
                        again);
    /* Still the file just checked: a name swapped meanwhile is left alone. */
    if (lstat(path, &now) != 0 || now.st_dev != st.st_dev || now.st_ino != st.st_ino)
        return cli_fail("%s; %s changed while being checked, so it was left alone", why, path);
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
        cli_tell(stdout, "removed %s (%s); the next bind creates a fresh table", path, why);
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

/* Why entries stayed unconfirmed: other namespaces', or the kernel here. */
static const char *unconfirmed_why(const struct cli_snapshot *s)
{
    uint64_t here = cli_netns();
    for (size_t i = 0; i < s->n; i++)
        if (s->v[i].live == GUARD_UNKNOWN && s->v[i].e.netns != here)
            return s->netns_why;
    return "the kernel could not be asked (sock_diag)";
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
    json_string(&j, "unconfirmed_why", count_live(s, GUARD_UNKNOWN, false) ? unconfirmed_why(s) : NULL);
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
        return errno == ENOENT ? cli_fail("%s", why) : unusable(cfg, why, rebuild, as_json);
    struct cli_snapshot s;
    if (cli_snapshot_take(t, cfg, 0, &s) != 0)
        return s.err == ETIMEDOUT || s.err == ENOMEM ? cli_fail("%s", s.why)
                                                      : unusable(cfg, s.why, rebuild, as_json);
    cli_netns_confirm(&s);
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
        cli_tell(stdout, "reaped %u stale entr%s from %s (%d live, %d lingering, "
                 "%d unconfirmed)", g.reaped, g.reaped == 1 ? "y" : "ies", table_path(t),
               count_live(&s, GUARD_LIVE, false), count_live(&s, GUARD_LINGERING, false),
               count_live(&s, GUARD_UNKNOWN, false));
        if (count_live(&s, GUARD_UNKNOWN, false))
            cli_tell(stdout, "left the unconfirmed alone: %s", unconfirmed_why(&s));
        if (g.repaired[0])
            cli_tell(stdout, "rebuilt the table's chains (%s)", g.repaired);
        /* Never written from here, root included: doc/design.md "Trust domains". */
        if (s.n_paths)
            cli_tell(stdout, "left %zu other user%s table%s alone (%d stale entr%s there; "
                     "only their owners reap them)", s.n_paths, s.n_paths == 1 ? "'s" : "s'",
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
    int rc = cli_no_operands(argc, argv);
    if (rc >= 0)
        return rc;
    const struct bg_config *cfg = cli_config(false);
    return cfg ? gc_table(cfg, rebuild, as_json) : CLI_EXIT_USAGE;
}

const struct cli_command cli_gc = {
    "gc", gc_main, "reap entries whose sockets are gone; print how many",
    "usage: bindguard gc [--rebuild] [--json] [--table NAME]\n"
    "\n"
    "Confirms every entry of the port table with the kernel and removes those whose\n"
    "sockets are gone, then checks the table's chains and rebuilds them if they are\n"
    "inconsistent. Entries of other network namespaces are confirmed from inside them\n"
    "(entered through a process of theirs or an `ip netns` name; needs root); those that\n"
    "can't be are left alone, and gc says why.\n"
    "\n"
    "  --rebuild      if the table is unusable (its lock held by a thread that no longer\n"
    "                 exists, failed validation, truncated), remove its file so that the\n"
    "                 next bind creates a fresh one. Without it, gc only says so and exits\n"
    "                 1. A file that isn't a bindguard table, or isn't yours, is never\n"
    "                 removed.\n"
    "  --json         one JSON object: {\"version\", \"table\", \"removed\", \"reaped\",\n"
    "                 \"live\", \"lingering\", \"unconfirmed\", \"unconfirmed_why\",\n"
    "                 \"rebuilt_chains\"} (a table removed by --rebuild: {\"version\",\n"
    "                 \"table\", \"removed\": true, \"why\"})\n"
    "  --table PREFIX the port tables' prefix (default: $BINDGUARD_TABLE or /bindguard-v3)\n",
};
