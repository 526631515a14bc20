/* budget - taking a table's lock within one bind()'s time budget.
 *
 * One bind() may take the lock several times (judge, reap, bind, intent); together they
 * must not wait longer than the configured lock timeout, or a hung holder would cost the
 * host a multiple of it. budget_begin()/budget_end() bracket one such call on this
 * thread; outside a bracket every lock gets the whole timeout. */
#ifndef BG_BUDGET_H
#define BG_BUDGET_H

#include <stdbool.h>

#include "table.h"

void budget_begin(void);
void budget_end(void);
/* Lock t within what is left of the budget (0 left: a free lock is still taken). false:
 * not taken, and why has been logged once (timeout, orphaned lock, bad table). */
bool budget_lock(struct table *t);

#endif
