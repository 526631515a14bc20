/* config_env - the process's own environment: kept at load, parsed once on first use,
 * its bad values said once per process tree, ignored under secure execution (config.h). */
#include "config.h"

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/auxv.h>
#include <unistd.h>

#include "bindguard.h"

#define ARRAY_LEN(a) (sizeof(a) / sizeof((a)[0]))

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
    char buf[CONFIG_LINE_MAX + 1];
    size_t n = strnlen(line, CONFIG_LINE_MAX);
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
static char held[HELD_MAX][CONFIG_LINE_MAX];
static unsigned n_held;
static uint64_t held_digest;

static void env_hold(const char *line)
{
    held_digest = config_digest(held_digest, line);
    if (n_held < HELD_MAX)
        snprintf(held[n_held++], CONFIG_LINE_MAX, "%s", line);
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
    char line[CONFIG_LINE_MAX];
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
