/* demo - each hijack scenario run twice, on plain Linux and under bindguard, side by side.
 *
 * Every run is real: a holder and a hijacker, both this binary re-executed as a bind
 * agent (demo_agent.c), without LD_PRELOAD and then with the library `run` would preload,
 * on a fresh 127.0.0.1 port, with a private table under /dev/shm removed afterwards. The
 * children die with us (PR_SET_PDEATHSIG), so an interrupted demo leaves nothing bound.
 * A row is "as documented" when both outcomes are the ones listed in
 * doc/security.md "What it protects against"; the exit status says whether every row was. */
#include "cli.h"

#include <errno.h>
#include <limits.h>
#include <netinet/in.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bg_config.h"
#include "demo.h"
#include "json.h"
#include "kready.h"

enum outcome {
    OUT_NA,         /* not run: see the row's note */
    OUT_TAKEN,      /* the hijacker got the port */
    OUT_REFUSED,    /* its bind failed */
    OUT_NOOPT,      /* the holder's SO_EXCLUSIVEADDRUSE is unknown (plain Linux) */
    OUT_BROKEN,     /* the holder could not bind, or an agent did not answer */
    OUT_NOLIB,      /* the loader could not preload the library (for that user) */
};

struct scenario {
    const char *name;
    struct demo_bind holder, hijacker;
    bool hijacker_nobody;       /* the hijacker runs as nobody (needs root) */
    /* The kernel backend's row: under bindguard too the hijacker has no library (it
     * stands for a static binary), so only the backend can refuse it. Runs only when
     * kready_probe() finds the backend enabled; n/a, with what is missing, otherwise. */
    bool hijacker_unguarded;
    enum outcome want_linux, want_bg;
    bool want_named;            /* bindguard's refusal names the holder */
    const char *note;           /* said under the table, when the row needs it */
};

/* Wildcard holders only ever bind (a listening socket stays on loopback). */
static const struct scenario scenarios[] = {
    { "pre-listen server, SO_REUSEADDR hijack",
      { "0.0.0.0", DEMO_REUSEADDR, false }, { "127.0.0.1", DEMO_REUSEADDR, false },
      false, false, OUT_TAKEN, OUT_REFUSED, true, NULL },
    { "bound-only socket, same address",
      { "127.0.0.1", DEMO_REUSEADDR, false }, { "127.0.0.1", DEMO_REUSEADDR, false },
      false, false, OUT_TAKEN, OUT_REFUSED, true, NULL },
    { "SO_REUSEPORT group, same-uid joiner",
      { "127.0.0.1", DEMO_REUSEPORT, true }, { "127.0.0.1", DEMO_REUSEPORT, true },
      false, false, OUT_TAKEN, OUT_TAKEN, false,
      "SO_REUSEPORT opts into sharing (Windows' SO_REUSEADDR): a same-user joiner is let in "
      "by both; a server that wants its port alone leaves it off" },
    { "second server on the port",
      { "127.0.0.1", 0, true }, { "127.0.0.1", 0, true },
      false, false, OUT_REFUSED, OUT_REFUSED, true, NULL },
    { "SO_EXCLUSIVEADDRUSE server",
      { "127.0.0.1", DEMO_EXCLUSIVE, true }, { "127.0.0.1", DEMO_REUSEADDR, false },
      false, false, OUT_NOOPT, OUT_REFUSED, true, NULL },
    { "pre-listen hijack by another user",
      { "0.0.0.0", DEMO_REUSEADDR, false }, { "127.0.0.1", DEMO_REUSEADDR, false },
      true, false, OUT_TAKEN, OUT_REFUSED, true, NULL },
    { "pre-listen hijack by a static binary",
      { "0.0.0.0", DEMO_REUSEADDR, false }, { "127.0.0.1", DEMO_REUSEADDR, false },
      false, true, OUT_TAKEN, OUT_REFUSED, false,
      "a program without the library (static, Go, setuid) is stopped only by the kernel "
      "backend" },
};
#define N_SCENARIOS (sizeof scenarios / sizeof scenarios[0])

struct run {
    uint16_t port;
    enum outcome out;
    int err;              /* the hijacker's errno, or the holder's when it failed */
    char named[96];       /* whom bindguard's refusal names: "pid N (comm, uid U)" */
};

struct row {
    const struct scenario *s;
    struct run linux_run, bg_run;
    const char *na;       /* why it was not run */
    bool ok;
};

struct demo {
    char lib[PATH_MAX];
    char table[64];
    uid_t nobody_uid;
    gid_t nobody_gid;
    bool have_nobody;
    struct kready k;
    char k_missing[256];
};

/* The tables the demo's processes make under its prefix: one per user (doc/design.md
 * "Trust domains"), ours and nobody's. Names made beforehand: unlink is all a signal
 * handler may do. */
static char tables_to_remove[2][96];

static void remove_table(void)
{
    for (int i = 0; i < 2; i++)
        if (tables_to_remove[i][0])
            unlink(tables_to_remove[i]);
}

static void on_signal(int sig)
{
    remove_table();
    signal(sig, SIG_DFL);
    raise(sig);
}

/* "pid N (comm, uid U)" from the library's refusal line "... held ... by pid N (comm,
 * uid U) on ADDR ...". */
static void holder_named(const char *log, char *buf, size_t len)
{
    const char *by = strstr(log, " by pid ");
    const char *end = by ? strstr(by, ") on ") : NULL;
    if (by && end)
        snprintf(buf, len, "%.*s", (int)(end + 1 - (by + 4)), by + 4);
    else
        buf[0] = '\0';
}

static void run_pair(const struct demo *d, const struct scenario *s, bool guarded,
                     uint16_t port, struct run *r)
{
    memset(r, 0, sizeof *r);
    r->port = port;
    struct demo_agent holder, hijacker;
    struct demo_spawn how = { .lib = guarded ? d->lib : NULL, .table = d->table,
                              .role = DEMO_HOLDER };
    struct demo_result hr, jr;
    if (!demo_agent_start(&how, &s->holder, port, &holder) ||
        !demo_agent_result(&holder, &hr)) {
        r->out = OUT_BROKEN;
        demo_agent_stop(&holder);
        return;
    }
    if (hr.opt_err == ENOPROTOOPT && (s->holder.opts & DEMO_EXCLUSIVE)) {
        r->out = OUT_NOOPT;
        r->err = ENOPROTOOPT;
        demo_agent_stop(&holder);
        return;
    }
    if (hr.opt_err || hr.bind_err) {
        r->out = OUT_BROKEN;
        r->err = hr.opt_err ? hr.opt_err : hr.bind_err;
        demo_agent_stop(&holder);
        return;
    }
    how.role = DEMO_HIJACKER;
    how.lib = guarded && !s->hijacker_unguarded ? d->lib : NULL;
    if (s->hijacker_nobody) {
        how.uid = d->nobody_uid;
        how.gid = d->nobody_gid;
        how.as_other = true;
    }
    if (!demo_agent_start(&how, &s->hijacker, port, &hijacker) ||
        !demo_agent_result(&hijacker, &jr)) {
        r->out = OUT_BROKEN;
    } else {
        int err = jr.opt_err ? jr.opt_err : jr.bind_err;
        r->out = err ? OUT_REFUSED : OUT_TAKEN;
        /* ld.so's own complaint: e.g. nobody can't read a library under a private dir. */
        if (how.lib && strstr(jr.log, "cannot be preloaded"))
            r->out = OUT_NOLIB;
        r->err = err;
        holder_named(jr.log, r->named, sizeof r->named);
    }
    demo_agent_stop(&hijacker);
    demo_agent_stop(&holder);
}

/* Why a row is not run here, or NULL. */
static const char *not_here(const struct demo *d, const struct scenario *s)
{
    static char why[320];
    if (s->hijacker_nobody && !d->k.root)
        return "n/a: needs root (to run the hijacker as nobody)";
    if (s->hijacker_nobody && !d->have_nobody)
        return "n/a: no user 'nobody'";
    if (s->hijacker_unguarded && !d->k.enabled) {
        snprintf(why, sizeof why, "n/a: kernel backend not built/enabled (missing: %s)", d->k_missing);
        return why;
    }
    return NULL;
}

static void run_row(const struct demo *d, struct row *row)
{
    const struct scenario *s = row->s;
    if ((row->na = not_here(d, s)) != NULL) {
        row->ok = true;
        return;
    }
    /* A fresh port for each run, so that nothing of one run can decide the next. */
    row->ok = true;
    if (s->hijacker_unguarded) {
        /* The kernel backend judges every process on the host: no plain run exists. */
        row->linux_run.out = OUT_NA;
    } else {
        run_pair(d, s, false, demo_free_port(), &row->linux_run);
        row->ok = row->linux_run.out == s->want_linux;
    }
    run_pair(d, s, true, demo_free_port(), &row->bg_run);
    row->ok = row->ok && row->bg_run.out == s->want_bg &&
              (!s->want_named || row->bg_run.named[0]);
}

static const char *outcome_name(enum outcome o)
{
    static const char *const names[] = {
        [OUT_NA] = "n/a", [OUT_TAKEN] = "taken", [OUT_REFUSED] = "refused",
        [OUT_NOOPT] = "no such option", [OUT_BROKEN] = "did not run",
        [OUT_NOLIB] = "library not loaded",
    };
    return names[o];
}

static void cell(const struct run *r, char *buf, size_t len)
{
    if (r->out == OUT_REFUSED || (r->out == OUT_BROKEN && r->err))
        snprintf(buf, len, "%s %s", outcome_name(r->out), cli_errno_name(r->err));
    else
        snprintf(buf, len, "%s", outcome_name(r->out));
}

static void who_holds(const struct row *row, char *buf, size_t len)
{
    const struct run *b = &row->bg_run;
    if (b->out == OUT_TAKEN)
        snprintf(buf, len, "holder and hijacker");
    else if (b->named[0])
        snprintf(buf, len, "%s", b->named);
    else if (b->out == OUT_REFUSED)
        snprintf(buf, len, "holder (not named)");
    else if (b->out == OUT_NOLIB)
        snprintf(buf, len, "(the hijacker's user can't read the library?)");
    else
        snprintf(buf, len, "-");
}

static void print_text(const struct row *rows, size_t n, bool all_ok)
{
    printf("Each scenario ran twice on a fresh 127.0.0.1 port: both programs on plain Linux,\n"
           "then both under bindguard (profile ws2003). \"taken\": the hijacker got the port.\n\n");
    printf("%-40s %-20s %-20s %s\n", "scenario", "Linux", "bindguard", "who holds it");
    for (size_t i = 0; i < n; i++) {
        const struct row *r = &rows[i];
        if (r->na) {
            printf("%-40s %s\n", r->s->name, r->na);
            continue;
        }
        char l[40], b[40], who[120];
        cell(&r->linux_run, l, sizeof l);
        cell(&r->bg_run, b, sizeof b);
        who_holds(r, who, sizeof who);
        printf("%-40s %-20s %-20s %s%s\n", r->s->name, l, b, who,
               r->ok ? "" : "   <- NOT AS DOCUMENTED");
    }
    bool noted = false;
    for (size_t i = 0; i < n; i++)
        if (rows[i].s->note && (!rows[i].na || rows[i].s->hijacker_unguarded)) {
            printf("%s%s: %s.\n", noted ? "" : "\n", rows[i].s->name, rows[i].s->note);
            noted = true;
        }
    putchar('\n');
    cli_tell(stdout, "%s", all_ok ? "every row behaved as documented."
                                  : "FAILED: a row did not behave as documented.");
}

static void json_run(struct json *j, const char *key, const struct run *r)
{
    json_object_begin(j, key);
    json_uint(j, "port", r->port);
    json_string(j, "outcome", outcome_name(r->out));
    if (r->err)
        json_string(j, "errno", cli_errno_name(r->err));
    else
        json_null(j, "errno");
    if (r->named[0])
        json_string(j, "holder", r->named);
    else
        json_null(j, "holder");
    json_object_end(j);
}

static void print_json(const struct row *rows, size_t n, bool all_ok)
{
    struct json j;
    json_document_begin(&j, stdout);
    json_string(&j, "profile", "ws2003");
    json_bool(&j, "as_documented", all_ok);
    json_array_begin(&j, "rows");
    for (size_t i = 0; i < n; i++) {
        json_object_begin(&j, NULL);
        json_string(&j, "scenario", rows[i].s->name);
        if (rows[i].na) {
            json_string(&j, "skipped", rows[i].na);
        } else {
            json_run(&j, "linux", &rows[i].linux_run);
            json_run(&j, "bindguard", &rows[i].bg_run);
            json_bool(&j, "as_documented", rows[i].ok);
        }
        json_object_end(&j);
    }
    json_array_end(&j);
    json_document_end(&j);
}

static int demo_main(const struct cli_command *self, int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], DEMO_AGENT_FLAG) == 0)
        return demo_agent_main(argc - 1, argv + 1);
    static const struct option opts[] = {
        {"json", no_argument, NULL, 'j'}, CLI_OPTION_HELP, {0},
    };
    bool as_json = false;
    int c;
    while ((c = cli_getopt(self, argc, argv, "j", opts)) != -1) {
        if (c != 'j')
            return cli_opt_exit(c);
        as_json = true;
    }
    int rc = cli_no_operands(argc, argv);
    if (rc >= 0)
        return rc;

    static struct demo d;
    char tried[3 * PATH_MAX];
    if (!cli_find_library(d.lib, sizeof d.lib, tried, sizeof tried))
        return cli_fail("cannot find libbindguard.so (looked in %s)", tried);
    kready_probe(&d.k);
    kready_missing(&d.k, d.k_missing, sizeof d.k_missing);
    struct passwd *pw = getpwnam("nobody");
    if (pw) {
        d.have_nobody = true;
        d.nobody_uid = pw->pw_uid;
        d.nobody_gid = pw->pw_gid;
    }
    snprintf(d.table, sizeof d.table, "/dev/shm/bg-demo-%d", (int)getpid());
    snprintf(tables_to_remove[0], sizeof tables_to_remove[0], "%s.%u", d.table,
             (unsigned)geteuid());
    if (d.have_nobody)
        snprintf(tables_to_remove[1], sizeof tables_to_remove[1], "%s.%u", d.table,
                 (unsigned)d.nobody_uid);
    remove_table();
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGHUP, on_signal);
    signal(SIGPIPE, SIG_IGN);

    struct row rows[N_SCENARIOS];
    bool all_ok = true;
    for (size_t i = 0; i < N_SCENARIOS; i++) {
        rows[i] = (struct row){ .s = &scenarios[i] };
        run_row(&d, &rows[i]);
        all_ok &= rows[i].ok;
    }
    remove_table();
    if (as_json)
        print_json(rows, N_SCENARIOS, all_ok);
    else
        print_text(rows, N_SCENARIOS, all_ok);
    return all_ok ? 0 : CLI_EXIT_FAIL;
}

const struct cli_command cli_demo = {
    "demo", demo_main, "show, in a few seconds, what bindguard changes (a self-test)",
    "usage: bindguard demo [--json]\n"
    "\n"
    "Runs each hijack scenario twice on fresh 127.0.0.1 ports, with a private port table\n"
    "that is removed afterwards: a holder and a hijacker on plain Linux, then both with\n"
    "libbindguard.so preloaded. Prints one row per scenario: what Linux did, what\n"
    "bindguard did, and whom bindguard named as holding the port. Rows that need root\n"
    "(another user) or the kernel backend (a static hijacker) say n/a when they can't run.\n"
    "Exits 0 when every row behaved as documented, 1 when one did not.\n"
    "\n"
    "  --json     one JSON object: {\"version\", \"as_documented\", \"rows\": [...]}\n",
};
