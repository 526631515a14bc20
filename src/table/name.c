/* name - the file a table name stands for. */
#include "table_private.h"

#include <stdio.h>
#include <string.h>

#include "why.h"

bool table_file_path(const char *name, char *buf, size_t len, char *why, size_t whylen)
{
    if (!name || !*name || !strcmp(name, "/")) {
        why_set(why, whylen, "empty table name");
        return false;
    }
    bool slash_inside = strchr(name + 1, '/') != NULL;
    if (name[0] != '/' && slash_inside) {
        why_set(why, whylen, "table name \"%s\" is a relative path: give a shm name "
            "(bindguard-v3) or an absolute path", name);
        return false;
    }
    int n = slash_inside ? snprintf(buf, len, "%s", name)
                         : snprintf(buf, len, "/dev/shm/%s", name + (name[0] == '/'));
    if (n < 0 || (size_t)n >= len) {
        why_set(why, whylen, "table name too long");
        return false;
    }
    return true;
}

