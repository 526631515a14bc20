/* why - one line of explanation written into a caller's buffer.
 *
 * Functions that can fail for a reason worth showing take (char *why, size_t whylen);
 * either may be NULL / 0 when the caller does not want the reason. */
#ifndef BG_WHY_H
#define BG_WHY_H

#include <stdarg.h>
#include <stddef.h>

/* printf into why (truncated to whylen, NUL-terminated); nothing if why is NULL or
 * whylen is 0. */
void why_set(char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
void why_vset(char *why, size_t whylen, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

#endif
