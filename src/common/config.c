/* config - config_parse: BINDGUARD_* values read and validated (config.h).
 *
 * Parsing is strict on purpose: a value with a typo, a sign, a space or trailing junk is
 * reported rather than half-understood, because a silently misread BINDGUARD_MODE or
 * BINDGUARD_TABLE would leave an operator believing a port is protected when it is not. */
#include "config.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bindguard.h"
#include "parse.h"
#include "text.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))
#define STR_(x) #x
#define STR(x)  STR_(x)

/* Long or hostile values are clipped in the warning so that its "; using ..." tail, the
 * part that says what bindguard does instead, always fits in one line. */
#define SHOWN_VALUE_MAX 80

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
    char line[CONFIG_LINE_MAX];
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
