/* ourtable - this process's own port table (ourtable.h). */
#include "ourtable.h"

#include <pthread.h>
#include <stdbool.h>
#include <time.h>
#include <unistd.h>

#include "guard.h"
#include "deniers.h"
#include "log.h"
#include "watch.h"

static pthread_once_t table_once = PTHREAD_ONCE_INIT;
static struct table *table;
static uid_t table_owner;   /* the euid that opened it: the uid it records for */
static bool table_dead;

static void open_table(void)
{
    const struct bg_config *cfg = guard_config();
    struct watch_notes n;
    struct table *t = watch_open(cfg->table, cfg->table_slots, true, &n);
    if (n.squat[0])
        log_once(LOG_TOPIC_TABLE_SQUAT, "%s", n.squat);
    if (!t) {
        log_once(LOG_TOPIC_TABLE_OPEN, "port table unavailable, binds are not judged: %s",
                 n.why);
        return;
    }
    if (n.unwatched)
        log_once(LOG_TOPIC_INTERNAL, "cannot watch the port table for truncation (SIGBUS)");
    table_owner = geteuid();
    table = t;
}

struct table *ourtable_get(void)
{
    pthread_once(&table_once, open_table);
    return __atomic_load_n(&table_dead, __ATOMIC_ACQUIRE) ? NULL : table;
}

/* A table unlinked or replaced under its name splits the processes in two: those that
 * had it open keep judging on it, new ones use another. Nothing is wrongly refused, but
 * protection is lost between the two groups: say so once. Looked at once a second at
 * most (time() is a vDSO read, the stat is not free). */
void ourtable_notice_replaced(struct table *t)
{
    static time_t last;
    time_t now = time(NULL);
    if (__atomic_exchange_n(&last, now, __ATOMIC_RELAXED) == now || !table_replaced(t))
        return;
    log_once(LOG_TOPIC_TABLE_OPEN, "port table %s was removed or replaced while this process "
             "used it; it keeps the old one and no longer sees processes started since "
             "(restart it to rejoin)", table_path(t));
}

uid_t ourtable_owner(void)
{
    return table_owner;
}

void ourtable_faulted(struct table *t)
{
    __atomic_store_n(&table_dead, true, __ATOMIC_RELEASE);
    judge_table_faulted(t);
}
