/* env - the BINDGUARD_* environment, judged by the command itself (cli.h, cli_config). */
#include "cli.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include "bindguard.h"

#define PREFIX "bindguard: "

struct lines {
    uint64_t digest;
    unsigned n;
    char first[512], table[512];   /* the first line, and BINDGUARD_TABLE's */
    bool say;                      /* tell each line as it comes */
};
static struct lines seen;

/* config.c words each line "bindguard: VAR='value' is not valid (...); using DEFAULT". */
static void collect(const char *line)
{
    seen.digest = config_digest(seen.digest, line);
    const char *text = strncmp(line, PREFIX, strlen(PREFIX)) == 0 ? line + strlen(PREFIX) : line;
    if (seen.n++ == 0)
        snprintf(seen.first, sizeof seen.first, "%s", text);
    if (strncmp(text, BINDGUARD_ENV_TABLE "=", strlen(BINDGUARD_ENV_TABLE) + 1) == 0)
        snprintf(seen.table, sizeof seen.table, "%s", text);
    if (seen.say)
        cli_say(0, "%s", text);
}

static const char *env_get(const char *name)
{
    return getenv(name);
}

/* Like a bad option: one line, without the fallback, which is not taken. */
static const struct bg_config *refuse(char *line)
{
    char *tail = strstr(line, "; using ");
    if (tail)
        *tail = '\0';
    cli_usage("%s", line);
    return NULL;
}

const struct bg_config *cli_config(bool starts_program)
{
    struct bg_config c;
    seen = (struct lines){ .digest = CONFIG_DIGEST_INIT };
    config_parse(&c, env_get, collect);
    if (seen.n == 0)
        return config_get();
    /* BINDGUARD_TABLE names a file: a bad one stops even a command that starts a
     * program, which would otherwise bind in the default table, not the one named. */
    if (seen.table[0])
        return refuse(seen.table);
    if (!starts_program)
        return refuse(seen.first);
    /* Said here once, each with the default it falls back to; the library is told. */
    seen = (struct lines){ .digest = CONFIG_DIGEST_INIT, .say = true };
    config_parse(&c, env_get, collect);
    char digest[CONFIG_DIGEST_LEN];
    config_digest_format(seen.digest, digest, sizeof digest);
    if (setenv(BINDGUARD_ENV_VALIDATED, digest, 1) != 0) {
        cli_fail("cannot set %s: %s", BINDGUARD_ENV_VALIDATED, strerror(errno));
        return NULL;
    }
    return config_get();
}
