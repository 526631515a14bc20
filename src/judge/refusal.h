/* refusal - a refusal in words, as the log and `bindguard check` give it
 * (doc/design.md "Naming the holder"). */
#ifndef BG_REFUSAL_H
#define BG_REFUSAL_H

#include <stdbool.h>
#include <stddef.h>

#include "holder.h"
#include "deniers.h"

/* The refusal line for `want` against denier d (without the log's prefix) into line,
 * naming h, the live process found holding d's binding (pid 0: none found). audit: the
 * line says the bind was let through all the same. */
void refusal_format(const struct table_entry *want, const struct denier *d, bool audit,
                    const struct holder *h, char *line, size_t len);

#endif
