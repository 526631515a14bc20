/* preload - which libbindguard.so to preload, and LD_PRELOAD with it added.
 *
 * A library is looked for where the running binary says it should be, not on the
 * loader's search path: a build tree's program must preload that build's library, and an
 * installed one (even unpacked under a DESTDIR) the library installed beside it. The CLI
 * and the benchmarks share this. */
#ifndef BG_CLI_PRELOAD_H
#define BG_CLI_PRELOAD_H

#include <stdbool.h>
#include <stddef.h>

/* The first dirs[i]/name that is readable, canonical (no "bin/../lib"), in buf. Each of
 * dirs (NULL-ended) is absolute, or relative to the directory of this executable; ""
 * is skipped. false: none, and `tried` lists the directories looked in. */
bool preload_find(const char *name, const char *const *dirs, char *buf, size_t len,
                  char *tried, size_t tried_len);

/* The environment variable env's value if it is set and not empty (an explicit choice:
 * meson's BG_LIB for the benchmarks), else preload_find(name, dirs, ...). */
bool preload_find_or_env(const char *env, const char *name, const char *const *dirs,
                         char *buf, size_t len, char *tried, size_t tried_len);

/* libbindguard.so: beside this executable (a build tree), then the installed libdir
 * relative to it (works under a DESTDIR), then the configured libdir. */
bool cli_find_library(char *buf, size_t len, char *tried, size_t tried_len);
/* Append lib to LD_PRELOAD, keeping what is there, unless that very file is preloaded
 * already (matched by identity, not name). Any other libbindguard.so there (stale, or
 * another build) is taken out: two copies would each judge a bind, and a stale one would
 * leave the program unprotected. Those taken out go to `dropped` (':'-separated, "" if
 * none) for the caller to say. false: errno says why. */
bool cli_add_preload(const char *lib, char *dropped, size_t dropped_len);
/* The first LD_PRELOAD element naming a libbindguard.so (NULL: none), *len its length. */
const char *cli_preload_find(const char *preload, size_t *len);
/* preload (may be NULL) without its libbindguard.so elements, ':'-separated, into buf. */
void cli_preload_without(const char *preload, char *buf, size_t len);

#endif
