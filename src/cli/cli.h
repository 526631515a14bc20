/* cli - what the parts of the bindguard command share: the command table, the option
 * loop with bindguard's error lines, and the table as the kernel confirms it.
 *
 * Exit codes: 0 success; 1 a failure or a "no" answer (check: the bind would be refused);
 * 2 a bad argument (always exactly one line on stderr, "bindguard: ..."). run and audit
 * exit with the command's own status. */
#ifndef BG_CLI_H
#define BG_CLI_H

#include <getopt.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "address.h"
#include "bindprobe.h"
#include "config.h"
#include "guard.h"
#include "preload.h"
#include "table.h"

#define CLI_EXIT_FAIL  1
#define CLI_EXIT_USAGE 2

struct cli_command {
    const char *name;
    int (*run)(const struct cli_command *self, int argc, char **argv);  /* argv[0]: name */
    const char *summary;   /* one line in `bindguard --help` */
    const char *usage;     /* `bindguard NAME --help` */
};

extern const struct cli_command cli_run, cli_shell, cli_audit, cli_list, cli_gc,
    cli_explain, cli_matrix, cli_check, cli_demo, cli_doctor, cli_kernel;

/* ---- args.c: options and values ---------------------------------------------------- */

enum { CLI_OPT_HELP = -2, CLI_OPT_BAD = -3 };
/* Options several commands take, handled inside cli_getopt: list them in longopts. */
enum { CLI_OPT_TABLE = 0x100, CLI_OPT_PROFILE };
#define CLI_OPTION_HELP    {"help", no_argument, NULL, 'h'}
#define CLI_OPTION_TABLE   {"table", required_argument, NULL, CLI_OPT_TABLE}
#define CLI_OPTION_PROFILE {"profile", required_argument, NULL, CLI_OPT_PROFILE}

/* getopt_long for a command, with --help, --table and --profile handled here. Returns
 * the command's next own option, -1 at the end of the options, CLI_OPT_HELP (usage
 * printed) or CLI_OPT_BAD (one line printed). A shortopts starting with '+' stops at the
 * first operand (run -- CMD). */
int cli_getopt(const struct cli_command *cmd, int argc, char **argv, const char *shortopts,
               const struct option *longopts);
/* The exit status for CLI_OPT_HELP / CLI_OPT_BAD (or any unexpected option). */
int cli_opt_exit(int opt);
/* CLI_EXIT_USAGE and one line if operands follow the options, else -1. */
int cli_no_operands(int argc, char **argv);

/* The command being run (main sets it); NULL before one is chosen. */
extern const struct cli_command *cli_current;
/* Every line bindguard writes of its own: "bindguard: COMMAND: ..." (just "bindguard: ..."
 * before a command is chosen), newline added. */
void cli_tell(FILE *out, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* cli_tell on stderr; returns rc. */
int cli_say(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define cli_usage(...) cli_say(CLI_EXIT_USAGE, __VA_ARGS__)
#define cli_fail(...)  cli_say(CLI_EXIT_FAIL, __VA_ARGS__)

/* Validate an option value and put it in the environment, where config_get() and the
 * programs run under bindguard read it. false: one line printed. */
bool cli_set_default_class(const char *value);

/* ---- explain.c: options explain and matrix share -------------------------------- */

struct cli_rule_opts {
    bool json, different_user;
};
/* --json, --different-user, --profile and --help; -1 at the end of the options, else
 * the exit status to return. */
int cli_rule_options(const struct cli_command *self, int argc, char **argv,
                     struct cli_rule_opts *o);

/* ---- env.c: the BINDGUARD_* environment ------------------------------------------ */

/* The configuration, once the command has judged the environment itself (after its
 * options, which are in the environment by then). A bad value is a bad argument to the
 * commands that start no program: one line, NULL (exit CLI_EXIT_USAGE). run, shell and
 * audit (starts_program) say each bad value once with the default the program will use,
 * and set BINDGUARD_VALIDATED so that the library stays quiet about the same values in
 * every process the program starts; a bad BINDGUARD_TABLE stops them too (NULL). */
const struct bg_config *cli_config(bool starts_program);

/* "1".."65535". */
bool cli_parse_port(const char *s, uint16_t *port);
/* "ADDR:PORT[/tcp|/udp]" (tcp if no protocol); IPv6 in brackets. "PORT" and ":PORT"
 * alone mean every address on both stacks: dual-stack [::]:PORT. false on a bad one. */
bool cli_parse_endpoint(const char *s, struct bg_addr *a, uint8_t *proto);
const char *cli_proto_name(uint8_t proto);
/* "EADDRINUSE", "EACCES"; "-" for 0. */
const char *cli_errno_name(int err);
/* The class of a socket that set no option, under this configuration. */
enum bg_class cli_unmodified_class(const struct bg_config *cfg);
/* Local HH:MM:SS, or the date for another day. */
void cli_format_since(int64_t since, char *buf, size_t len);

/* ---- run.c: starting a program under bindguard ----------------------------------- */

#define RUN_OPTIONS_HELP                                                                   \
    "  --profile P        rules to apply: ws2003 (default), xp, wsk, or a Windows name\n" \
    "                     (vista, ws2008, win7, nt4, win2000, win95, win98, winme)\n"     \
    "  --emulate          also make Windows' allowed sharing work in the kernel\n"        \
    "  --exclusive        every socket binds as if it set SO_EXCLUSIVEADDRUSE, whatever\n" \
    "                     sharing options it sets (BINDGUARD_FORCE_EXCLUSIVE=1)\n"        \
    "  --default CLASS    the class of a socket that opted into nothing: exclusive\n"     \
    "                     (default) or windows (Windows' plain default class)\n"          \
    "  --table NAME       the port table: a shm name or an absolute path\n"

/* The options of run and audit (--audit only if audit_flag), the environment judged
 * (cli_config), the preload set up: -1 when ready to start argv[optind], else an exit
 * status (a line said). */
int cli_prepare_command(const struct cli_command *self, int argc, char **argv,
                        bool audit_flag);
/* execvp; returns only if that failed (one line said): 127 not found, else 126. */
int cli_exec(char **cmd);

/* ---- unseen.c ---------------------------------------------------------------------- */

/* One line on stderr if the program cmd names (looked up as execvp would) is one whose
 * binds the library cannot see: a static executable, a Go program, or a setuid, setgid
 * or file-capability one. `shell`: cmd is the shell of `bindguard shell`. */
void cli_warn_unseen(const char *cmd, bool shell);

/* ---- probe.c: the kernel's own answer ------------------------------------------- */

/* The kernel options a probe socket carries (bindprobe.h). */
enum { PROBE_REUSEADDR = BINDPROBE_REUSEADDR, PROBE_REUSEPORT = BINDPROBE_REUSEPORT };
/* What a program of class cls sets, as the library maps options to classes: reuseaddr
 * sets SO_REUSEADDR and SO_REUSEPORT; a TCP socket of the other classes SO_REUSEADDR
 * (servers do, to restart over TIME_WAIT) unless BINDGUARD_REUSEADDR=windows makes that
 * a sharer; `emulate` adds SO_REUSEPORT, as emulate mode does to every managed socket. */
unsigned probe_options(const struct bg_config *cfg, enum bg_class cls, uint8_t proto,
                       bool emulate);
/* bindprobe (bindprobe.h) with those options, listening if asked (TCP). */
int probe_socket(const struct bg_addr *a, uint8_t proto, unsigned opts, bool listening,
                 int *fd_out);
/* A pair of binds, first then second, bound for real on a port free at that moment, on
 * loopback equivalents (wildcards as given, a specific IPv4 address as 127.0.0.x, the
 * same x for the same address, a specific IPv6 one as ::1), each with its class's options
 * (probe_options), in guard mode then in emulate mode. The first listens (TCP); the
 * second binds as nobody unless same_user (root only). Not probed when the kernel can't
 * meet them (other protocol or port, two different specific addresses). */
struct probe_side {
    struct bg_addr addr;
    enum bg_class cls;
    uint8_t proto;
};
struct probe_pair_answer {
    bool probed;
    char why_not[160];    /* not probed: why */
    int kernel_err[2];    /* the second bind, [0] guard, [1] emulate: 0 or the errno */
};
void probe_pair_on_loopback(const struct bg_config *cfg, const struct probe_side *a,
                            const struct probe_side *b, bool same_user,
                            struct probe_pair_answer *r);
/* A port free on every address of both stacks for proto at this moment, or 0. */
uint16_t probe_free_port(uint8_t proto);

/* ---- audit.c --------------------------------------------------------------------- */

/* Run cmd (after in_child(arg) in the child, if given) and wait for it. A signal sent to
 * bindguard by another process is passed on to cmd; the terminal's reach cmd anyway. Its
 * exit status (128+N for signal N, 126/127 if it could not be run). */
int cli_run_and_wait(char **cmd, void (*in_child)(void *), void *arg);

/* ---- entries.c: the table, as the kernel confirms it -------------------------------- */

/* Open the configured table (never creating it: the commands only read) and watch its
 * mapping for truncation. NULL: why says why, errno ENOENT if there is no table. */
struct table *cli_table_open(const struct bg_config *cfg, char *why, size_t len);
/* The file a table name stands for, as table_open resolves it. */
void cli_table_file(const char *name, char *buf, size_t len);

/* Liveness is guard_liveness(); GUARD_UNKNOWN also stands for "another network
 * namespace", whose kernel we can't ask. */
const char *cli_liveness_name(enum guard_liveness l);

struct cli_entry {
    struct table_entry e;
    uint32_t idx;
    enum guard_liveness live;
    /* The kernel's TCP state when it was asked (the process that listens need not be
     * the one that bound, and only the binder's library records it); the table's flag
     * when it can't be asked. */
    bool listening;
    /* Another network namespace, entered by cli_netns_confirm: its `ip netns` name ("" if
     * none) and a process in it (0 if none known). */
    char ns_name[64];
    int ns_pid;
    bool kernel;     /* a binding of the kernel backend (kernel_backend.h), not the table */
    const char *table;   /* another user's table it was read from (foreign.h); NULL: ours */
};

struct cli_snapshot {
    struct cli_entry *v;
    size_t n, cap;
    uint16_t port;   /* only entries on this port; 0: all */
    int err;         /* why it could not be taken: a table_lock error, or EFAULT (truncated) */
    char why[160];
    char netns_why[160];  /* after cli_netns_confirm: why other namespaces' entries that
                             are still GUARD_UNKNOWN could not be confirmed */
    char (*paths)[256];  /* the other tables entries came from */
    size_t n_paths;
};

/* Copy every live entry on `port` (0: every port) under the lock, through fault_call,
 * then confirm each with the kernel outside it, as guard.c's confirm() does (t NULL: this
 * user has no table yet, and only the others are read); then every
 * other user's table under the prefix (foreign.h), each entry confirmed as strictly as a
 * bind would (kernel_confirm_exact; their linger entries stay "unconfirmed"). 0, or -1
 * with s->why set. */
int cli_snapshot_take(struct table *t, const struct bg_config *cfg, uint16_t port,
                      struct cli_snapshot *s);
void cli_snapshot_free(struct cli_snapshot *s);
/* Confirm one entry with the kernel of the namespace this process is in: liveness, and
 * the listening state for TCP. */
void cli_entry_confirm(struct cli_entry *c);

/* ---- netns.c: other network namespaces ------------------------------------------- */

/* Confirm the entries of other network namespaces from inside them: each namespace that
 * a binder still in it or an `ip netns` name leads to is entered by a child process
 * (setns: CAP_SYS_ADMIN), which confirms its entries there. Entries confirmed get
 * ns_name/ns_pid; those that stay GUARD_UNKNOWN are explained by s->netns_why. */
void cli_netns_confirm(struct cli_snapshot *s);
/* SO_NETNS_COOKIE of the namespace this process runs in (0 if the kernel has none). */
uint64_t cli_netns(void);

#endif
