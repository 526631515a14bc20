/* ourtable - this process's own port table, as the shim uses it.
 *
 * Opened on the first judged bind, not at load: most programs never bind. A table that
 * vanished under us (truncated: SIGBUS) is dropped for the rest of the process. */
#ifndef BG_OURTABLE_H
#define BG_OURTABLE_H

#include <sys/types.h>

#include "table.h"

/* The table (opening it on first use, its mapping watched for truncation), or NULL:
 * none could be opened, or it faulted; binds then go to the kernel unjudged (logged). */
struct table *ourtable_get(void);
/* The euid that opened it: the uid whose bindings it records. Valid once
 * ourtable_get() returned a table. */
uid_t ourtable_owner(void);
/* Say once if the table was unlinked or replaced under its name (looked at once a
 * second at most). */
void ourtable_notice_replaced(struct table *t);
/* A fault_call on t was cut short: drop it for good (judge_table_faulted). */
void ourtable_faulted(struct table *t);

#endif
