/* config - the environment, read once and validated.
 *
 * A bad value never stops the host program: one line on stderr naming the variable and
 * the valid values, then the safe default. */
#ifndef BG_CONFIG_H
#define BG_CONFIG_H

#include <stdbool.h>
#include <stdint.h>
#include <stddef.h>

#include "policy.h"
#include "rules/class.h"

enum bg_mode      { BG_MODE_ENFORCE, BG_MODE_AUDIT, BG_MODE_OFF };
enum bg_default   { BG_DEFAULT_EXCLUSIVE, BG_DEFAULT_WINDOWS };
enum bg_reuseaddr { BG_REUSEADDR_LINUX, BG_REUSEADDR_WINDOWS };
enum bg_log       { BG_LOG_STDERR, BG_LOG_SYSLOG, BG_LOG_OFF, BG_LOG_FILE };

/* Limits the table shares (table.h; src/table/layout.c asserts they agree). */
#define CONFIG_MAX_SHARE     8
#define CONFIG_DEFAULT_SLOTS 65536u
#define CONFIG_MIN_SLOTS     16u
#define CONFIG_MAX_SLOTS     4194304u
#define CONFIG_PATH_MAX      256
#define CONFIG_LINE_MAX      512   /* a warning line of config_parse, NUL included */

struct bg_config {
    const struct bg_profile *profile;
    enum bg_mode      mode;
    enum bg_default   default_class;
    enum bg_reuseaddr reuseaddr;
    bool              emulate;
    bool              force_exclusive;  /* every inet socket binds as SO_EXCLUSIVEADDRUSE */
    char              table[CONFIG_PATH_MAX];
    uint32_t          table_slots;
    uint32_t          lock_timeout_ms;
    uint32_t          intent_wait_ms;   /* how long an earlier foreign intent is waited on */
    enum bg_log       log;
    char              log_path[CONFIG_PATH_MAX];
    uint32_t          share_uids[CONFIG_MAX_SHARE];
    uint8_t           n_share_uids;
};

/* Fill *c from getenv-like `get` (NULL: unset). Each bad value calls warn() with one
 * line ("bindguard: BINDGUARD_MODE='x' is not valid (enforce, audit, off); using
 * enforce") and falls back to the default. Returns the number of bad values. Pure
 * apart from those callbacks, so tests can drive it. */
int config_parse(struct bg_config *c, const char *(*get)(const char *name),
                 void (*warn)(const char *line));

/* Keep a copy of the environment's BINDGUARD_* entries for config_get to parse later:
 * the library's constructor calls it, so the configuration is the environment the program
 * started with, whatever it does to its environment before it first needs one. Touches
 * nothing but the environment and this module's own data. */
void config_keep_environment(void);

/* The process's configuration, parsed on first call from the kept environment if
 * config_keep_environment ran, else from the real one. Its bad values are written to
 * stderr then, unless BINDGUARD_VALIDATED holds the digest
 * of exactly those lines: `bindguard run`, `shell` and `audit` report an environment's
 * bad values once themselves, and the programs they start stay quiet about the same
 * values (a changed value is reported again). */
const struct bg_config *config_get(void);

/* The digest of config_parse's warning lines, in order: start with CONFIG_DIGEST_INIT,
 * add each line; format it for BINDGUARD_VALIDATED (CONFIG_DIGEST_LEN bytes with NUL). */
#define CONFIG_DIGEST_INIT UINT64_C(0xcbf29ce484222325)
#define CONFIG_DIGEST_LEN  17
uint64_t config_digest(uint64_t digest, const char *line);
void config_digest_format(uint64_t digest, char *buf, size_t len);

const char *config_mode_name(enum bg_mode m);

/* How c maps a socket's options to its class, as the rule book takes it. */
struct bg_classing config_classing(const struct bg_config *c);

#endif
