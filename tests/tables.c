#include "tables.h"

#include <check.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "kernel.h"
#include "own.h"
#include "table.h"

size_t tables_entries(const char *name, unsigned slots)
{
    char why[256];
    struct table *t = own_open(name, slots, why, sizeof why, NULL, 0);
    ck_assert_msg(t, "table %s: %s", name, why);
    ck_assert_int_eq(table_lock(t, 1000), 0);
    size_t n = table_count(t);
    table_unlock(t);
    table_close(t);
    return n;
}

struct snapshot {
    struct table_entry *e;
    uint32_t *idx;
    size_t n, cap;
};

static bool snap_one(struct table_entry *e, uint32_t idx, void *arg)
{
    struct snapshot *s = arg;
    if (s->n == s->cap)
        return false;
    s->e[s->n] = *e;
    s->idx[s->n++] = idx;
    return true;
}

/* Alive, gone or unknown, asked as `bindguard gc` must: a TCP entry may be bound without
 * listening whatever its flags say (a listener that was shut down is bound-only again). */
static enum kernel_answer ask_kernel(const struct table_entry *e)
{
    if (e->flags & TABLE_F_LINGER)
        return kernel_has_connections(&e->addr, e->uid);
    return kernel_confirm(e->proto, &e->addr, e->inode, e->uid, e->proto == IPPROTO_TCP);
}

bool tables_gc(const char *name, struct tables_gc *out, char *why, size_t whylen)
{
    memset(out, 0, sizeof *out);
    struct table *t = own_open(name, 0, why, whylen, NULL, 0);
    if (!t)
        return false;
    bool ok = false;
    uint32_t cap = table_capacity(t);
    struct snapshot s = {calloc(cap, sizeof *s.e), calloc(cap, sizeof *s.idx), 0, cap};
    ck_assert(s.e && s.idx);
    int r = table_lock(t, 2000);
    if (r != 0) {
        snprintf(why, whylen, "table_lock: %s", strerror(r));
        goto out;
    }
    table_each(t, snap_one, &s);
    table_unlock(t);

    /* The kernel is asked outside the lock, as guard does: it can take milliseconds. */
    enum kernel_answer *ans = calloc(s.n + 1, sizeof *ans);
    ck_assert(ans);
    for (size_t i = 0; i < s.n; i++)
        ans[i] = ask_kernel(&s.e[i]);
    if ((r = table_lock(t, 2000)) != 0) {
        snprintf(why, whylen, "table_lock: %s", strerror(r));
        free(ans);
        goto out;
    }
    for (size_t i = 0; i < s.n; i++) {
        if (ans[i] == KERNEL_GONE)
            out->reaped += table_release(t, s.idx[i], s.e[i].id);
        else if (ans[i] == KERNEL_ALIVE)
            out->kept++;
        else
            out->unknown++;
    }
    out->left = (unsigned)table_count(t);
    out->repairs = table_header(t)->repairs;
    ok = table_check(t, why, whylen) == 0;
    table_unlock(t);
    free(ans);
out:
    free(s.e);
    free(s.idx);
    table_close(t);
    return ok;
}
