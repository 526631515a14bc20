/* fault - survive shared memory that shrinks under us.
 *
 * The table file is writable by every user, so anyone can truncate it; the next touch of
 * the vanished pages raises SIGBUS. Work on a watched mapping runs through fault_call:
 * a SIGBUS inside a watched range during that work unwinds to fault_call, which returns
 * false, and the caller stops using the table. Faults anywhere else go to the handler
 * the program had before (or the default action), untouched. */
#ifndef BG_FAULT_H
#define BG_FAULT_H

#include <stdbool.h>
#include <stddef.h>

/* Watch [base, base+len): install the SIGBUS handler on first use. false if it could
 * not be installed (then callers should not rely on fault_call for that range). */
bool fault_watch(const void *base, size_t len);

/* The program set a SIGBUS disposition (sigaction/signal, seen by the interposer): the
 * next fault_call puts our handler back on top if it was replaced, passing faults not
 * ours on to the program's. Handlers set through raw system calls are not seen. */
void fault_disposition_changed(void);

/* Run fn(arg). true if it returned normally, false if a watched fault cut it short. */
bool fault_call(void (*fn)(void *arg), void *arg);

#endif
