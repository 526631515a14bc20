/* name - the file a table name stands for. */
#include "table_private.h"

#include <stdio.h>
#include <string.h>

#include "parse.h"
#include "why.h"

bool table_file_path(const char *name, char *buf, size_t len, char *why, size_t whylen)
{
    const char *wrong = parse_table_name(name);
    if (wrong) {
        why_set(why, whylen, "table name \"%s\" %s", name ? name : "", wrong);
        return false;
    }
    bool slash_inside = strchr(name + 1, '/') != NULL;
    int n = slash_inside ? snprintf(buf, len, "%s", name)
                         : snprintf(buf, len, "/dev/shm/%s", name + (name[0] == '/'));
    if (n < 0 || (size_t)n >= len) {
        why_set(why, whylen, "table name too long");
        return false;
    }
    return true;
}

