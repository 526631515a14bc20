/* text - bytes from elsewhere (a process name, an environment value) made safe to print.
 *
 * A terminal acts on control characters: C0 (0x00-0x1f), DEL, and C1, which terminals
 * take both as single bytes 0x80-0x9f and as U+0080-U+009F in UTF-8 (0xc2 0x80-0x9f).
 * They can move the cursor, recolour, retitle, or forge a whole line. Every text
 * bindguard prints that came from outside goes through this one reading: text output
 * shows each control as '?' (text_defang), JSON as \u00XX (text_next). A byte 0x80-0x9f
 * inside a well-formed UTF-8 sequence is part of a character, not a control. */
#ifndef BG_TEXT_H
#define BG_TEXT_H

#include <stdbool.h>
#include <stddef.h>

/* Length of the well-formed UTF-8 sequence (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF) at s, of at most n bytes, or 0 if there is none. */
static inline size_t text_utf8_len(const unsigned char *s, size_t n)
{
    unsigned char c = s[0], lo = 0x80, hi = 0xbf;
    size_t len;
    if (c >= 0xc2 && c <= 0xdf) {
        len = 2;
    } else if (c >= 0xe0 && c <= 0xef) {
        len = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        len = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else {
        return 0;
    }
    if (n < len || s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < len; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return len;
}

/* One unit of text: a well-formed UTF-8 sequence, or a single byte. */
struct text_unit {
    size_t len;      /* >= 1 */
    bool utf8;       /* ASCII or a well-formed multibyte sequence */
    int control;     /* its control code (0x00-0x1f, 0x7f, 0x80-0x9f), or -1 */
};

/* The unit at s, n >= 1 bytes left. */
static inline struct text_unit text_next(const unsigned char *s, size_t n)
{
    unsigned char c = s[0];
    if (c < 0x80)
        return (struct text_unit){ 1, true, c < 0x20 || c == 0x7f ? c : -1 };
    size_t len = text_utf8_len(s, n);
    if (len == 0)
        return (struct text_unit){ 1, false, c <= 0x9f ? c : -1 };
    return (struct text_unit){ len, true, len == 2 && c == 0xc2 && s[1] <= 0x9f ? s[1] : -1 };
}

/* Each control in s[0, len) becomes '?', in place; returns the new length (a C1 control
 * written in UTF-8 shrinks to one byte). The result is NUL-terminated if s had room. */
static inline size_t text_defang(char *s, size_t len)
{
    unsigned char *p = (unsigned char *)s;
    size_t in = 0, out = 0;
    while (in < len) {
        struct text_unit u = text_next(p + in, len - in);
        if (u.control >= 0) {
            p[out++] = '?';
        } else {
            for (size_t i = 0; i < u.len; i++)
                p[out + i] = p[in + i];
            out += u.len;
        }
        in += u.len;
    }
    if (out < len)
        p[out] = '\0';
    return out;
}

#endif
