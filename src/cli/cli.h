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

#include "address.h"
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
    cli_explain, cli_matrix, cli_check, cli_demo, cli_doctor;

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
int cli_no_operands(const struct cli_command *cmd, int argc, char **argv);

/* "bindguard: ..." on stderr; returns rc. */
int cli_say(int rc, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
#define cli_usage(...) cli_say(CLI_EXIT_USAGE, __VA_ARGS__)
#define cli_fail(...)  cli_say(CLI_EXIT_FAIL, __VA_ARGS__)

/* Validate an option value and put it in the environment, where config_get() and the
 * programs run under bindguard read it. false: one line printed. */
bool cli_set_default_class(const char *value);

/* "1".."65535". */
bool cli_parse_port(const char *s, uint16_t *port);
/* "ADDR:PORT[/tcp|/udp]" (tcp if no protocol); IPv6 in brackets. false on a bad one. */
bool cli_parse_endpoint(const char *s, struct bg_addr *a, uint8_t *proto);
const char *cli_proto_name(uint8_t proto);
/* "EADDRINUSE", "EACCES"; "-" for 0. */
const char *cli_errno_name(int err);
/* The class of a socket that set no option, under this configuration. */
enum bg_class cli_unmodified_class(const struct bg_config *cfg);
/* Local HH:MM:SS, or the date for another day. */
void cli_format_since(int64_t since, char *buf, size_t len);

/* ---- entries.c: the table, as the kernel confirms it -------------------------------- */

/* Open the configured table and watch its mapping for truncation. NULL: why says why. */
struct table *cli_table_open(const struct bg_config *cfg, char *why, size_t len);

/* Liveness is guard_liveness(); GUARD_UNKNOWN also stands for "another network
 * namespace", whose kernel we can't ask. */
const char *cli_liveness_name(enum guard_liveness l);

struct cli_entry {
    struct table_entry e;
    uint32_t idx;
    enum guard_liveness live;
    const char *table;   /* another user's table it was read from (foreign.h); NULL: ours */
};

struct cli_snapshot {
    struct cli_entry *v;
    size_t n, cap;
    uint16_t port;   /* only entries on this port; 0: all */
    int err;         /* why it could not be taken: a table_lock error, or EFAULT (truncated) */
    char why[160];
    char (*paths)[256];  /* the other tables entries came from */
    size_t n_paths;
};

/* Copy every live entry on `port` (0: every port) under the lock, through fault_call,
 * then confirm each with the kernel outside it, as guard.c's confirm() does; then every
 * other user's table under the prefix (foreign.h), each entry confirmed as strictly as a
 * bind would (kernel_confirm_exact; their linger entries stay "unconfirmed"). 0, or -1
 * with s->why set. */
int cli_snapshot_take(struct table *t, const struct bg_config *cfg, uint16_t port,
                      struct cli_snapshot *s);
void cli_snapshot_free(struct cli_snapshot *s);
/* SO_NETNS_COOKIE of the namespace this process runs in (0 if the kernel has none). */
uint64_t cli_netns(void);

#endif
