/* json - see json.h. */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>

#include "bg_config.h"

/* Length of the well-formed UTF-8 sequence at s (RFC 3629: no overlongs, no surrogates,
 * nothing above U+10FFFF), or 0 if it is not one. */
static size_t utf8_len(const unsigned char *s)
{
    unsigned char c = s[0];
    size_t n;
    unsigned char lo = 0x80, hi = 0xbf;
    if (c >= 0xc2 && c <= 0xdf)
        n = 2;
    else if (c >= 0xe0 && c <= 0xef) {
        n = 3;
        lo = c == 0xe0 ? 0xa0 : 0x80;
        hi = c == 0xed ? 0x9f : 0xbf;
    } else if (c >= 0xf0 && c <= 0xf4) {
        n = 4;
        lo = c == 0xf0 ? 0x90 : 0x80;
        hi = c == 0xf4 ? 0x8f : 0xbf;
    } else
        return 0;
    if (s[1] < lo || s[1] > hi)
        return 0;
    for (size_t i = 2; i < n; i++)
        if (s[i] < 0x80 || s[i] > 0xbf)
            return 0;
    return n;
}

static void put_string(FILE *out, const char *s)
{
    fputc('"', out);
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        if (*p == '"' || *p == '\\') {
            fprintf(out, "\\%c", *p++);
        } else if (*p < 0x20 || *p == 0x7f) {
            fprintf(out, "\\u%04x", *p++);
        } else if (*p < 0x80) {
            fputc(*p++, out);
        } else {
            size_t n = utf8_len(p);
            if (n) {
                fwrite(p, 1, n, out);
                p += n;
            } else {
                fputs("\\ufffd", out);
                p++;
            }
        }
    }
    fputc('"', out);
}

/* The separator and the key before a value. */
static void member(struct json *j, const char *key)
{
    if (j->depth > 0 && j->depth <= JSON_MAX_DEPTH) {
        if (j->has_items[j->depth - 1])
            fputc(',', j->out);
        j->has_items[j->depth - 1] = true;
    }
    if (key) {
        put_string(j->out, key);
        fputc(':', j->out);
    }
}

static void open_with(struct json *j, const char *key, char c)
{
    member(j, key);
    fputc(c, j->out);
    if (j->depth < JSON_MAX_DEPTH)
        j->has_items[j->depth] = false;
    j->depth++;
}

static void close_with(struct json *j, char c)
{
    if (j->depth > 0)
        j->depth--;
    fputc(c, j->out);
}

void json_start(struct json *j, FILE *out)
{
    j->out = out;
    j->depth = 0;
}

void json_finish(struct json *j)
{
    fputc('\n', j->out);
}

void json_object_begin(struct json *j, const char *key)
{
    open_with(j, key, '{');
}

void json_object_end(struct json *j)
{
    close_with(j, '}');
}

void json_array_begin(struct json *j, const char *key)
{
    open_with(j, key, '[');
}

void json_array_end(struct json *j)
{
    close_with(j, ']');
}

void json_string(struct json *j, const char *key, const char *value)
{
    member(j, key);
    if (value)
        put_string(j->out, value);
    else
        fputs("null", j->out);
}

void json_int(struct json *j, const char *key, int64_t value)
{
    member(j, key);
    fprintf(j->out, "%" PRId64, value);
}

void json_uint(struct json *j, const char *key, uint64_t value)
{
    member(j, key);
    fprintf(j->out, "%" PRIu64, value);
}

void json_double(struct json *j, const char *key, double value)
{
    member(j, key);
    if (isfinite(value))
        fprintf(j->out, "%.6g", value);
    else
        fputs("null", j->out);
}

void json_bool(struct json *j, const char *key, bool value)
{
    member(j, key);
    fputs(value ? "true" : "false", j->out);
}

void json_null(struct json *j, const char *key)
{
    member(j, key);
    fputs("null", j->out);
}

void json_document_begin(struct json *j, FILE *out)
{
    json_start(j, out);
    json_object_begin(j, NULL);
    json_string(j, "version", BINDGUARD_VERSION_STRING);
}

void json_document_end(struct json *j)
{
    json_object_end(j);
    json_finish(j);
}
