/* own - which file is a uid's own port table (doc/design.md "Trust domains").
 *
 * A uid's table is `<prefix>.<uid>`, created by that uid. A file under that name owned by
 * someone else (squatted: anyone may create files in /dev/shm) is skipped and the next
 * `<prefix>.<uid>.<n>` (n = 1..OWN_MAX_ALTERNATES) is used; every process of the uid walks
 * the same sequence, so they all meet on the same file. The name is a convention for
 * finding a table, never a claim: readers take a table's uid from its file's owner. */
#ifndef BG_OWN_H
#define BG_OWN_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#include "table.h"

#define OWN_MAX_ALTERNATES 8

/* Open (or create) this process's own table under `prefix` (a shm name or an absolute
 * path, as table_open takes): the one for geteuid(). NULL with one line in why. `squat`
 * (may be NULL) gets one line naming the first squatted name that was skipped, or "". */
struct table *own_open(const char *prefix, uint32_t slots, char *why, size_t whylen,
                       char *squat, size_t squatlen);

/* The same table, never created: NULL with errno ENOENT (and one line in why) when this
 * uid has none yet, for the commands that only read (list, check, gc). */
struct table *own_attach(const char *prefix, char *why, size_t whylen, char *squat,
                         size_t squatlen);

/* The file this process's table is, or would be created, under prefix: the first of
 * own_name's candidates for geteuid() that no one else squats (own_open's walk, nothing
 * opened). false if no name fits or every one is squatted. */
bool own_file(const char *prefix, char *path, size_t len);

/* The n-th candidate name of uid's table under prefix (n = 0: `<prefix>.<uid>`). false if
 * it does not fit. */
bool own_name(const char *prefix, uid_t uid, unsigned n, char *buf, size_t len);

#endif
