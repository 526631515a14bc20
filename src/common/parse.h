/* parse - the small strict readers that the environment, the command line, addresses
 * and /proc share, so that each kind of value is read by one rule everywhere.
 *
 * Strict on purpose: a value with a sign, a blank, a base prefix or trailing junk is
 * refused rather than half-understood. */
#ifndef BG_PARSE_H
#define BG_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* Exactly len bytes of decimal digits (not empty) whose value is in [min, max]: then
 * *out and true. */
bool parse_u32(const char *s, size_t len, uint32_t min, uint32_t max, uint32_t *out);
/* parse_u32 over the whole NUL-terminated string. */
bool parse_u32_str(const char *s, uint32_t min, uint32_t max, uint32_t *out);

/* Equal but for ASCII case. Not strcasecmp, which follows the locale: under tr_TR,
 * "AUDIT" is not "audit" to it. */
bool parse_caseeq(const char *a, const char *b);

/* An absolute file path with no ".." component, not ending in "/" or "/." (a log file). */
bool parse_abs_file_path(const char *s);

/* A port table name: a POSIX shm name ("bindguard-v3", "/bindguard-v3") or an absolute
 * path, with no ".." component and not ending in "/" or "/." (a directory). NULL when s
 * is one, else what is wrong, as a phrase ("is a relative path ..."). Length is the
 * caller's business: each has its own buffer. */
const char *parse_table_name(const char *s);

#endif
