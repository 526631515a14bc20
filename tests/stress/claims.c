#include "claims.h"

#include <arpa/inet.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

/* A hash of inodes over a pool of claims; the pool grows, freed claims are reused. */
#define HASH_BITS 16
static pthread_mutex_t claims_lock = PTHREAD_MUTEX_INITIALIZER;
static int32_t heads[1 << HASH_BITS];
static struct claim *pool;
static int32_t pool_used, pool_cap, pool_free;

void claims_reset(void)
{
    for (size_t i = 0; i < sizeof heads / sizeof heads[0]; i++)
        heads[i] = -1;
    free(pool);
    pool = NULL;
    pool_used = pool_cap = 0;
    pool_free = -1;
}

static int32_t *chain_of(uint32_t inode)
{
    return &heads[(inode * 2654435761u) >> (32 - HASH_BITS)];
}

/* The link that points at inode's claim (its chain's end if none); claims_lock held. */
static int32_t *link_to(uint32_t inode)
{
    int32_t *at = chain_of(inode);
    while (*at >= 0 && pool[*at].inode != inode)
        at = &pool[*at].next;
    return at;
}

void claim_put(const struct claim *c)
{
    pthread_mutex_lock(&claims_lock);
    int32_t *at = link_to(c->inode);
    if (*at < 0) {
        int32_t i = pool_free;
        if (i >= 0) {
            pool_free = pool[i].next;
        } else {
            if (pool_used == pool_cap) {
                pool_cap = pool_cap ? pool_cap * 2 : 65536;
                pool = realloc(pool, (size_t)pool_cap * sizeof *pool);
                if (!pool)
                    abort();
                at = link_to(c->inode);  /* the pool moved */
            }
            i = pool_used++;
        }
        pool[i] = *c;
        pool[i].next = -1;
        *at = i;
    } else {
        int32_t next = pool[*at].next;
        pool[*at] = *c;
        pool[*at].next = next;
    }
    pthread_mutex_unlock(&claims_lock);
}

static void unlink_claim(int32_t *at)
{
    int32_t i = *at;
    *at = pool[i].next;
    pool[i].next = pool_free;
    pool_free = i;
}

void claim_closing(uint32_t inode, bool done, long long us)
{
    pthread_mutex_lock(&claims_lock);
    int32_t *at = link_to(inode);
    if (*at >= 0)
        *(done ? &pool[*at].close_to : &pool[*at].close_from) = us;
    pthread_mutex_unlock(&claims_lock);
}

void claim_history(uint32_t inode, char what)
{
    pthread_mutex_lock(&claims_lock);
    int32_t *at = link_to(inode);
    size_t n = *at >= 0 ? strlen(pool[*at].hist) : sizeof pool[0].hist;
    if (n < sizeof pool[0].hist - 1)
        pool[*at].hist[n] = what;
    pthread_mutex_unlock(&claims_lock);
}

void claim_drop(uint32_t inode)
{
    pthread_mutex_lock(&claims_lock);
    int32_t *at = link_to(inode);
    if (*at >= 0)
        unlink_claim(at);
    pthread_mutex_unlock(&claims_lock);
}

bool claim_get(uint32_t inode, struct claim *out, int64_t seen_ms)
{
    pthread_mutex_lock(&claims_lock);
    int32_t *at = link_to(inode);
    bool found = *at >= 0;
    if (found) {
        pool[*at].ms = seen_ms;
        *out = pool[*at];
    }
    pthread_mutex_unlock(&claims_lock);
    return found;
}

void claims_prune(int64_t older_than)
{
    pthread_mutex_lock(&claims_lock);
    for (size_t b = 0; b < sizeof heads / sizeof heads[0]; b++)
        for (int32_t *at = &heads[b]; *at >= 0;)
            if (pool[*at].ms < older_than)
                unlink_claim(at);
            else
                at = &pool[*at].next;
    pthread_mutex_unlock(&claims_lock);
}

bool claims_parse_addr(const char *ip, struct caddr *a)
{
    memset(a, 0, sizeof *a);
    if (strchr(ip, ':')) {
        a->family = AF_INET6;
        if (inet_pton(AF_INET6, ip, a->ip) != 1)
            return false;
        a->wild = a->dual = strcmp(ip, "::") == 0;  /* only exclusive claims use [::] */
        return true;
    }
    a->family = AF_INET;
    a->wild = strcmp(ip, "0.0.0.0") == 0;
    return inet_pton(AF_INET, ip, a->ip) == 1;
}

static bool overlap(const struct caddr *a, const struct caddr *b)
{
    if (a->dual || b->dual)
        return true;
    if (a->family != b->family)
        return false;
    return a->wild || b->wild || memcmp(a->ip, b->ip, 16) == 0;
}

bool claims_conflict(const struct claim *a, const struct claim *b)
{
    bool ax = a->cls != 'r', bx = b->cls != 'r';
    if (a->proto != b->proto || a->port != b->port || (!ax && !bx) || !overlap(&a->a, &b->a))
        return false;
    if (ax && !bx && !a->a.wild && b->a.wild)
        return false;
    if (bx && !ax && !b->a.wild && a->a.wild)
        return false;
    return true;
}
