/* foreign - other users' port tables, read so that their owners cannot hurt the reader
 * (doc/design.md "Trust domains").
 *
 * Never mapped (a truncation must not become SIGBUS) and never locked (their mutex lives
 * in a file someone else writes): every byte comes in by pread into our own memory.
 * Tables are found by listing the prefix's directory, cached until its mtime changes
 * (looked at once per FOREIGN_DIR_CHECK_MS: a new table is seen within FOREIGN_VISIBLE_MS);
 * each is kept open (read-only, close-on-exec, on a high descriptor) and re-checked by
 * device and inode before a walk reads through it (and all of them every second), since
 * the host may close or reuse any descriptor. A table speaks only for its file's owner: entries naming another
 * uid are dropped. Work per table per lookup is capped (FOREIGN_MAX_STEPS chain links, one
 * read each; an entry on the wanted key is read again and taken only if both reads agree
 * and its sequence count is even, at most FOREIGN_TORN_RETRIES tries), and the common case
 * costs one 4-byte pread of the table's per-port summary. A key read less than
 * FOREIGN_REUSE_MS ago is answered from that read while the table looks unchanged there
 * (same bucket head link and head entry id: owners link every new entry at the head with
 * a new id) and the read held no intent (they change in place), so a table full of
 * entries costs two preads per lookup, not a walk; an owner's in-place change of an
 * entry further down (listen renewing its id) is seen up to FOREIGN_REUSE_MS late. What
 * is read is a claim: only the kernel makes it a denial.
 *
 * Every call except foreign_begin must be made between foreign_begin and foreign_end (a
 * process-private lock: one thread at a time reads the set). */
#ifndef BG_FOREIGN_H
#define BG_FOREIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "table.h"

#define FOREIGN_MAX_TABLES   64   /* more are logged (foreign_overflow) and not read */
#define FOREIGN_MAX_STEPS    32   /* chain links read per table per lookup */
#define FOREIGN_TORN_RETRIES 3    /* reads of an entry that keeps changing, then skipped */
#define FOREIGN_DIR_CHECK_MS 10   /* the directory's mtime is looked at at most this often */
#define FOREIGN_VISIBLE_MS   (FOREIGN_DIR_CHECK_MS + 5)   /* + the coarse clock's tick */
#define FOREIGN_REUSE_MS     20   /* a key's read reused while the table looks unchanged */
#define FOREIGN_REUSE_HITS   8    /* reads asking for more entries are never reused */

/* Refresh the set of tables under `prefix` (shm name or absolute path, as own.h) unless
 * the directory is unchanged, leaving out the file (own_dev, own_ino): this process's own
 * table (0, 0: none). Returns how many tables the set holds. */
int  foreign_begin(const char *prefix, uint64_t own_dev, uint64_t own_ino);
void foreign_end(void);
/* In a fork child: the lock may have been held by a thread that is not there. */
void foreign_after_fork_child(void);

/* Did a read since foreign_begin find a descriptor the host closed or reused? Then the
 * set is listed again by the next foreign_begin, and what was read may be incomplete. */
bool foreign_stale(void);
/* Had the table of the last foreign_find changed on its key since this process read it
 * there less than FOREIGN_REUSE_MS before (a walk that a reused read would have saved)? */
bool foreign_churned(void);
/* Did the last refresh find more tables than FOREIGN_MAX_TABLES? */
bool foreign_overflow(void);
uint32_t foreign_owner(int ti);          /* table ti's file owner */
const char *foreign_path(int ti);        /* its path, for list and log lines */
void foreign_id(int ti, uint64_t *dev, uint64_t *ino);   /* its file, stable across lists */

/* Entries of table ti on (netns, proto, port), pending ones included, up to max (the
 * number stored is returned; 0 also when the table changed under its descriptor).
 * idx[i] is out[i]'s slot, for foreign_reread. */
int foreign_find(int ti, uint64_t netns, uint8_t proto, uint16_t port,
                 struct table_entry *out, uint32_t *idx, size_t max);
/* Re-read one slot: true and *e if it still holds a live entry with this id. */
bool foreign_reread(int ti, uint32_t idx, uint64_t id, struct table_entry *e);
/* Every live entry of table ti (list, check), at most `max_slots` slots scanned; stop
 * when fn returns false. */
void foreign_each(int ti, uint32_t max_slots,
                  bool (*fn)(const struct table_entry *e, void *arg), void *arg);

#endif
