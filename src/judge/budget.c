/* budget - the lock time budget of one bind() (budget.h). */
#include "budget.h"

#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <time.h>

#include "guard.h"
#include "log.h"

/* 0: no call under way; the next lock gets the whole bound. */
static __thread int64_t tls_lock_deadline_ms __attribute__((tls_model("initial-exec")));

static int64_t monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static unsigned lock_budget_ms(void)
{
    if (!tls_lock_deadline_ms)
        return guard_config()->lock_timeout_ms;
    int64_t left = tls_lock_deadline_ms - monotonic_ms();
    return left > 0 ? (unsigned)left : 0;
}

bool budget_lock(struct table *t)
{
    int err = table_lock(t, lock_budget_ms());  /* 0: a free lock is still taken */
    if (err == 0)
        return true;
    /* Its own topic: a lock merely slow once must not hide one that will never come. */
    bool orphaned = err == ETIMEDOUT && table_lock_orphaned(t);
    char why[CONFIG_PATH_MAX + 160];
    if (orphaned)  /* the advice names the table: run from another environment, it works */
        snprintf(why, sizeof why, "lock held by a thread that no longer exists (run "
                 "`bindguard gc --rebuild --table %s`)", table_path(t));
    else
        snprintf(why, sizeof why, "%s", err == EDEADLK || err == ETIMEDOUT
                                            ? table_lock_trouble(err)
                                            : "table failed validation");
    log_once(orphaned ? LOG_TOPIC_LOCK_ORPHANED : LOG_TOPIC_TABLE_LOCK,
             "port table %s: %s; binds go to the kernel unjudged", table_path(t), why);
    return false;
}

void budget_begin(void)
{
    tls_lock_deadline_ms = monotonic_ms() + guard_config()->lock_timeout_ms;
}

void budget_end(void)
{
    tls_lock_deadline_ms = 0;
}
