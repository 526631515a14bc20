/* rules - the rule book, whole: what one include gives the library, the CLI and the
 * kernel backend's BPF object alike. Nothing here includes libc (rules/types.h). */
#ifndef BG_RULES_H
#define BG_RULES_H

#include "types.h"
#include "verdict.h"
#include "claim.h"
#include "class.h"
#include "judge.h"

#endif
