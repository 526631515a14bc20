/* test_cells - every cell of tests/data/bind-rules.tsv as real binds by real processes.
 *
 * A tbind under the shim holds a port; a second tbind binds the same port and what it
 * answers is compared with the TSV. Denials must come out exactly as the table says.
 * Allowed cells are compared with the plain kernel, measured in this very run by the same
 * two tbinds without the shim: guard mode must never make Linux stricter or laxer than
 * the policy says, and emulate mode must make same-user sharing really work. */
#include "harness.h"
#include "proc.h"

#include "bindguard.h"

#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

enum {
    TSV_ROWS = 144,
    ROWS_PER_TABLE = 36,
    LINE_LEN = 256,
    RESULT_LEN = 96,
    LOG_LEN = 2048,
    MAX_GROUP = 8,
    MAX_CELLS = 256,    /* cells one check_cells() call may take */
    ANSWER_MS = 20000,  /* generous: a sanitizer build starts slowly on a loaded machine */
    PORT_LOW = 20000,   /* below Linux's ephemeral range, so no kernel-chosen port collides */
    PORT_HIGH = 40000,
};

enum opt { OPT_DEFAULT, OPT_REUSEADDR, OPT_EXCLUSIVE, NOPT };
enum addr { ADDR_WILDCARD, ADDR_SPECIFIC, ADDR_SPECIFIC2, NADDR };
/* The TSV's verdicts, then V_OK: the bind must work whatever (Specific2). */
enum verdict { V_SUCCESS, V_CHECK, V_INUSE, V_ACCESS, V_OK };
enum mode { NATIVE, GUARD, EMULATE };
enum proto { TCP, UDP };

static const char *const opt_names[] = { "default", "reuseaddr", "exclusive" };
/* The TSV names only the first two; specific2 is 127.0.0.2 beside a first on 127.0.0.1. */
static const char *const addr_names[NADDR] = { "wildcard", "specific", "specific2" };
static const char *const verdict_names[] = { "SUCCESS", "CHECK", "INUSE", "ACCESS" };
static const char *const mode_names[] = { "native", "guard", "emulate" };

#define COUNT(a) ((int)(sizeof(a) / sizeof((a)[0])))

/* doc/design.md "Option mapping": Windows' sharing option is SO_REUSEPORT for TCP
 * (Linux's SO_REUSEADDR only revives TIME_WAIT ports there) and SO_REUSEADDR for UDP. */
static const char *const opt_args[NOPT][2] = {
    [OPT_DEFAULT] = { NULL, NULL },
    [OPT_REUSEADDR] = { "reuseport", "reuseaddr" },
    [OPT_EXCLUSIVE] = { "exclusive", "exclusive" },
};

/* doc/design.md "Profiles": who has SO_EXCLUSIVEADDRUSE, and where only root may set it.
 * Written out here rather than asked of policy.c, which is what is under test. An alias
 * has the same rules and option support as the entry before it. */
static const struct profile {
    const char *name;
    bool has_exclusive, needs_root, alias;
} profiles[] = {
    { "ws2003", true, false, false }, { "vista", true, false, true },
    { "ws2008", true, false, true },  { "win7", true, false, true },
    { "xp", true, true, false },      { "nt4", true, true, true },
    { "win2000", true, true, true },  { "win95", false, false, false },
    { "win98", false, false, true },  { "winme", false, false, true },
    { "wsk", true, false, false },
};

struct net {
    enum proto proto;
    int family;   /* 4, or 6 with IPV6_V6ONLY */
    bool listen;  /* the first socket listens */
};

static const struct net nets_all[] = {
    { TCP, 4, false }, { TCP, 4, true }, { TCP, 6, false },
    { TCP, 6, true },  { UDP, 4, false }, { UDP, 6, false },
};
/* Specific2 needs two loopback addresses, which only IPv4 has. */
static const struct net nets_v4[] = { { TCP, 4, false }, { TCP, 4, true }, { UDP, 4, false } };

static const char *addr_text(enum addr a, int family)
{
    static const char *const v4[NADDR] = { "0.0.0.0", "127.0.0.1", "127.0.0.2" };
    static const char *const v6[NADDR] = { "::", "::1", NULL };
    return (family == 4 ? v4 : v6)[a];
}

struct side {
    enum opt opt;
    enum addr addr;
};

struct cell {
    int row;                /* 1-based TSV data row; 0 for cells made up here */
    char text[LINE_LEN];    /* for messages */
    const char *profile;
    const char *user;       /* the TSV's: same, different or any */
    bool nobody;            /* the second binds as `nobody` */
    struct side first, second;
    enum verdict verdict;
};

/* What one test run binds under: the shim's environment, or none at all (NATIVE). */
struct setting {
    enum mode mode;
    const char *profile;
    bool implicit_default;   /* leave BINDGUARD_DEFAULT unset (exclusive) */
    const char *share_uids;  /* BINDGUARD_SHARE_UIDS, given to the first process only */
    const char *table;
    const char *log;         /* BINDGUARD_LOG file, read after every second bind */
};

struct tally {
    char group[96];
    int checked, failed, skipped;
};

/* ---- the TSV ------------------------------------------------------------------------ */

static const char *const user_names[] = { "same", "different", "any" };

static int lookup(const char *const *names, int n, const char *s)
{
    for (int i = 0; i < n; i++)
        if (strcmp(names[i], s) == 0)
            return i;
    return -1;
}

static const char *profile_name(const char *s)
{
    for (int i = 0; i < COUNT(profiles); i++)
        if (strcmp(profiles[i].name, s) == 0)
            return profiles[i].name;
    return NULL;
}

static void parse_row(char *line, int row, struct cell *c)
{
    char *f[9];
    int n = 0;
    snprintf(c->text, sizeof c->text, "%s", line);
    for (char *p = c->text; (p = strchr(p, '\t'));)
        *p = ' ';
    for (char *tok = strtok(line, "\t"); tok && n < 9; tok = strtok(NULL, "\t"))
        f[n++] = tok;
    ck_assert_msg(n == 8, "TSV row %d has %d fields: %s", row, n, c->text);
    int fo = lookup(opt_names, NOPT, f[2]), fa = lookup(addr_names, ADDR_SPECIFIC2, f[3]);
    int so = lookup(opt_names, NOPT, f[4]), sa = lookup(addr_names, ADDR_SPECIFIC2, f[5]);
    int v = lookup(verdict_names, COUNT(verdict_names), f[6]);
    int u = lookup(user_names, COUNT(user_names), f[1]);
    c->row = row;
    c->profile = profile_name(f[0]);
    ck_assert_msg(c->profile && fo >= 0 && fa >= 0 && so >= 0 && sa >= 0 && v >= 0 && u >= 0,
                  "TSV row %d not understood: %s", row, c->text);
    c->user = user_names[u];
    c->nobody = c->user == user_names[1];
    c->first = (struct side){ (enum opt)fo, (enum addr)fa };
    c->second = (struct side){ (enum opt)so, (enum addr)sa };
    c->verdict = (enum verdict)v;
}

static struct cell tsv[TSV_ROWS];

static void load_tsv(void)
{
    char path[512], line[LINE_LEN];
    harness_data_path("bind-rules.tsv", path, sizeof path);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f != NULL, "%s: %s", path, strerror(errno));
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (line[0] == '#' || line[0] == '\0' || strncmp(line, "profile\t", 8) == 0)
            continue;
        ck_assert_msg(n < TSV_ROWS, "more than %d rows in %s", TSV_ROWS, path);
        parse_row(line, n + 1, &tsv[n]);
        n++;
    }
    fclose(f);
    ck_assert_msg(n == TSV_ROWS, "%s: %d rows, expected %d", path, n, TSV_ROWS);
}

/* ---- agents: tbind in a child process (proc.c) ------------------------------------- */

/* The agent's first line, or why there is none. Bounded, so that an agent hung in the
 * shim costs ANSWER_MS rather than the whole suite's timeout. */
static void agent_line(struct proc *p, char *buf, size_t len)
{
    const char *line = proc_line(p, ANSWER_MS);
    if (line)
        snprintf(buf, len, "%s", line);
    else if (p->out >= 0)
        snprintf(buf, len, "(no answer within %d ms)", ANSWER_MS);
    else  /* at EOF: whatever it wrote without a newline */
        snprintf(buf, len, "%.*s", (int)(p->olen - p->opos), p->obuf + p->opos);
    if (!buf[0])
        snprintf(buf, len, "(no output)");
}

/* Let it go (a holder exits at EOF) and reap it: its exit status, -1 if it died. What it
 * said on stderr (a sanitizer's report, say) goes on to ours. */
static int agent_end(struct proc *p)
{
    int status = proc_finish(p, ANSWER_MS);
    if (p->elen)
        fprintf(stderr, "%s", p->ebuf);
    return status;
}

/* ---- one side of a pair as a tbind command ----------------------------------------- */

enum { MAX_ARGS = 20, ARG_LEN = 320 };

struct strv {
    char *v[MAX_ARGS + 1];
    char s[MAX_ARGS][ARG_LEN];
    int n;
};

static void strv_add(struct strv *a, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void strv_add(struct strv *a, const char *fmt, ...)
{
    ck_assert_int_lt(a->n, MAX_ARGS);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(a->s[a->n], ARG_LEN, fmt, ap);
    va_end(ap);
    a->v[a->n] = a->s[a->n];
    a->v[++a->n] = NULL;
}

/* Natively SO_EXCLUSIVEADDRUSE is just ENOPROTOOPT, so the native twin of an exclusive
 * socket is a socket with no option. */
static const char *opt_arg(enum opt o, enum proto p, enum mode m)
{
    return m == NATIVE && o == OPT_EXCLUSIVE ? NULL : opt_args[o][p];
}

/* The shim's settings beyond its table and log. proc_spawn adds those and LD_PRELOAD,
 * and keeps any BINDGUARD_* or LD_PRELOAD of whoever runs the suite from the cells. */
static void agent_env(struct strv *e, const struct setting *st, bool first)
{
    e->n = 0;
    e->v[0] = NULL;
    if (st->mode == NATIVE)
        return;
    strv_add(e, "%s=%s", BINDGUARD_ENV_PROFILE, st->profile);
    if (!st->implicit_default)
        strv_add(e, "%s=windows", BINDGUARD_ENV_DEFAULT);
    if (st->mode == EMULATE)
        strv_add(e, "%s=1", BINDGUARD_ENV_EMULATE);
    if (first && st->share_uids)
        strv_add(e, "%s=%s", BINDGUARD_ENV_SHARE_UIDS, st->share_uids);
}

static struct proc *launch(const struct setting *st, const struct net *net, struct side s,
                           bool nobody, int port, bool first)
{
    struct strv av = { .n = 0 }, ev;
    char tbind[512];
    ck_assert_msg(harness_agent_path("tbind", tbind, sizeof tbind), "no agent %s", tbind);
    strv_add(&av, "%s", tbind);
    strv_add(&av, "-f");
    strv_add(&av, "%d", net->family);
    strv_add(&av, "-p");
    strv_add(&av, "%s", net->proto == TCP ? "tcp" : "udp");
    strv_add(&av, "-a");
    strv_add(&av, "%s", addr_text(s.addr, net->family));
    strv_add(&av, "-P");
    strv_add(&av, "%d", port);
    const char *o = opt_arg(s.opt, net->proto, st->mode);
    if (o) {
        strv_add(&av, "-o");
        strv_add(&av, "%s", o);
    }
    if (first)
        strv_add(&av, "-h");
    if (first && net->listen)
        strv_add(&av, "-l");
    struct proc_how how = { .shim = st->mode != NATIVE, .table = st->table,
                            .log = st->log ? st->log : "off", .as_nobody = nobody };
    agent_env(&ev, st, first);
    ck_assert_int_le(ev.n, COUNT(how.env));
    for (int i = 0; i < ev.n; i++)
        how.env[i] = ev.v[i];
    return proc_spawn(&how, (const char *const *)av.v);
}

/* ---- ports ------------------------------------------------------------------------- */

static bool port_free(int port)
{
    static const struct { int family, type; } probes[] = {
        { AF_INET, SOCK_STREAM }, { AF_INET, SOCK_DGRAM },
        { AF_INET6, SOCK_STREAM }, { AF_INET6, SOCK_DGRAM },
    };
    for (int i = 0; i < COUNT(probes); i++) {
        int fd = socket(probes[i].family, probes[i].type, 0), on = 1, r;
        if (fd < 0)
            return false;
        if (probes[i].family == AF_INET) {
            struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
            r = bind(fd, (struct sockaddr *)&sin, sizeof sin);
        } else {
            struct sockaddr_in6 sin6 = { .sin6_family = AF_INET6,
                                         .sin6_port = htons((uint16_t)port) };
            setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &on, sizeof on);
            r = bind(fd, (struct sockaddr *)&sin6, sizeof sin6);
        }
        close(fd);
        if (r != 0)
            return false;
    }
    return true;
}

/* A port nothing uses on either protocol or family. Each run of the suite starts at its
 * own random place so that parallel suites (other build directories) rarely meet. */
static int fresh_port(void)
{
    static int next;
    if (!next) {
        srand((unsigned)getpid() ^ (unsigned)time(NULL));
        next = PORT_LOW + rand() % (PORT_HIGH - PORT_LOW);
    }
    for (int tries = 0; tries < PORT_HIGH - PORT_LOW; tries++) {
        int port = next;
        next = next + 1 < PORT_HIGH ? next + 1 : PORT_LOW;
        if (port_free(port))
            return port;
    }
    ck_abort_msg("no free port in %d..%d", PORT_LOW, PORT_HIGH - 1);
    return 0;
}

/* ---- a holder and its challengers --------------------------------------------------- */

struct answer {
    char line[RESULT_LEN];  /* "OK" (on the port asked for) or tbind's line as is */
    int status;             /* exit status, -1 if it died (a sanitizer report, say) */
    char log[LOG_LEN];      /* what the shim logged meanwhile */
};

static void normalise(char *line, int port)
{
    int got;
    char extra;
    if (sscanf(line, "OK %d%c", &got, &extra) == 1 && got == port)
        snprintf(line, RESULT_LEN, "OK");
}

static void log_clear(const struct setting *st)
{
    if (st->log && truncate(st->log, 0) != 0)
        ck_abort_msg("truncate %s: %s", st->log, strerror(errno));
}

static void log_read(const struct setting *st, char *buf, size_t len)
{
    buf[0] = '\0';
    int fd = st->log ? open(st->log, O_RDONLY | O_CLOEXEC) : -1;
    if (fd < 0)
        return;
    ssize_t n = read(fd, buf, len - 1);
    buf[n > 0 ? n : 0] = '\0';
    close(fd);
}

struct challenger {
    struct side side;
    bool nobody;
};

/* Hold `first` on a fresh port, then bind each challenger there in turn. Each exits
 * before the next starts and a refused bind leaves nothing, so in the kernel every
 * challenger meets the holder alone. An allowed one exits without close() and leaves its
 * table entry behind: the shim must find that socket gone and not count it, which is
 * tested here too. Returns the holder's pid, or -1 if it did not bind (then no
 * challenger ran). The holder's own answer is in *holder. */
static pid_t run_pairs(const struct setting *st, const struct net *net, struct side first,
                       const struct challenger *ch, int n, struct answer *holder,
                       struct answer *out)
{
    int port = fresh_port();
    memset(holder, 0, sizeof *holder);
    struct proc *h = launch(st, net, first, false, port, true);
    pid_t pid = h->pid;
    agent_line(h, holder->line, sizeof holder->line);
    normalise(holder->line, port);
    bool bound = strcmp(holder->line, "OK") == 0;
    for (int i = 0; bound && i < n; i++) {
        log_clear(st);
        struct proc *a = launch(st, net, ch[i].side, ch[i].nobody, port, false);
        agent_line(a, out[i].line, sizeof out[i].line);
        normalise(out[i].line, port);
        out[i].status = agent_end(a);
        log_read(st, out[i].log, sizeof out[i].log);
    }
    holder->status = agent_end(h);
    return bound ? pid : -1;
}

/* ---- expectations ------------------------------------------------------------------ */

/* The plain kernel's answer to a pair (memoised: many cells share their kernel options). */
static void native_result(const struct net *net, struct side f, const struct challenger *c,
                          char *out)
{
    static char cache[2][2][2][2][NADDR][2][NADDR][2][RESULT_LEN];
    char *slot = cache[net->proto][net->family == 6][net->listen][f.opt == OPT_REUSEADDR]
                      [f.addr][c->side.opt == OPT_REUSEADDR][c->side.addr][c->nobody];
    if (!slot[0]) {
        const struct setting native = { .mode = NATIVE };
        struct answer holder, second;
        if (run_pairs(&native, net, f, c, 1, &holder, &second) > 0)
            snprintf(slot, RESULT_LEN, "%s", second.line);
        else
            snprintf(slot, RESULT_LEN, "(native holder: %.60s)", holder.line);
    }
    snprintf(out, RESULT_LEN, "%s", slot);
}

static const struct profile *profile_of(const char *name)
{
    for (int i = 0; i < COUNT(profiles); i++)
        if (strcmp(profiles[i].name, name) == 0)
            return &profiles[i];
    ck_abort_msg("unknown profile %s", name);
    return NULL;
}

/* Setting SO_EXCLUSIVEADDRUSE fails before any bind where the profile has no such option
 * or keeps it for root (doc/design.md "Profiles"). */
static const char *option_refusal(const struct setting *st, enum opt o, bool nobody)
{
    if (st->mode == NATIVE || o != OPT_EXCLUSIVE)
        return NULL;
    const struct profile *p = profile_of(st->profile);
    if (!p->has_exclusive)
        return "ERR ENOPROTOOPT setsockopt";
    if (p->needs_root && (nobody || geteuid() != 0))
        return "ERR EACCES setsockopt";
    return NULL;
}

struct expectation {
    char line[RESULT_LEN];
    const char *refusal;  /* the errno bindguard itself must refuse with, and log */
};

static const struct {
    const char *line, *refusal;
} verdict_outcome[] = {
    [V_INUSE] = { "ERR EADDRINUSE bind", "EADDRINUSE" },
    [V_ACCESS] = { "ERR EACCES bind", "EACCES" },
    [V_OK] = { "OK", NULL },
};

/* Denials as the table says; CHECK passes exactly when the holder shares with us
 * (seed 003's access check); an allowed bind is the kernel's business in guard mode, and
 * in emulate mode works for the same user while other users get what Linux gives. */
static void expect_second(const struct setting *st, const struct net *net, const struct cell *c,
                          struct expectation *e)
{
    const char *opt_fail = option_refusal(st, c->second.opt, c->nobody);
    enum verdict v = c->verdict;
    if (v == V_CHECK)
        v = st->share_uids ? V_SUCCESS : V_ACCESS;
    if (st->mode == EMULATE && v == V_SUCCESS && !c->nobody)
        v = V_OK;
    e->refusal = NULL;
    if (opt_fail) {
        snprintf(e->line, sizeof e->line, "%s", opt_fail);
    } else if (v == V_SUCCESS) {
        struct challenger ch = { c->second, c->nobody };
        native_result(net, c->first, &ch, e->line);
    } else {
        snprintf(e->line, sizeof e->line, "%s", verdict_outcome[v].line);
        e->refusal = verdict_outcome[v].refusal;
    }
}

/* A refusal is logged once, naming the holder's pid; anything else logs nothing. */
static bool log_as_expected(const char *log, const struct expectation *e, pid_t holder)
{
    if (!e->refusal)
        return log[0] == '\0';
    char refused[64];
    snprintf(refused, sizeof refused, "refused (%s)", e->refusal);
    const char *nl = strchr(log, '\n');
    const char *pid = strstr(log, " by pid ");
    return strstr(log, refused) && nl && nl[1] == '\0' && pid &&
           strtol(pid + 8, NULL, 10) == holder;
}

/* ---- running cells ------------------------------------------------------------------ */

static void report(struct tally *t, const struct cell *c, const struct net *net,
                   const struct setting *st, const char *what, const char *expected,
                   const char *got)
{
    char row[24] = "";
    int got_len = (int)strlen(got);
    while (got_len > 0 && got[got_len - 1] == '\n')
        got_len--;
    if (c->row)
        snprintf(row, sizeof row, "row %d ", c->row);
    t->failed++;
    fprintf(stderr, "FAIL %s: %s[%s] %s/IPv%d%s%s: %s: expected '%s', got '%.*s'\n",
            t->group, row, c->text, net->proto == TCP ? "tcp" : "udp", net->family,
            net->listen ? ", first listening" : "",
            st->share_uids ? ", first shares with the second's uid" : "", what, expected,
            got_len, got);
}

static void check_group(struct tally *t, const struct setting *st, const struct net *net,
                        const struct cell *const *g, int n)
{
    struct challenger ch[MAX_GROUP];
    struct expectation want[MAX_GROUP];
    struct answer holder, got[MAX_GROUP];
    const char *first_refusal = option_refusal(st, g[0]->first.opt, false);
    const char *first_want = first_refusal ? first_refusal : "OK";
    ck_assert_int_le(n, MAX_GROUP);
    memset(ch, 0, sizeof ch);
    for (int i = 0; i < n; i++) {
        ch[i] = (struct challenger){ g[i]->second, g[i]->nobody };
        expect_second(st, net, g[i], &want[i]);
    }
    pid_t pid = run_pairs(st, net, g[0]->first, ch, n, &holder, got);
    t->checked += n;
    if (strcmp(holder.line, first_want) != 0 || holder.status != 0) {
        char why[RESULT_LEN + 32];
        snprintf(why, sizeof why, "%s (exit %d)", holder.line, holder.status);
        report(t, g[0], net, st, "first bind", first_want, why);
    }
    for (int i = 0; pid > 0 && i < n; i++) {
        const struct cell *c = g[i];
        char status[16];
        snprintf(status, sizeof status, "%d", got[i].status);
        if (strcmp(got[i].line, want[i].line) != 0)
            report(t, c, net, st, "second bind", want[i].line, got[i].line);
        else if (got[i].status != 0)
            report(t, c, net, st, "second exit status", "0", status);
        else if (st->log && !log_as_expected(got[i].log, &want[i], pid))
            report(t, c, net, st, "log",
                   want[i].refusal ? "one refusal line naming the holder's pid" : "nothing",
                   got[i].log);
    }
}

static bool same_side(struct side a, struct side b)
{
    return a.opt == b.opt && a.addr == b.addr;
}

/* Cells with the same first binding share one holder per net. */
static void check_cells(struct tally *t, const struct setting *st, const struct net *nets,
                        int nnets, const struct cell *const *cells, int n)
{
    for (int k = 0; k < nnets; k++) {
        bool done[MAX_CELLS] = { false };
        ck_assert_int_le(n, MAX_CELLS);
        for (int i = 0; i < n; i++) {
            const struct cell *g[MAX_GROUP];
            int m = 0;
            for (int j = i; j < n; j++) {
                if (done[j] || !same_side(cells[j]->first, cells[i]->first))
                    continue;
                ck_assert_int_lt(m, MAX_GROUP);
                g[m++] = cells[j];
                done[j] = true;
            }
            if (m)
                check_group(t, st, &nets[k], g, m);
        }
    }
}

/* A private table, and a log file that `nobody` can write too. */
struct scratch {
    char table[128];
    char dir[64];
    char log[128];
};

static void scratch_open(struct scratch *s)
{
    /* Building only this test and tbind leaves the shim stale or absent; say so once
     * rather than through hundreds of cells that were never judged. */
    ck_assert_msg(access(harness_env("BG_LIB"), R_OK) == 0,
                  "%s: %s (build the library too: meson compile -C <build>)",
                  harness_env("BG_LIB"), strerror(errno));
    harness_table_name("cells", s->table, sizeof s->table);
    snprintf(s->dir, sizeof s->dir, "/tmp/bg-cells-XXXXXX");
    ck_assert_msg(mkdtemp(s->dir) != NULL, "mkdtemp: %s", strerror(errno));
    ck_assert_int_eq(chmod(s->dir, 0755), 0);
    snprintf(s->log, sizeof s->log, "%s/log", s->dir);
    int fd = open(s->log, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
    ck_assert_msg(fd >= 0, "%s: %s", s->log, strerror(errno));
    ck_assert_int_eq(fchmod(fd, 0666), 0);
    close(fd);
}

static void scratch_close(struct scratch *s)
{
    harness_table_remove(s->table);
    unlink(s->log);
    rmdir(s->dir);
}

static void skip_nobody(const struct tally *t)
{
    if (t->skipped)
        printf("SKIP: different-user cells need root (%s: %d cells)\n", t->group, t->skipped);
}

static void finish(const struct tally *t)
{
    printf("%s: %d cells checked, %d failed, %d skipped\n", t->group, t->checked, t->failed,
           t->skipped);
    fflush(stdout);
    ck_assert_msg(t->failed == 0, "%s: %d of %d cells failed (FAIL lines above)", t->group,
                  t->failed, t->checked);
}

/* ---- the tests ---------------------------------------------------------------------- */

static const struct {
    const char *profile, *user;
} row_groups[] = {
    { "ws2003", "same" }, { "ws2003", "different" }, { "wsk", "any" }, { "xp", "any" },
};

/* One of the TSV's four tables, every cell over every net, in one mode. */
static void run_rows(int group, enum mode mode)
{
    const char *profile = row_groups[group].profile, *user = row_groups[group].user;
    const struct cell *rows[TSV_ROWS], *checks[TSV_ROWS];
    int n = 0, nchecks = 0;
    struct tally t = { .checked = 0 };
    load_tsv();
    for (int i = 0; i < TSV_ROWS; i++) {
        if (strcmp(tsv[i].profile, profile) != 0 || strcmp(tsv[i].user, user) != 0)
            continue;
        rows[n++] = &tsv[i];
        if (tsv[i].verdict == V_CHECK)
            checks[nchecks++] = &tsv[i];
    }
    snprintf(t.group, sizeof t.group, "%s %s-user %s", profile, user, mode_names[mode]);
    ck_assert_msg(n == ROWS_PER_TABLE, "%s: %d rows in the TSV", t.group, n);
    if (strcmp(user, "different") == 0 && !harness_is_root()) {
        t.skipped = n * COUNT(nets_all);
        skip_nobody(&t);
        finish(&t);
        return;
    }
    struct scratch sc;
    scratch_open(&sc);
    struct setting st = { mode, profile, false, NULL, sc.table, sc.log };
    check_cells(&t, &st, nets_all, COUNT(nets_all), rows, n);
    if (nchecks) {
        char uid[16];
        snprintf(uid, sizeof uid, "%u", (unsigned)geteuid());
        st.share_uids = uid;
        check_cells(&t, &st, nets_all, COUNT(nets_all), checks, nchecks);
    }
    scratch_close(&sc);
    finish(&t);
}

START_TEST(tsv_has_every_cell)
{
    load_tsv();
    int per_group[COUNT(row_groups)] = { 0 };
    for (int i = 0; i < TSV_ROWS; i++)
        for (int g = 0; g < COUNT(row_groups); g++)
            if (strcmp(tsv[i].profile, row_groups[g].profile) == 0 &&
                strcmp(tsv[i].user, row_groups[g].user) == 0)
                per_group[g]++;
    for (int g = 0; g < COUNT(row_groups); g++)
        ck_assert_msg(per_group[g] == ROWS_PER_TABLE, "%s %s: %d rows", row_groups[g].profile,
                      row_groups[g].user, per_group[g]);
}
END_TEST

START_TEST(guard_cells)
{
    run_rows(_i, GUARD);
}
END_TEST

START_TEST(emulate_cells)
{
    run_rows(_i, EMULATE);
}
END_TEST

static void name_cell(struct cell *c, const char *what)
{
    snprintf(c->text, sizeof c->text, "%s: first %s %s, second %s %s%s", what,
             opt_names[c->first.opt], addr_names[c->first.addr], opt_names[c->second.opt],
             addr_names[c->second.addr], c->nobody ? " as nobody" : "");
}

/* Seed 001: two different specific addresses never conflict, whatever the options,
 * profile or users. Emulate adds the same SO_REUSEPORT under every profile, so there the
 * aliases would only repeat their originals. */
START_TEST(specific2_never_conflicts)
{
    enum { PER_PROFILE = NOPT * NOPT * 2 };
    static struct cell cells[PER_PROFILE];
    struct tally t = { .checked = 0 };
    struct scratch sc;
    snprintf(t.group, sizeof t.group, "specific2 %s", mode_names[_i]);
    scratch_open(&sc);
    for (int p = 0; p < COUNT(profiles); p++) {
        const struct cell *sel[PER_PROFILE];
        int n = 0;
        if (_i == EMULATE && profiles[p].alias)
            continue;
        for (int k = 0; k < PER_PROFILE; k++) {
            struct cell *c = &cells[k];
            *c = (struct cell){ .profile = profiles[p].name, .nobody = k % 2,
                                .first = { (enum opt)(k / (NOPT * 2)), ADDR_SPECIFIC },
                                .second = { (enum opt)(k / 2 % NOPT), ADDR_SPECIFIC2 },
                                .verdict = V_OK };
            name_cell(c, profiles[p].name);
            if (c->nobody && !harness_is_root())
                t.skipped += COUNT(nets_v4);
            else
                sel[n++] = c;
        }
        struct setting st = { (enum mode)_i, profiles[p].name, false, NULL, sc.table, sc.log };
        check_cells(&t, &st, nets_v4, COUNT(nets_v4), sel, n);
    }
    skip_nobody(&t);
    scratch_close(&sc);
    finish(&t);
}
END_TEST

/* BINDGUARD_DEFAULT unset: a program that sets nothing is exclusive
 * (doc/design.md "Option mapping"), so ws2003's exclusive row and column apply to plain
 * binds. */
START_TEST(implicit_default_is_exclusive)
{
    static const struct {
        enum addr first, second;
        bool nobody;
        enum verdict verdict;
    } plain[] = {
        { ADDR_WILDCARD, ADDR_SPECIFIC, true, V_ACCESS },
        { ADDR_WILDCARD, ADDR_SPECIFIC, false, V_ACCESS },
        { ADDR_WILDCARD, ADDR_WILDCARD, false, V_INUSE },
        { ADDR_WILDCARD, ADDR_WILDCARD, true, V_INUSE },
    };
    struct cell cells[COUNT(plain)];
    const struct cell *sel[COUNT(plain)];
    int n = 0;
    struct tally t = { .group = "implicit default (exclusive)" };
    for (int i = 0; i < COUNT(plain); i++) {
        cells[i] = (struct cell){ .profile = "ws2003", .nobody = plain[i].nobody,
                                  .first = { OPT_DEFAULT, plain[i].first },
                                  .second = { OPT_DEFAULT, plain[i].second },
                                  .verdict = plain[i].verdict };
        name_cell(&cells[i], "no options, BINDGUARD_DEFAULT unset");
        if (plain[i].nobody && !harness_is_root())
            t.skipped += COUNT(nets_all);
        else
            sel[n++] = &cells[i];
    }
    skip_nobody(&t);
    struct scratch sc;
    scratch_open(&sc);
    struct setting st = { GUARD, "ws2003", true, NULL, sc.table, sc.log };
    check_cells(&t, &st, nets_all, COUNT(nets_all), sel, n);
    scratch_close(&sc);
    finish(&t);
}
END_TEST

static Suite *cells_suite(void)
{
    Suite *s = suite_create("cells");
    /* Loop indices: row_groups for the TSV tables, enum mode for specific2. */
    const struct {
        const char *name;
        const TTest *test;
        int from, to;
    } cases[] = {
        { "tsv", tsv_has_every_cell, 0, 1 },
        { "guard", guard_cells, 0, COUNT(row_groups) },
        { "emulate", emulate_cells, 0, COUNT(row_groups) },
        { "specific2", specific2_never_conflicts, GUARD, EMULATE + 1 },
        { "implicit_default", implicit_default_is_exclusive, 0, 1 },
    };
    for (int i = 0; i < COUNT(cases); i++) {
        TCase *tc = tcase_create(cases[i].name);
        tcase_set_timeout(tc, 300);
        tcase_add_loop_test(tc, cases[i].test, cases[i].from, cases[i].to);
        suite_add_tcase(s, tc);
    }
    return s;
}

int main(void)
{
    return harness_run(cells_suite());
}
