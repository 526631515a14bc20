/* json - see json.h. */
#include "json.h"

#include <inttypes.h>
#include <math.h>
#include <stddef.h>
#include <string.h>

#include "bg_config.h"
#include "text.h"

static void put_string(FILE *out, const char *s)
{
    const unsigned char *p = (const unsigned char *)s;
    size_t left = strlen(s);
    fputc('"', out);
    while (left) {
        struct text_unit u = text_next(p, left);
        if (u.control >= 0)
            fprintf(out, "\\u%04x", (unsigned)u.control);
        else if (!u.utf8)
            fputs("\\ufffd", out);
        else if (*p == '"' || *p == '\\')
            fprintf(out, "\\%c", *p);
        else
            fwrite(p, 1, u.len, out);
        p += u.len;
        left -= u.len;
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
