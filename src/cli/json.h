/* json - a small streaming JSON writer: the CLI's --json output, the benchmarks' results.
 *
 * Commas and nesting are tracked here so callers only say what comes next. Strings are
 * escaped for JSON and made valid UTF-8 (process names are arbitrary bytes): anything
 * that is not well-formed UTF-8 becomes U+FFFD. */
#ifndef BG_CLI_JSON_H
#define BG_CLI_JSON_H

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>

#define JSON_MAX_DEPTH 16

struct json {
    FILE    *out;
    unsigned depth;
    bool     has_items[JSON_MAX_DEPTH];
};

void json_start(struct json *j, FILE *out);
/* Ends the document with a newline. */
void json_finish(struct json *j);

/* The CLI's documents: json_start, a top-level object whose first member is "version"
 * (every object the CLI prints carries it), and its end with json_finish. */
void json_document_begin(struct json *j, FILE *out);
void json_document_end(struct json *j);

/* `key` names the member inside an object; pass NULL inside an array or at the top. */
void json_object_begin(struct json *j, const char *key);
void json_object_end(struct json *j);
void json_array_begin(struct json *j, const char *key);
void json_array_end(struct json *j);

void json_string(struct json *j, const char *key, const char *value);  /* NULL: null */
void json_int(struct json *j, const char *key, int64_t value);
void json_uint(struct json *j, const char *key, uint64_t value);
/* %.6g; NaN and infinities (no JSON number says them) as null. */
void json_double(struct json *j, const char *key, double value);
void json_bool(struct json *j, const char *key, bool value);
void json_null(struct json *j, const char *key);

#endif
