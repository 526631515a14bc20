/* test_cli - the bindguard command against real processes and a private port table
 * (clitest.h). */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <arpa/inet.h>

#include "clitest.h"
#include "harness.h"
#include "policy.h"
#include "table.h"

/* ---- run + list: a real server ----------------------------------------------------------- */

START_TEST(run_protects_http_server_and_list_follows_it)
{
    if (!have_python()) {
        printf("SKIP run/list with python3 -m http.server: python3 not found\n");
        return;
    }
    int port = free_port();
    time_t before = time(NULL);
    struct proc *server = start(ARGV(cli_path(), "run", "--", "python3", "-m", "http.server",
                                     proc_num(port), "--bind", "127.0.0.1"));
    wait_listening(server, port);

    /* A second copy is refused by bindguard, which names the first. */
    struct proc *second = start(ARGV(cli_path(), "run", "--", "python3", "-m", "http.server",
                                     proc_num(port), "--bind", "127.0.0.1"));
    int st = proc_finish(second, START_MS);
    char want[160];
    snprintf(want, sizeof want, "bind 127.0.0.1:%d/tcp refused (EADDRINUSE): held exclusively "
             "by pid %d (python3", port, (int)server->pid);
    ck_assert_msg(st != 0 && strstr(second->ebuf, want), "second server: status %d, stderr:\n%s",
                  st, second->ebuf);

    /* list --json: the server, with its pid and uid, confirmed live. */
    struct result *r = cli(ARGV("list", "--json"));
    ck_assert_msg(r->status == 0, "list: %d %s", r->status, r->err);
    assert_json(r->out);
    ck_assert_msg(strncmp(r->out, "{\"version\":\"", 12) == 0, "%s", r->out);
    ck_assert_msg(json_has(r->out, "\"port\":%d,", port) && json_has(r->out, "\"pid\":%d,",
                  (int)server->pid) && json_has(r->out, "\"uid\":%u,", (unsigned)geteuid()) &&
                  json_has(r->out, "\"state\":\"live\"") &&
                  json_has(r->out, "\"listening\":true") &&
                  json_has(r->out, "\"command\":\"python3"), "list --json:\n%s", r->out);
    const char *since = strstr(r->out, "\"since\":");
    ck_assert_ptr_nonnull(since);
    long long t = atoll(since + 8);
    ck_assert(t >= (long long)before - 1 && t <= (long long)time(NULL) + 1);

    /* The text form says the same. */
    r = cli(ARGV("list", "--port", proc_num(port)));
    ck_assert_int_eq(r->status, 0);
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    ck_assert_msg(strstr(r->out, want) && strstr(r->out, proc_num(server->pid)) &&
                  strstr(r->out, " live"), "list:\n%s", r->out);

    /* Killed: the entry stays in the table, but list no longer shows it... */
    proc_kill(server);
    r = cli(ARGV("list", "--json"));
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(!json_has(r->out, "\"port\":%d,", port), "still listed:\n%s", r->out);
    /* ...except with --stale. */
    r = cli(ARGV("list", "--json", "--stale"));
    ck_assert_msg(json_has(r->out, "\"port\":%d,", port) &&
                  json_has(r->out, "\"state\":\"stale\""), "list --stale:\n%s", r->out);
}
END_TEST

START_TEST(list_takes_listening_from_the_kernel)
{
    /* One process binds and sends the socket away; the one that gets it listens (node's
     * cluster workers with NODE_CLUSTER_SCHED_POLICY=none). */
    int port = free_port();
    char name[64];
    snprintf(name, sizeof name, "bg-tpass-%d-%d", (int)getpid(), port);
    struct proc *listener = start(ARGV(cli_path(), "run", "--", prog("tpass"), "listen", name));
    const char *line = proc_line(listener, WAIT_MS);
    ck_assert_msg(line && strcmp(line, "READY") == 0, "listener: %s", listener->ebuf);
    struct proc *binder = start(ARGV(cli_path(), "run", "--", prog("tpass"), "send", name,
                                     "127.0.0.1", proc_num(port)));
    line = proc_line(binder, WAIT_MS);
    ck_assert_msg(line && strcmp(line, "SENT") == 0, "binder: %s %s", line ? line : "-",
                  binder->ebuf);
    line = proc_line(listener, WAIT_MS);
    ck_assert_msg(line && strcmp(line, "LISTENING") == 0, "listener: %s", listener->ebuf);

    struct result *r = cli(ARGV("list", "--json", "--port", proc_num(port)));
    ck_assert_msg(r->status == 0 && json_has(r->out, "\"port\":%d,", port) &&
                  json_has(r->out, "\"listening\":true") &&
                  json_has(r->out, "\"pid\":%d,", (int)listener->pid), "list --json: %s%s",
                  r->out, r->err);
    r = cli(ARGV("list", "--port", proc_num(port)));
    char want[64];
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    const char *row = strstr(r->out, want);
    ck_assert_msg(row && strstr(row, " yes "), "list: %s", r->out);
    release(binder);
    release(listener);
}
END_TEST

START_TEST(list_shows_another_users_binding)
{
    if (!harness_is_root()) {
        printf("SKIP list as another user: needs root for setuid nobody\n");
        return;
    }
    uid_t nobody;
    gid_t nogroup;
    harness_nobody(&nobody, &nogroup);
    int port = free_port();
    struct proc_how as_nobody = { .inherit_env = true, .as_nobody = true };
    struct proc *h = hold_how(&as_nobody, ARGV("-a", "0.0.0.0", "-P", proc_num(port), "-l"));
    struct result *r = cli(ARGV("list", "--json", "--port", proc_num(port)));
    ck_assert_int_eq(r->status, 0);
    assert_json(r->out);
    ck_assert_msg(json_has(r->out, "\"uid\":%u,", (unsigned)nobody) &&
                  json_has(r->out, "\"pid\":%d,", (int)h->pid) &&
                  json_has(r->out, "\"command\":\"tbind\""), "list:\n%s", r->out);
    /* And root's bind of the port is refused with the different-user table. */
    char addr[32];
    snprintf(addr, sizeof addr, "0.0.0.0:%d/tcp", port);
    r = cli(ARGV("check", addr));
    ck_assert_msg(r->status == 1 && strstr(r->out, "different-user") &&
                  strstr(r->out, proc_num(h->pid)), "check: %d\n%s%s", r->status, r->out,
                  r->err);
    release(h);
}
END_TEST

START_TEST(json_survives_a_hostile_command_name)
{
    char dir[] = "/tmp/bg-cli-name-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char link[256];
    /* Quote, backslash, control byte, invalid UTF-8, and a valid multibyte character. */
    snprintf(link, sizeof link, "%s/q\"b\\c\001\xff\xc3\xa9", dir);
    ck_assert_int_eq(symlink(prog("tbind"), link), 0);
    int port = free_port();
    struct proc *c = start(ARGV(cli_path(), "run", "--", link, "-a", "127.0.0.1", "-P",
                                proc_num(port), "-h"));
    const char *line = proc_line(c, WAIT_MS);
    ck_assert_msg(line && strncmp(line, "OK", 2) == 0, "agent: %s", c->ebuf);
    struct result *r = cli(ARGV("list", "--json"));
    ck_assert_int_eq(r->status, 0);
    assert_json(r->out);
    ck_assert_msg(strstr(r->out, "q\\\"b\\\\c\\u0001\\ufffd\xc3\xa9"), "escaped: %s", r->out);
    r = cli(ARGV("list"));
    ck_assert_msg(strstr(r->out, "q\"b\\c?\xff\xc3\xa9"), "text: %s", r->out);
    release(c);
    unlink(link);
    rmdir(dir);
}
END_TEST

/* No raw control byte: C0, DEL, or C1 (as a byte, or as UTF-8 0xc2 0x80-0x9f). */
static void assert_no_controls(const char *what, const char *text)
{
    for (const unsigned char *p = (const unsigned char *)text; *p; p++) {
        bool c1 = (*p >= 0x80 && *p <= 0x9f && !(p > (const unsigned char *)text &&
                   p[-1] >= 0xc3 && p[-1] <= 0xdf)) || (*p == 0xc2 && p[1] >= 0x80 && p[1] <= 0x9f);
        ck_assert_msg((*p >= 0x20 || *p == '\n') && *p != 0x7f && !c1,
                      "%s: raw control 0x%02x at %zu:\n%s", what, *p,
                      (size_t)(p - (const unsigned char *)text), text);
    }
}

START_TEST(controls_in_names_never_reach_the_terminal)
{
    /* ESC [31m, U+009B (CSI) in UTF-8, a raw CSI byte, then a character whose UTF-8 ends
     * in 0x81 (U+0101, not a control) and a Z. */
    static const char name[] = "\x1b[31m\xc2\x9b\x9b\xc4\x81Z";
    static const char shown[] = "?[31m??\xc4\x81Z", json[] = "\\u001b[31m\\u009b\\u009b\xc4\x81Z";
    char dir[128], link[256];
    ck_assert(proc_scratch_dir(dir, sizeof dir));
    snprintf(link, sizeof link, "%s/%s", dir, name);
    ck_assert_int_eq(symlink(prog("tbind"), link), 0);
    int port = free_port();
    char tcp[32];
    snprintf(tcp, sizeof tcp, "0.0.0.0:%d", port);
    struct proc *c = start(ARGV(cli_path(), "run", "--", link, "-a", "127.0.0.1", "-P",
                                proc_num(port), "-l", "-h"));
    const char *line = proc_line(c, WAIT_MS);
    ck_assert_msg(line && strncmp(line, "OK", 2) == 0, "agent: %s", c->ebuf);

    struct result *r = cli(ARGV("list"));
    assert_no_controls("list", r->out);
    ck_assert_msg(strstr(r->out, shown), "list: %s", r->out);
    r = cli(ARGV("list", "--json"));
    assert_json(r->out);
    ck_assert_msg(strstr(r->out, json), "list --json: %s", r->out);
    /* check, refused by bindguard: the refusal line names it. */
    r = cli(ARGV("check", tcp));
    assert_no_controls("check", r->out);
    ck_assert_msg(r->status == 1 && strstr(r->out, shown), "check: %s", r->out);
    r = cli(ARGV("check", "--json", tcp));
    ck_assert_msg(strstr(r->out, json), "check --json: %s", r->out);
    /* The library's own refusal line. */
    struct proc *second = start(ARGV(cli_path(), "run", "--", prog("tbind"), "-a", "0.0.0.0",
                                     "-P", proc_num(port)));
    proc_finish(second, WAIT_MS);
    assert_no_controls("refusal line", second->ebuf);
    ck_assert_msg(strstr(second->ebuf, shown), "refusal: %s", second->ebuf);
    release(c);

    /* check, refused by the kernel: a program without bindguard named so. */
    c = start(ARGV(link, "-a", "127.0.0.1", "-P", proc_num(port), "-l", "-h"));
    ck_assert(proc_line(c, WAIT_MS));
    r = cli(ARGV("check", tcp));
    assert_no_controls("check, kernel", r->out);
    ck_assert_msg(r->status == 1 && strstr(r->out, shown), "check, kernel: %s", r->out);
    release(c);

    /* bindguard's own lines: a command name, an environment value. */
    r = cli(ARGV("run", "--", "\x1b]0;title\x07\xc2\x9b"));
    assert_no_controls("run", r->err);
    ck_assert_msg(r->status == 127 && strstr(r->err, "?]0;title??"), "run: %s", r->err);
    struct proc_how bad = { .inherit_env = true, .env = { "BINDGUARD_MODE=\x1b[2J\xc2\x85" } };
    r = cli_how(&bad, ARGV("list"));
    assert_no_controls("list, bad mode", r->err);
    ck_assert_msg(r->status == 2 && strstr(r->err, "'?[2J?'"), "bad mode: %s", r->err);
    struct proc_how direct = { .shim = true, .table = table_name, .log = "stderr",
                               .env = { "BINDGUARD_MODE=\x1b[2J\xc2\x85" } };
    c = proc_spawn(&direct, ARGV("tbind", "-a", "127.0.0.1", "-P", "0"));
    proc_finish(c, WAIT_MS);
    assert_no_controls("library, bad mode", c->ebuf);
    ck_assert_msg(strstr(c->ebuf, "'?[2J?'"), "library: %s", c->ebuf);
    unlink(link);
    rmdir(dir);
}
END_TEST

/* ---- explain and matrix against the seed table -------------------------------------------- */

struct tsv_row {
    char profile[16], user[16], first_opt[16], first_addr[16], second_opt[16],
        second_addr[16], verdict[16];
};

static int load_tsv(struct tsv_row *rows, int max)
{
    char path[512], line[512];
    harness_data_path("bind-rules.tsv", path, sizeof path);
    FILE *f = fopen(path, "r");
    ck_assert_msg(f, "%s: %s", path, strerror(errno));
    int n = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || strncmp(line, "profile\t", 8) == 0)
            continue;
        struct tsv_row *r = &rows[n];
        if (sscanf(line, "%15[^\t]\t%15[^\t]\t%15[^\t]\t%15[^\t]\t%15[^\t]\t%15[^\t]\t%15[^\t]",
                   r->profile, r->user, r->first_opt, r->first_addr, r->second_opt,
                   r->second_addr, r->verdict) == 7) {
            ck_assert_int_lt(n, max);
            n++;
        }
    }
    fclose(f);
    return n;
}

static const char *tsv_addr(const char *kind)
{
    return strcmp(kind, "wildcard") == 0 ? "0.0.0.0" : "127.0.0.1";
}

START_TEST(explain_agrees_with_every_tsv_cell)
{
    static struct tsv_row rows[200];
    int n = load_tsv(rows, 200);
    ck_assert_int_eq(n, 144);
    for (int i = 0; i < n; i++) {
        const struct tsv_row *t = &rows[i];
        char first[64], second[64], want[64];
        snprintf(first, sizeof first, "%s:%s:80/tcp", t->first_opt, tsv_addr(t->first_addr));
        snprintf(second, sizeof second, "%s:%s:80/tcp", t->second_opt,
                 tsv_addr(t->second_addr));
        bool different = strcmp(t->user, "different") == 0;
        struct result *r = different
            ? cli(ARGV("explain", "--json", "--profile", t->profile, "--different-user",
                       first, second))
            : cli(ARGV("explain", "--json", "--profile", t->profile, first, second));
        ck_assert_msg(r->status == 0, "explain %s %s: %d %s", first, second, r->status,
                      r->err);
        snprintf(want, sizeof want, "\"verdict\":\"%s\"", t->verdict);
        ck_assert_msg(strstr(r->out, want), "%s %s %s %s: %s", t->profile, t->user, first,
                      second, r->out);
        const char *err = strcmp(t->verdict, "INUSE") == 0 ? "\"errno\":\"EADDRINUSE\""
                          : strcmp(t->verdict, "SUCCESS") == 0 ? "\"errno\":null"
                                                               : "\"errno\":\"EACCES\"";
        ck_assert_msg(strstr(r->out, err), "errno of %s %s: %s", first, second, r->out);
        ck_assert_msg(strstr(r->out, "seed 00"), "no seed cell: %s", r->out);
        ck_assert_msg(strncmp(r->out, "{\"version\":\"", 12) == 0, "%s", r->out);
        if (i == 0)
            assert_json(r->out);
    }
}
END_TEST

START_TEST(explain_special_cases_and_text)
{
    /* Two different specific addresses: seed 001, never a conflict. */
    struct result *r = cli(ARGV("explain", "exclusive:127.0.0.1:80", "exclusive:127.0.0.2:80"));
    ck_assert_msg(r->status == 0 && strstr(r->out, "verdict: SUCCESS") &&
                  strstr(r->out, "seed 001"), "%s", r->out);
    r = cli(ARGV("explain", "exclusive:[::1]:80", "exclusive:127.0.0.1:80"));
    ck_assert_msg(strstr(r->out, "verdict: SUCCESS"), "%s", r->out);
    /* Different ports and protocols never meet. */
    r = cli(ARGV("explain", "exclusive:0.0.0.0:80/tcp", "exclusive:0.0.0.0:80/udp"));
    ck_assert_msg(strstr(r->out, "verdict: SUCCESS") && strstr(r->out, "protocols"), "%s",
                  r->out);
    r = cli(ARGV("explain", "0.0.0.0:80", "0.0.0.0:81"));
    ck_assert_msg(strstr(r->out, "verdict: SUCCESS") && strstr(r->out, "ports"), "%s", r->out);
    /* A dual-stack exclusive wildcard holds IPv4 too; no class means exclusive. The cell
     * says INUSE, but an IPv4 bind refused across stacks gets ACCESS (real Windows). */
    r = cli(ARGV("explain", "[::]:80", "0.0.0.0:80"));
    ck_assert_msg(strstr(r->out, "verdict: ACCESS (EACCES)") &&
                  strstr(r->out, "exclusive wildcard -> INUSE; across stacks -> ACCESS"),
                  "%s", r->out);
    r = cli(ARGV("explain", "exclusive:[::]:80", "default:0.0.0.0:80"));
    ck_assert_msg(strstr(r->out, "verdict: ACCESS (EACCES)"), "%s", r->out);
    /* Its IPv6 side follows the cell (exclusive W, exclusive S: ACCESS), not the IPv4 rule. */
    r = cli(ARGV("explain", "exclusive:[::]:80", "[::1]:80"));
    ck_assert_msg(strstr(r->out, "verdict: ACCESS (EACCES)") && !strstr(r->out, "across"),
                  "%s", r->out);
    /* Once bound, a non-exclusive [::] holds only IPv6; the reason cites the design doc
     * (doc_refs checks that the section exists). */
    r = cli(ARGV("explain", "default:[::]:80", "default:0.0.0.0:80"));
    ck_assert_msg(strstr(r->out, "verdict: SUCCESS") &&
                  strstr(r->out, "IP stack (doc/design.md \"Dual stack\")"), "%s", r->out);
    /* The text form: four labelled lines. */
    r = cli(ARGV("explain", "--different-user", "exclusive:0.0.0.0:8080", "default:0.0.0.0:8080"));
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(strstr(r->out, "first:   0.0.0.0:8080/tcp, exclusive wildcard\n") &&
                  strstr(r->out, "second:  0.0.0.0:8080/tcp, default wildcard, different user\n") &&
                  strstr(r->out, "verdict: INUSE (EADDRINUSE)\n") &&
                  strstr(r->out, "cell:    ws2003 different-user table (seed 000"), "%s", r->out);
    /* wsk CHECK: EACCES unless on the share list. */
    r = cli(ARGV("explain", "--profile", "wsk", "default:0.0.0.0:80", "default:127.0.0.1:80"));
    ck_assert_msg(strstr(r->out, "verdict: CHECK (EACCES)") && strstr(r->out, "share list"),
                  "%s", r->out);
}
END_TEST

/* The six verdict rows of `bindguard matrix`, in order. */
static void read_matrix(const char *text, char cells[6][6][16])
{
    int row = 0;
    char copy[8192];
    snprintf(copy, sizeof copy, "%s", text);
    for (char *save, *line = strtok_r(copy, "\n", &save); line && row < 6;
         line = strtok_r(NULL, "\n", &save)) {
        char *tok[16];
        int n = 0;
        for (char *s2, *w = strtok_r(line, " ", &s2); w && n < 16; w = strtok_r(NULL, " ", &s2))
            tok[n++] = w;
        if (n < 7 || policy_verdict_parse(tok[n - 1]) < 0 || policy_verdict_parse(tok[n - 6]) < 0)
            continue;
        for (int c = 0; c < 6; c++)
            snprintf(cells[row][c], sizeof cells[row][c], "%s", tok[n - 6 + c]);
        row++;
    }
    ck_assert_msg(row == 6, "matrix has %d verdict rows:\n%s", row, text);
}

static int cell_index(const char *opt, const char *addr)
{
    return policy_class_parse(opt) * 2 + (strcmp(addr, "wildcard") == 0 ? 0 : 1);
}

START_TEST(matrix_agrees_with_every_tsv_cell)
{
    static struct tsv_row rows[200];
    int n = load_tsv(rows, 200);
    static const struct { const char *profile, *user; } tables[] = {
        {"ws2003", "same"}, {"ws2003", "different"}, {"xp", "any"}, {"wsk", "any"},
    };
    int checked = 0;
    for (size_t k = 0; k < sizeof tables / sizeof tables[0]; k++) {
        bool different = strcmp(tables[k].user, "different") == 0;
        struct result *r = different
            ? cli(ARGV("matrix", "--profile", tables[k].profile, "--different-user"))
            : cli(ARGV("matrix", "--profile", tables[k].profile));
        ck_assert_msg(r->status == 0, "matrix: %s", r->err);
        bool rows_second = strcmp(tables[k].profile, "wsk") == 0;
        ck_assert(strstr(r->out, rows_second ? "rows: second bind call" : "rows: first bind call"));
        ck_assert(strstr(r->out, rows_second ? "seed 003" : "seed 000"));
        char cells[6][6][16];
        read_matrix(r->out, cells);
        static char json[65536];
        struct result *jr = different
            ? cli(ARGV("matrix", "--json", "--profile", tables[k].profile, "--different-user"))
            : cli(ARGV("matrix", "--json", "--profile", tables[k].profile));
        ck_assert_msg(jr->status == 0, "matrix --json: %s", jr->err);
        snprintf(json, sizeof json, "%s", jr->out);
        assert_json(json);
        ck_assert_msg(json_has(json, "\"version\":\"") &&
                      json_has(json, "\"same_user\":%s", different ? "false" : "true"), "%s", json);
        for (int i = 0; i < n; i++) {
            const struct tsv_row *t = &rows[i];
            if (strcmp(t->profile, tables[k].profile) || strcmp(t->user, tables[k].user))
                continue;
            int f = cell_index(t->first_opt, t->first_addr);
            int s = cell_index(t->second_opt, t->second_addr);
            const char *got = rows_second ? cells[s][f] : cells[f][s];
            ck_assert_msg(strcmp(got, t->verdict) == 0, "%s %s: first %s %s, second %s %s: "
                          "matrix says %s, tsv %s", t->profile, t->user, t->first_opt,
                          t->first_addr, t->second_opt, t->second_addr, got, t->verdict);
            ck_assert_msg(json_has(json, "{\"first\":{\"class\":\"%s\",\"kind\":\"%s\"},"
                                   "\"second\":{\"class\":\"%s\",\"kind\":\"%s\"},"
                                   "\"verdict\":\"%s\"",
                                   policy_class_name((enum bg_class)policy_class_parse(t->first_opt)),
                                   t->first_addr,
                                   policy_class_name((enum bg_class)policy_class_parse(t->second_opt)),
                                   t->second_addr, t->verdict),
                          "matrix --json lacks %s %s %s %s -> %s", t->first_opt, t->first_addr,
                          t->second_opt, t->second_addr, t->verdict);
            checked++;
        }
    }
    ck_assert_int_eq(checked, 144);
}
END_TEST

/* ---- check ------------------------------------------------------------------------------ */

START_TEST(check_exit_codes_and_holder)
{
    int port = free_port();
    char tcp[32], udp[32];
    snprintf(tcp, sizeof tcp, "0.0.0.0:%d/tcp", port);
    snprintf(udp, sizeof udp, "0.0.0.0:%d/udp", port);
    /* No table yet: the kernel answers, and the missing table is said (exit 3). */
    struct result *r = cli(ARGV("check", tcp));
    ck_assert_msg(r->status == 3 && strstr(r->out, "the kernel would let it bind") &&
                  strstr(r->out, "no port table"), "free: %d %s%s", r->status, r->out, r->err);

    struct proc *h = hold(ARGV("-a", "0.0.0.0", "-P", proc_num(port), "-l"));
    r = cli(ARGV("check", tcp));
    char want[128];
    snprintf(want, sizeof want, "refused (EADDRINUSE): held exclusively by pid %d (tbind",
             (int)h->pid);
    ck_assert_msg(r->status == 1 && strstr(r->out, want) && count_lines(r->out) == 1,
                  "held: %d %s%s", r->status, r->out, r->err);
    r = cli(ARGV("check", "--json", tcp));
    ck_assert_int_eq(r->status, 1);
    assert_json(r->out);
    ck_assert_msg(strncmp(r->out, "{\"version\":\"", 12) == 0, "%s", r->out);
    ck_assert_msg(json_has(r->out, "\"allowed\":false") && json_has(r->out, "\"pid\":%d,",
                  (int)h->pid) && json_has(r->out, "\"errno\":\"EADDRINUSE\"") &&
                  json_has(r->out, "\"bindguard\":true"), "%s", r->out);
    /* A specific address under an exclusive wildcard: EACCES, same user. */
    snprintf(want, sizeof want, "127.0.0.1:%d", port);
    r = cli(ARGV("check", want));
    ck_assert_msg(r->status == 1 && strstr(r->out, "(EACCES)"), "%s", r->out);
    /* PORT and :PORT alone: every address, tcp. */
    r = cli(ARGV("check", proc_num(port)));
    ck_assert_msg(r->status == 1 && strstr(r->out, "refused (EADDRINUSE)"), "PORT: %d %s%s",
                  r->status, r->out, r->err);
    snprintf(want, sizeof want, ":%d", port);
    r = cli(ARGV("check", want));
    ck_assert_msg(r->status == 1 && strstr(r->out, "refused (EADDRINUSE)"), ":PORT: %d %s%s",
                  r->status, r->out, r->err);
    /* UDP on the same port is another protocol. */
    r = cli(ARGV("check", udp));
    ck_assert_msg(r->status == 0, "udp: %s", r->out);
    release(h);
    r = cli(ARGV("check", tcp));
    ck_assert_msg(r->status == 0, "released: %s", r->out);

    /* Sharers: a reuseaddr UDP binding lets another reuseaddr bind in, not an exclusive one. */
    h = hold(ARGV("-p", "udp", "-a", "0.0.0.0", "-P", proc_num(port), "-o", "reuseaddr"));
    r = cli(ARGV("check", "--as", "reuseaddr", udp));
    ck_assert_msg(r->status == 0, "sharing: %s%s", r->out, r->err);
    r = cli(ARGV("check", udp));
    ck_assert_msg(r->status == 1 && strstr(r->out, "for sharing"), "exclusive: %s", r->out);
    release(h);

    /* A program without bindguard holding the port: the kernel would refuse, named too. */
    struct proc *native = start(ARGV(prog("tbind"), "-a", "127.0.0.1", "-P", proc_num(port), "-l",
                                     "-h"));
    ck_assert(proc_line(native, WAIT_MS));
    r = cli(ARGV("check", "--json", tcp));
    assert_json(r->out);
    ck_assert_msg(r->status == 1 && json_has(r->out, "\"bindguard\":false") &&
                  json_has(r->out, "\"pid\":%d,", (int)native->pid), "%s", r->out);
    r = cli(ARGV("check", tcp));
    ck_assert_msg(strstr(r->out, "runs without bindguard"), "%s", r->out);
    release(native);
}
END_TEST

/* ---- audit ------------------------------------------------------------------------------- */

START_TEST(audit_summarizes_what_would_be_refused)
{
    int port = free_port();
    struct proc *h = hold(ARGV("-a", "0.0.0.0", "-P", proc_num(port), "-l"));
    /* Two binds that enforce mode would refuse; audit lets them through to the kernel. */
    struct proc *c = start(ARGV(cli_path(), "audit", "--", "sh", "-c",
                                "\"$0\" -a 127.0.0.1 -P \"$1\"; \"$0\" -a 127.0.0.1 -P \"$1\" "
                                "-o reuseaddr; exit 4", prog("tbind"), proc_num(port)));
    int st = proc_finish(c, WAIT_MS * 2);
    ck_assert_msg(st == 4, "audit exit %d, stderr:\n%s", st, c->ebuf);
    const char *head = strstr(c->ebuf, "bindguard: audit: 2 bind(s) would have been refused:\n");
    ck_assert_msg(head, "no summary:\n%s", c->ebuf);
    char want[128];
    snprintf(want, sizeof want, "would be refused (EACCES) [audit]: held exclusively by pid %d",
             (int)h->pid);
    ck_assert_msg(strstr(head, want), "summary lacks the holder:\n%s", c->ebuf);

    c = start(ARGV(cli_path(), "audit", "--", "true"));
    ck_assert_int_eq(proc_finish(c, WAIT_MS), 0);
    ck_assert_msg(strstr(c->ebuf, "bindguard: audit: 0 bind(s) would have been refused."), "%s",
                  c->ebuf);

    /* Killed by a signal: 128+N, and the summary still comes. */
    c = start(ARGV(cli_path(), "audit", "--", "sh", "-c", "kill -TERM $$"));
    ck_assert_int_eq(proc_finish(c, WAIT_MS), 128 + SIGTERM);
    ck_assert(strstr(c->ebuf, "bindguard: audit: 0 bind(s)"));
    release(h);
}
END_TEST

/* ---- gc --------------------------------------------------------------------------------- */

START_TEST(gc_reaps_and_counts)
{
    int ports[3];
    struct proc *h[3];
    for (int i = 0; i < 3; i++) {
        ports[i] = free_port();
        h[i] = hold(ARGV("-a", "127.0.0.1", "-P", proc_num(ports[i]), "-l"));
    }
    proc_kill(h[0]);  /* its table entry stays behind, stale */
    proc_kill(h[1]);
    struct result *r = cli(ARGV("gc"));
    ck_assert_msg(r->status == 0 && strstr(r->out, "bindguard: gc: reaped 2 stale entries") &&
                  strstr(r->out, "(1 live"), "gc: %s%s", r->out, r->err);
    r = cli(ARGV("gc", "--json"));
    assert_json(r->out);
    ck_assert_msg(r->status == 0 && json_has(r->out, "\"version\":\"") &&
                  json_has(r->out, "\"reaped\":0,\"live\":1,"), "gc --json: %s", r->out);
    r = cli(ARGV("gc"));
    ck_assert_msg(strstr(r->out, "reaped 0 stale entries"), "gc again: %s", r->out);
    r = cli(ARGV("list", "--json", "--stale"));
    ck_assert_msg(!json_has(r->out, "\"port\":%d,", ports[0]) &&
                  json_has(r->out, "\"port\":%d,", ports[2]), "after gc: %s", r->out);
    release(h[2]);
}
END_TEST

/* ---- run, shell: the environment ---------------------------------------------------------- */

START_TEST(run_sets_the_environment_and_keeps_preload)
{
    const char *san = getenv("BG_SAN_PRELOAD");
    char preload[600];
    snprintf(preload, sizeof preload, "%s%slibm.so.6", san && *san ? san : "",
             san && *san ? ":" : "");
    setenv("LD_PRELOAD", preload, 1);
    struct result *r = cli(ARGV("run", "--profile", "xp", "--emulate", "--audit", "--default",
                                "windows", "--table", "/bg-cli-other", "--", "sh", "-c",
                                "echo \"$LD_PRELOAD|$BINDGUARD_ACTIVE|$BINDGUARD_PROFILE|"
                                "$BINDGUARD_EMULATE|$BINDGUARD_MODE|$BINDGUARD_DEFAULT|"
                                "$BINDGUARD_TABLE\""));
    char want[1024];
    snprintf(want, sizeof want, "%s:%s|1|xp|1|audit|windows|/bg-cli-other\n", preload,
             harness_env("BG_LIB"));
    ck_assert_msg(r->status == 0 && strcmp(r->out, want) == 0, "got '%s' want '%s' (%s)",
                  r->out, want, r->err);

    /* Already preloaded: not a second copy. */
    snprintf(preload, sizeof preload, "%s%s%s", san && *san ? san : "", san && *san ? ":" : "",
             harness_env("BG_LIB"));
    setenv("LD_PRELOAD", preload, 1);
    r = cli(ARGV("run", "--", "sh", "-c", "echo \"$LD_PRELOAD\""));
    snprintf(want, sizeof want, "%s\n", preload);
    ck_assert_str_eq(r->out, want);

    /* The exit status is the command's; a missing command is 127. */
    r = cli(ARGV("run", "--", "sh", "-c", "exit 5"));
    ck_assert_int_eq(r->status, 5);
    r = cli(ARGV("run", "/nonexistent/program"));
    ck_assert_msg(r->status == 127 && count_lines(r->err) == 1, "%d %s", r->status, r->err);
}
END_TEST

START_TEST(run_without_a_library_says_where_it_looked)
{
    char dir[] = "/tmp/bg-cli-alone-XXXXXX", copy[128];
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(copy, sizeof copy, "%s/bindguard", dir);
    struct proc *c = start(ARGV("cp", cli_path(), copy));
    ck_assert_int_eq(proc_finish(c, WAIT_MS), 0);
    c = start(ARGV(copy, "run", "--", "true"));
    int st = proc_finish(c, WAIT_MS);
    if (st == 0) {
        printf("SKIP missing library: one is installed in the configured libdir\n");
    } else {
        ck_assert_msg(st == 2 && count_lines(c->ebuf) == 1 &&
                      strstr(c->ebuf, "bindguard: run: cannot find libbindguard.so (looked in ") &&
                      strstr(c->ebuf, dir), "status %d: %s", st, c->ebuf);
    }
    unlink(copy);
    rmdir(dir);
}
END_TEST

START_TEST(shell_runs_shell_under_bindguard)
{
    struct proc_how h = { .inherit_env = true, .env = { "SHELL=/bin/sh" } };
    struct result *r = cli_how(&h, ARGV("shell", "--", "-c",
                                        "echo \"$BINDGUARD_ACTIVE $LD_PRELOAD\""));
    ck_assert_msg(r->status == 0 && strstr(r->out, "1 ") &&
                  strstr(r->out, harness_env("BG_LIB")), "%s%s", r->out, r->err);
    /* Interactive use reads commands from stdin. */
    const char *argv[] = { cli_path(), "shell", NULL };
    struct proc *c = proc_spawn(&h, argv);
    const char *cmd = "echo active=$BINDGUARD_ACTIVE\n";
    ck_assert_int_eq(write(c->in, cmd, strlen(cmd)), (ssize_t)strlen(cmd));
    ck_assert_int_eq(proc_finish(c, WAIT_MS), 0);
    ck_assert_str_eq(c->obuf, "active=1\n");
}
END_TEST

/* ---- arguments -------------------------------------------------------------------------- */

START_TEST(bad_arguments_exit_2_with_one_line)
{
    static const char *const cases[][6] = {
        {NULL},
        {"frobnicate"},
        {"run"},
        {"run", "--profile", "nope", "--", "true"},
        {"run", "--default", "maybe", "--", "true"},
        {"run", "--bogus", "--", "true"},
        {"run", "--table", "relative/path", "--", "true"},
        {"run", "--table", "/dev/shm/../x", "--", "true"},
        {"shell", "--profile"},
        {"audit"},
        {"audit", "--audit", "--", "true"},
        {"list", "--port", "0"},
        {"list", "--port", "http"},
        {"list", "--port"},
        {"list", "extra"},
        {"list", "-x"},
        {"check"},
        {"check", "nonsense"},
        {"check", "1.2.3.4:0"},
        {"check", "1.2.3.4:80/sctp"},
        {"check", "--as", "weird", "1.2.3.4:80"},
        {"check", "1.2.3.4:80", "5.6.7.8:80"},
        {"explain", "exclusive:0.0.0.0:80"},
        {"explain", "exclusive:0.0.0.0:80", "bogus:0.0.0.0:http"},
        {"explain", "--profile", "win12", "0.0.0.0:80", "0.0.0.0:80"},
        {"gc", "--json", "extra"},
        {"matrix", "extra"},
        {"gc", "--table", ""},
        {"gc", "--now"},
    };
    static const char *const commands[] = { "run", "shell", "audit", "list", "check",
                                            "explain", "matrix", "gc", "demo", "doctor" };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        struct result *r = cli(cases[i]);
        /* One prefix style: "bindguard: COMMAND: " once a command is named. */
        char prefix[32] = "bindguard: ";
        for (size_t k = 0; cases[i][0] && k < sizeof commands / sizeof commands[0]; k++)
            if (strcmp(cases[i][0], commands[k]) == 0)
                snprintf(prefix, sizeof prefix, "bindguard: %s: ", commands[k]);
        ck_assert_msg(r->status == 2 && count_lines(r->err) == 1 &&
                      strncmp(r->err, prefix, strlen(prefix)) == 0 && r->out[0] == '\0',
                      "case %zu (%s %s): status %d, stderr '%s', stdout '%s'", i,
                      cases[i][0] ? cases[i][0] : "", cases[i][0] && cases[i][1] ? cases[i][1] : "",
                      r->status, r->err, r->out);
    }
}
END_TEST

START_TEST(help_and_version)
{
    struct result *r = cli(ARGV("--version"));
    ck_assert_int_eq(r->status, 0);
    ck_assert_msg(strncmp(r->out, "bindguard ", 10) == 0, "%s", r->out);
    char version[64];
    snprintf(version, sizeof version, "%.63s", r->out);
    r = cli(ARGV("-V"));
    ck_assert_msg(r->status == 0 && strcmp(r->out, version) == 0, "-V: %d %s", r->status, r->out);
    r = cli(ARGV("--help"));
    ck_assert_int_eq(r->status, 0);
    static char top[sizeof r->out];
    snprintf(top, sizeof top, "%s", r->out);
    static const char *const cmds[] = { "run", "shell", "audit", "list", "check", "explain",
                                        "matrix", "gc", "demo", "doctor" };
    for (size_t i = 0; i < sizeof cmds / sizeof cmds[0]; i++) {
        char want[32];
        snprintf(want, sizeof want, "  %s ", cmds[i]);
        ck_assert_msg(strstr(top, want), "--help lacks %s", cmds[i]);
        struct result *h = cli(ARGV(cmds[i], "--help"));
        snprintf(want, sizeof want, "usage: bindguard %s", cmds[i]);
        ck_assert_msg(h->status == 0 && strncmp(h->out, want, strlen(want)) == 0,
                      "%s --help: %d %s", cmds[i], h->status, h->out);
    }
}
END_TEST

/* ---- install and examples ------------------------------------------------------------------ */

static char found[8][512];
static const char *const wanted[] = { "bin/bindguard", "libbindguard.so", "bindguard.h",
                                      "bindguard.pc", "man1/bindguard.1", "man7/libbindguard.7",
                                      "bash-completion/completions/bindguard" };
#define N_WANTED (sizeof wanted / sizeof wanted[0])

static int find_installed(const char *path, const struct stat *st, int type, struct FTW *f)
{
    (void)st;
    (void)f;
    size_t len = strlen(path);
    for (size_t i = 0; type == FTW_F && i < N_WANTED; i++) {
        size_t wl = strlen(wanted[i]);
        if (len > wl && strcmp(path + len - wl, wanted[i]) == 0 && path[len - wl - 1] == '/')
            snprintf(found[i], sizeof found[i], "%s", path);
    }
    return 0;
}

START_TEST(installed_tree_refuses_a_conflicting_bind)
{
    char dest[] = "/tmp/bg-cli-destdir-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dest));
    struct proc *c = start(ARGV("meson", "install", "-C", harness_env("BG_BUILD_ROOT"),
                                "--no-rebuild", "--quiet", "--destdir", dest));
    int st = proc_finish(c, 120000);
    ck_assert_msg(st == 0, "meson install: %d\n%s%s", st, c->obuf, c->ebuf);
    memset(found, 0, sizeof found);
    ck_assert_int_eq(nftw(dest, find_installed, 16, FTW_PHYS), 0);
    for (size_t i = 0; i < N_WANTED; i++)
        ck_assert_msg(found[i][0], "%s not installed under %s", wanted[i], dest);

    /* The installed CLI preloads the installed library (found relative to itself). */
    c = start(ARGV(found[0], "run", "--", "sh", "-c", "echo \"$LD_PRELOAD\""));
    ck_assert_int_eq(proc_finish(c, WAIT_MS), 0);
    ck_assert_msg(strstr(c->obuf, found[1]), "preloaded '%s', installed '%s'", c->obuf,
                  found[1]);

    int port = free_port();
    c = start(ARGV(found[0], "run", "--", prog("tbind"), "-a", "0.0.0.0", "-P", proc_num(port),
                   "-l", "-h"));
    const char *line = proc_line(c, WAIT_MS);
    ck_assert_msg(line && strncmp(line, "OK", 2) == 0, "%s", c->ebuf);
    struct proc *second = start(ARGV(found[0], "run", "--", prog("tbind"), "-a", "127.0.0.1",
                                     "-P", proc_num(port)));
    line = proc_line(second, WAIT_MS);
    ck_assert_msg(line && strcmp(line, "ERR EACCES bind") == 0, "second: %s", c->ebuf);
    proc_finish(second, WAIT_MS);
    ck_assert_msg(strstr(second->ebuf, "held exclusively by pid"), "%s", second->ebuf);
    release(c);

    /* pkg-config: the path to preload, as installed (without the DESTDIR). */
    static char pc_env[600];
    snprintf(pc_env, sizeof pc_env, "PKG_CONFIG_PATH=%.*s", (int)(strrchr(found[3], '/') - found[3]),
             found[3]);
    struct proc_how h = { .inherit_env = true, .env = { pc_env } };
    c = proc_spawn(&h, ARGV("pkg-config", "--variable=preload", "bindguard"));
    ck_assert_int_eq(proc_finish(c, WAIT_MS), 0);
    c->obuf[strcspn(c->obuf, "\n")] = '\0';
    ck_assert_msg(c->obuf[0] == '/' && strcmp(found[1] + strlen(dest), c->obuf) == 0,
                  "preload variable '%s' vs installed %s", c->obuf, found[1]);

    c = start(ARGV("rm", "-rf", dest));
    proc_finish(c, WAIT_MS);
}
END_TEST

START_TEST(example_exclusive_server_and_ci_script)
{
    char server[512], script[512];
    snprintf(server, sizeof server, "%s/examples/exclusive_server", harness_env("BG_BUILD_ROOT"));
    snprintf(script, sizeof script, "%s/examples/ci-hijack-check.sh",
             harness_env("BG_SOURCE_ROOT"));
    /* Without bindguard the option does not exist, and the program says so. */
    struct proc *c = start(ARGV(server, "1"));
    ck_assert_int_eq(proc_finish(c, WAIT_MS), 1);
    ck_assert_msg(strstr(c->ebuf, "run me under bindguard"), "%s", c->ebuf);
    /* Under it, the binding is exclusive by the program's own choice. */
    int port = free_port();
    c = start(ARGV(cli_path(), "run", "--", server, proc_num(port)));
    const char *line = proc_line(c, WAIT_MS);
    ck_assert_msg(line && strstr(line, "exclusively"), "%s", c->ebuf);
    struct result *r = cli(ARGV("list", "--json", "--port", proc_num(port)));
    ck_assert_msg(json_has(r->out, "\"explicit\":true"), "%s", r->out);
    release(c);

    if (!have_python()) {
        printf("SKIP examples/ci-hijack-check.sh: python3 not found\n");
        return;
    }
    /* Plain Linux lets the hijacker in: the check fails there ... */
    port = free_port();
    c = start(ARGV("sh", script, proc_num(port)));
    int st = proc_finish(c, START_MS * 2);
    ck_assert_msg(st == 1 && strstr(c->obuf, "HIJACKED") && strstr(c->ebuf, "FAILED"),
                  "ci script on plain Linux %d:\n%s\n%s", st, c->obuf, c->ebuf);
    /* ... and passes with the job under bindguard, which names the service. */
    port = free_port();
    c = start(ARGV(cli_path(), "run", "--", "sh", script, proc_num(port)));
    st = proc_finish(c, START_MS * 2);
    ck_assert_msg(st == 0 && strstr(c->obuf, "hijacker refused") &&
                  strstr(c->obuf, "ok: the service kept port") &&
                  strstr(c->ebuf, "held exclusively by pid"),
                  "ci script under bindguard %d:\n%s\n%s", st, c->obuf, c->ebuf);
}
END_TEST

static Suite *cli_suite(void)
{
    Suite *s = suite_create("cli");
    TCase *tc = tcase_create("cli");
    tcase_add_checked_fixture(tc, clitest_setup, clitest_teardown);
    tcase_set_timeout(tc, 180);
    tcase_add_test(tc, run_protects_http_server_and_list_follows_it);
    tcase_add_test(tc, list_takes_listening_from_the_kernel);
    tcase_add_test(tc, list_shows_another_users_binding);
    tcase_add_test(tc, json_survives_a_hostile_command_name);
    tcase_add_test(tc, controls_in_names_never_reach_the_terminal);
    tcase_add_test(tc, explain_agrees_with_every_tsv_cell);
    tcase_add_test(tc, explain_special_cases_and_text);
    tcase_add_test(tc, matrix_agrees_with_every_tsv_cell);
    tcase_add_test(tc, check_exit_codes_and_holder);
    tcase_add_test(tc, audit_summarizes_what_would_be_refused);
    tcase_add_test(tc, gc_reaps_and_counts);
    tcase_add_test(tc, run_sets_the_environment_and_keeps_preload);
    tcase_add_test(tc, run_without_a_library_says_where_it_looked);
    tcase_add_test(tc, shell_runs_shell_under_bindguard);
    tcase_add_test(tc, bad_arguments_exit_2_with_one_line);
    tcase_add_test(tc, help_and_version);
    tcase_add_test(tc, installed_tree_refuses_a_conflicting_bind);
    tcase_add_test(tc, example_exclusive_server_and_ci_script);
    suite_add_tcase(s, tc);
    return s;
}

int main(void)
{
    proc_init("cli");
    proc_cleanup_on_signals();
    int rc = harness_run(cli_suite());
    proc_cleanup();
    return rc;
}
