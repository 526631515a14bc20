/* config - the environment, read once and validated (see config.h).
 *
 * Parsing is strict on purpose: a value with a typo, a sign, a space or trailing junk is
 * reported rather than half-understood, because a silently misread BINDGUARD_MODE or
 * BINDGUARD_TABLE would leave an operator believing a port is protected when it is not. */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "bindguard.h"
#include "parse.h"
#include "text.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define STR_(x) #x
#define STR(x)  STR_(x)

/* Long or hostile values are clipped in the warning so that its "; using ..." tail, the
 * part that says what bindguard does instead, always fits in one line. */
#define SHOWN_VALUE_MAX 80
#define WARN_LINE_MAX   512

#define DEFAULT_PROFILE  "ws2003"
#define DEFAULT_LOCK_MS  1000u
#define MIN_LOCK_MS      1u
#define MAX_LOCK_MS      60000u
#define DEFAULT_INTENT_MS 5u
#define MAX_INTENT_MS    1000u
/* (uid_t)-1 means "no uid" to the kernel (setreuid and friends), never a real owner. */
#define MAX_UID          4294967294u

struct word {
    const char *name;
    int         value;
};

static const struct word mode_words[] = {
    {"enforce", BG_MODE_ENFORCE}, {"audit", BG_MODE_AUDIT}, {"off", BG_MODE_OFF},
};
static const struct word default_words[] = {
    {"exclusive", BG_DEFAULT_EXCLUSIVE}, {"windows", BG_DEFAULT_WINDOWS},
};
static const struct word reuseaddr_words[] = {
    {"linux", BG_REUSEADDR_LINUX}, {"windows", BG_REUSEADDR_WINDOWS},
};
/* The first word for each value is the one named as the default in warnings. */
static const struct word bool_words[] = {
    {"0", 0}, {"1", 1}, {"false", 0}, {"true", 1},
    {"no", 0}, {"yes", 1}, {"off", 0}, {"on", 1},
};
static const struct word log_words[] = {
    {"stderr", BG_LOG_STDERR}, {"syslog", BG_LOG_SYSLOG}, {"off", BG_LOG_OFF},
};

struct ctx {
    const char *(*get)(const char *name);
    void (*warn)(const char *line);
    int bad;
};

/* Unset and empty are the same thing: `BINDGUARD_MODE= prog` is how a shell user clears
 * a value inherited from the environment. */
static const char *value_of(const struct ctx *x, const char *env)
{
    const char *s = x->get(env);
    return s && *s ? s : NULL;
}

/* The value as shown in a warning: clipped, and with control characters replaced
 * (text.h) so that an environment value cannot forge extra lines or drive a terminal. */
static void show_value(const char *s, char *out, size_t len)
{
    size_t n = 0;
    for (; s[n] && n < SHOWN_VALUE_MAX && n + 4 < len; n++)
        out[n] = s[n];
    bool clipped = s[n] != '\0';
    n = text_defang(out, n);
    out[n] = '\0';
    if (clipped)
        memcpy(out + n, "...", 4);
}

static void bad(struct ctx *x, const char *env, const char *value, const char *valid,
                const char *fallback)
{
    char shown[SHOWN_VALUE_MAX + 4];
    char line[WARN_LINE_MAX];
    show_value(value, shown, sizeof shown);
    snprintf(line, sizeof line, "bindguard: %s='%s' is not valid (%s); using %s",
             env, shown, valid, fallback);
    x->bad++;
    if (x->warn)
        x->warn(line);
}

static const struct word *word_find(const struct word *w, size_t n, const char *s)
{
    for (size_t i = 0; i < n; i++)
        if (parse_caseeq(w[i].name, s))
            return &w[i];
    return NULL;
}

static const char *word_name(const struct word *w, size_t n, int value)
{
    for (size_t i = 0; i < n; i++)
        if (w[i].value == value)
            return w[i].name;
    return "?";
}

static void word_list(const struct word *w, size_t n, char *buf, size_t len)
{
    size_t used = 0;
    buf[0] = '\0';
    for (size_t i = 0; i < n && used < len; i++) {
        int r = snprintf(buf + used, len - used, "%s%s", i ? ", " : "", w[i].name);
        if (r < 0)
            break;
        used += (size_t)r;
    }
}

/* One word-valued variable: its value, or `def` after a warning. */
static int word_var(struct ctx *x, const char *env, const struct word *w, size_t n, int def)
{
    const char *s = value_of(x, env);
    if (!s)
        return def;
    const struct word *hit = word_find(w, n, s);
    if (hit)
        return hit->value;
    char valid[128];
    word_list(w, n, valid, sizeof valid);
    bad(x, env, s, valid, word_name(w, n, def));
    return def;
}

static uint32_t num_var(struct ctx *x, const char *env, uint32_t min, uint32_t max,
                        uint32_t def)
{
    const char *s = value_of(x, env);
    uint32_t v;
    if (!s)
        return def;
    if (parse_u32(s, strlen(s), min, max, &v))
        return v;
    char valid[64], fallback[16];
    snprintf(valid, sizeof valid, "%u..%u", (unsigned)min, (unsigned)max);
    snprintf(fallback, sizeof fallback, "%u", (unsigned)def);
    bad(x, env, s, valid, fallback);
    return def;
}

static bool fits(const char *s)
{
    return strlen(s) <= CONFIG_PATH_MAX - 1;
}

static bool valid_abs_path(const char *s)
{
    return fits(s) && parse_abs_file_path(s);
}

static bool valid_table(const char *s)
{
    return fits(s) && parse_table_name(s) == NULL;
}

static void copy_str(char *dst, const char *src)
{
    snprintf(dst, CONFIG_PATH_MAX, "%s", src);
}

static void parse_profile(struct ctx *x, struct bg_config *c)
{
    const char *s = value_of(x, BINDGUARD_ENV_PROFILE);
    c->profile = policy_profile(DEFAULT_PROFILE);
    if (!s)
        return;
    const struct bg_profile *p = policy_profile(s);
    if (p)
        c->profile = p;
    else
        bad(x, BINDGUARD_ENV_PROFILE, s, policy_profile_names(), DEFAULT_PROFILE);
}

static void parse_table(struct ctx *x, struct bg_config *c)
{
    const char *s = value_of(x, BINDGUARD_ENV_TABLE);
    copy_str(c->table, BINDGUARD_DEFAULT_TABLE);
    if (!s)
        return;
    if (valid_table(s))
        copy_str(c->table, s);
    else
        bad(x, BINDGUARD_ENV_TABLE, s, "a shm name such as /bindguard-v3, or an absolute "
            "path without '..'", BINDGUARD_DEFAULT_TABLE);
}

static void parse_log(struct ctx *x, struct bg_config *c)
{
    const char *s = value_of(x, BINDGUARD_ENV_LOG);
    const struct word *hit = s ? word_find(log_words, ARRAY_LEN(log_words), s) : NULL;
    c->log = BG_LOG_STDERR;
    c->log_path[0] = '\0';
    if (!s)
        return;
    if (hit) {
        c->log = (enum bg_log)hit->value;
    } else if (valid_abs_path(s)) {
        c->log = BG_LOG_FILE;
        copy_str(c->log_path, s);
    } else {
        bad(x, BINDGUARD_ENV_LOG, s, "stderr, syslog, off, or an absolute file path",
            "stderr");
    }
}

/* Comma-separated uids, no empty items, at most CONFIG_MAX_SHARE of them. */
static bool uid_list(const char *s, uint32_t *uids, size_t *n)
{
    for (*n = 0;; ++*n) {
        const char *end = strchr(s, ',');
        size_t len = end ? (size_t)(end - s) : strlen(s);
        if (*n == CONFIG_MAX_SHARE || !parse_u32(s, len, 0, MAX_UID, &uids[*n]))
            return false;
        if (!end) {
            ++*n;
            return true;
        }
        s = end + 1;
    }
}

/* All or nothing: a list with one bad uid is a typo, and half of it might share a port
 * with a uid the operator never meant. */
static void parse_share_uids(struct ctx *x, struct bg_config *c)
{
    const char *s = value_of(x, BINDGUARD_ENV_SHARE_UIDS);
    uint32_t uids[CONFIG_MAX_SHARE];
    size_t n;
    c->n_share_uids = 0;
    if (!s)
        return;
    if (!uid_list(s, uids, &n)) {
        bad(x, BINDGUARD_ENV_SHARE_UIDS, s,
            "up to " STR(CONFIG_MAX_SHARE) " comma-separated numeric uids", "none");
        return;
    }
    memcpy(c->share_uids, uids, n * sizeof uids[0]);
    c->n_share_uids = (uint8_t)n;
}

int config_parse(struct bg_config *c, const char *(*get)(const char *name),
                 void (*warn)(const char *line))
{
    struct ctx x = {get, warn, 0};
    memset(c, 0, sizeof *c);
    parse_profile(&x, c);
    c->mode = (enum bg_mode)word_var(&x, BINDGUARD_ENV_MODE, mode_words,
                                     ARRAY_LEN(mode_words), BG_MODE_ENFORCE);
    c->default_class = (enum bg_default)word_var(&x, BINDGUARD_ENV_DEFAULT, default_words,
                                                 ARRAY_LEN(default_words),
                                                 BG_DEFAULT_EXCLUSIVE);
    c->reuseaddr = (enum bg_reuseaddr)word_var(&x, BINDGUARD_ENV_REUSEADDR, reuseaddr_words,
                                               ARRAY_LEN(reuseaddr_words),
                                               BG_REUSEADDR_LINUX);
    c->emulate = word_var(&x, BINDGUARD_ENV_EMULATE, bool_words, ARRAY_LEN(bool_words),
                          0) != 0;
    c->force_exclusive = word_var(&x, BINDGUARD_ENV_FORCE_EXCLUSIVE, bool_words,
                                  ARRAY_LEN(bool_words), 0) != 0;
    parse_table(&x, c);
    c->table_slots = num_var(&x, BINDGUARD_ENV_TABLE_SLOTS, CONFIG_MIN_SLOTS,
                             CONFIG_MAX_SLOTS, CONFIG_DEFAULT_SLOTS);
    c->lock_timeout_ms = num_var(&x, BINDGUARD_ENV_LOCK_TIMEOUT_MS, MIN_LOCK_MS, MAX_LOCK_MS,
                                 DEFAULT_LOCK_MS);
    c->intent_wait_ms = num_var(&x, BINDGUARD_ENV_INTENT_WAIT_MS, 0, MAX_INTENT_MS,
                                DEFAULT_INTENT_MS);
    parse_log(&x, c);
    parse_share_uids(&x, c);
    return x.bad;
}

/* The BINDGUARD_* entries of the environment as the library found it at load, "NAME=VALUE"
 * one after the other, each NUL-ended (see config_keep_environment). Copies, not pointers:
 * a program may overwrite its initial environment strings (setproctitle emulations do). */
#define KEPT_MAX  8192
#define NOT_KEPT  SIZE_MAX
static char kept[KEPT_MAX];
/* Initialized, so it lives in .data, on a page the loader has touched already: this
 * module's .bss may start on a fresh one, and a process that makes no socket should not
 * pay a page fault for a length. */
static size_t kept_len = NOT_KEPT;

/* "BINDGUARD_", spelled out so that the compiler compares with immediates: a string
 * literal lives in .rodata, a page nothing else touches at load, and its first touch is
 * a page fault that costs more than this whole scan. */
static bool ours(const char *e)
{
    return e[0] == 'B' && e[1] == 'I' && e[2] == 'N' && e[3] == 'D' && e[4] == 'G' &&
           e[5] == 'U' && e[6] == 'A' && e[7] == 'R' && e[8] == 'D' && e[9] == '_';
}

void config_keep_environment(void)
{
    size_t used = 0;
    for (char **e = environ; e && *e; e++) {
        if (!ours(*e))
            continue;
        /* An entry that does not fit is clipped: it is far longer than any valid value. */
        size_t n = strnlen(*e, KEPT_MAX - 1 - used);
        memcpy(kept + used, *e, n);
        kept[used + n] = '\0';
        used += n + 1;
        if (used >= KEPT_MAX - 1)
            break;
    }
    __atomic_store_n(&kept_len, used, __ATOMIC_RELEASE);
}

static const char *kept_get(const char *name, size_t kept_used)
{
    size_t len = strlen(name);
    for (size_t at = 0; at < kept_used; at += strlen(kept + at) + 1)
        if (strncmp(kept + at, name, len) == 0 && kept[at + len] == '=')
            return kept + at + len + 1;
    return NULL;
}

/* The environment kept at load, else the live one (the CLI, tests). Not secure_getenv:
 * secure execution is decided once, for every variable, in config_load. */
static const char *env_get(const char *name)
{
    size_t used = __atomic_load_n(&kept_len, __ATOMIC_ACQUIRE);
    return used != NOT_KEPT ? kept_get(name, used) : getenv(name);
}

/* The log module is not set up yet (it is configured from this very result), so warnings
 * go to stderr directly: one write(2) per line, so they never interleave with the host's
 * own output mid-line. */
static void env_warn(const char *line)
{
    char buf[WARN_LINE_MAX + 1];
    size_t n = strnlen(line, WARN_LINE_MAX);
    memcpy(buf, line, n);
    buf[n++] = '\n';
    while (write(STDERR_FILENO, buf, n) < 0 && errno == EINTR)
        ;
}

uint64_t config_digest(uint64_t digest, const char *line)
{
    /* FNV-1a: not a secret, only "the same lines". */
    for (const unsigned char *p = (const unsigned char *)line; *p; p++)
        digest = (digest ^ *p) * UINT64_C(0x100000001b3);
    return digest;
}

/* The bad-value lines of this process's environment, held until we know whether
 * `bindguard run` has said them already. One per variable at most. */
#define HELD_MAX 16
static char held[HELD_MAX][WARN_LINE_MAX];
static unsigned n_held;
static uint64_t held_digest;

static void env_hold(const char *line)
{
    held_digest = config_digest(held_digest, line);
    if (n_held < HELD_MAX)
        snprintf(held[n_held++], WARN_LINE_MAX, "%s", line);
}

static bool reported_already(void)
{
    const char *v = env_get(BINDGUARD_ENV_VALIDATED);
    char mine[CONFIG_DIGEST_LEN];
    config_digest_format(held_digest, mine, sizeof mine);
    return v && strcmp(v, mine) == 0;
}

void config_digest_format(uint64_t digest, char *buf, size_t len)
{
    snprintf(buf, len, "%016llx", (unsigned long long)digest);
}

/* Every variable config_parse reads. */
static const char *const env_names[] = {
    BINDGUARD_ENV_PROFILE, BINDGUARD_ENV_MODE, BINDGUARD_ENV_DEFAULT,
    BINDGUARD_ENV_REUSEADDR, BINDGUARD_ENV_EMULATE, BINDGUARD_ENV_FORCE_EXCLUSIVE,
    BINDGUARD_ENV_TABLE, BINDGUARD_ENV_TABLE_SLOTS, BINDGUARD_ENV_LOCK_TIMEOUT_MS,
    BINDGUARD_ENV_INTENT_WAIT_MS, BINDGUARD_ENV_LOG, BINDGUARD_ENV_SHARE_UIDS,
};

/* Secure execution (AT_SECURE: a setuid or setcap program, reached through
 * /etc/ld.so.preload or a library it links): the environment comes from a less
 * privileged user, who must not choose the files a privileged process writes (the log,
 * the table) nor the rules it is judged by. Every variable reads as unset. */
static const char *env_none(const char *name)
{
    (void)name;
    return NULL;
}

/* One line, only if something was set: what was ignored (names only, from the copy
 * taken at load). */
static void secure_notice(void)
{
    char line[WARN_LINE_MAX];
    size_t n = (size_t)snprintf(line, sizeof line, "bindguard: secure execution "
                                "(setuid/setcap): ignoring");
    bool any = false;
    for (size_t i = 0; i < ARRAY_LEN(env_names) && n < sizeof line; i++) {
        const char *v = env_get(env_names[i]);
        if (v && *v) {
            n += (size_t)snprintf(line + n, sizeof line - n, "%s %s", any ? "," : "",
                                  env_names[i]);
            any = true;
        }
    }
    if (any && n < sizeof line)
        snprintf(line + n, sizeof line - n, "; using the defaults");
    if (any)
        env_warn(line);
}

static struct bg_config the_config;
static pthread_once_t the_config_once = PTHREAD_ONCE_INIT;

static void config_load(void)
{
    int saved = errno;
    bool secure = getauxval(AT_SECURE) != 0;
    held_digest = CONFIG_DIGEST_INIT;
    config_parse(&the_config, secure ? env_none : env_get, env_hold);
    if (secure)
        secure_notice();
    else if (n_held && !reported_already())
        for (unsigned i = 0; i < n_held; i++)
            env_warn(held[i]);
    errno = saved;
}

const struct bg_config *config_get(void)
{
    pthread_once(&the_config_once, config_load);
    return &the_config;
}

const char *config_mode_name(enum bg_mode m)
{
    return word_name(mode_words, ARRAY_LEN(mode_words), (int)m);
}

struct bg_classing config_classing(const struct bg_config *c)
{
    return (struct bg_classing){
        .default_exclusive = c->default_class == BG_DEFAULT_EXCLUSIVE,
        .reuseaddr_shares_tcp = c->reuseaddr == BG_REUSEADDR_WINDOWS,
        .force_exclusive = c->force_exclusive,
        .has_exclusive = c->profile->has_exclusive,
    };
}
