/* log - bindguard's only voice: one line per refused bind, one line per trouble.
 *
 * Lines are formatted into a stack buffer and written with one write(2): no malloc, no
 * stdio, no locks, so a forking or signal-handling host cannot deadlock on them. */
#ifndef BG_LOG_H
#define BG_LOG_H

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

#define LOG_LINE_MAX 512

/* Where lines go (from the configuration); safe to call again. */
void log_setup(enum bg_log target, const char *path);

/* One line, "bindguard: " prefixed, newline added. */
void log_line(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* Once per process for each distinct `topic` (a small enum of troubles, < 64). */
enum log_topic {
    LOG_TOPIC_TABLE_OPEN, LOG_TOPIC_TABLE_LOCK, LOG_TOPIC_LOCK_ORPHANED, LOG_TOPIC_TABLE_FULL,
    LOG_TOPIC_TABLE_CORRUPT, LOG_TOPIC_TABLE_SQUAT, LOG_TOPIC_NOT_RECORDED,
    LOG_TOPIC_INTENT, LOG_TOPIC_DOMAINS,
    LOG_TOPIC_KERNEL, LOG_TOPIC_CONFIG, LOG_TOPIC_INTERNAL, LOG_TOPIC_COUNT
};
void log_once(enum log_topic topic, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* The refusal line (without prefix/newline), e.g.
 * "bind 0.0.0.0:8080/tcp refused (EACCES): held exclusively by pid 4242 (nginx, uid 33)
 *  on 0.0.0.0:8080 since 14:03:07 [ws2003 different-user, exclusive wildcard vs default
 *  wildcard]". Pure: returns what snprintf returns. */
struct log_refusal {
    const char *want_addr;   /* formatted address being bound */
    const char *proto;       /* "tcp" / "udp" */
    int         err;         /* EADDRINUSE / EACCES */
    const char *held_how;    /* "exclusively", "for sharing", "by default" */
    int         pid;
    const char *comm;
    uint32_t    uid;
    const char *held_addr;
    int64_t     since;       /* realtime seconds; shown as local HH:MM:SS */
    const char *table;       /* policy_table_name() */
    const char *first;       /* "exclusive wildcard" */
    const char *second;      /* "default wildcard" */
    const char *rule;        /* NULL, or a rule beyond the cell: "across stacks" */
    const char *audit;       /* NULL, or "audit: would be" wording */
};
int log_format_refusal(const struct log_refusal *r, char *buf, size_t len);
/* log_refusal.uid when the holder's owner is not known: "(uid N)" is left out. */
#define LOG_UID_UNKNOWN UINT32_MAX

/* Tests only: forget which log_once topics have been said. */
void log_reset_once(void);

#endif
