/* why - see why.h. */
#include "why.h"

#include <stdio.h>

void why_vset(char *why, size_t whylen, const char *fmt, va_list ap)
{
    if (why && whylen)
        vsnprintf(why, whylen, fmt, ap);
}

void why_set(char *why, size_t whylen, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    why_vset(why, whylen, fmt, ap);
    va_end(ap);
}
