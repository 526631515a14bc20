/* claims - what the stress workers claimed, by socket inode, and which claims conflict
 * (test_stress). Safe to use from the record reader and the checker at once. */
#ifndef BG_STRESS_CLAIMS_H
#define BG_STRESS_CLAIMS_H

#include <stdbool.h>
#include <stdint.h>

struct caddr {
    uint8_t family;
    bool wild, dual;
    uint8_t ip[16];
};

struct claim {
    uint32_t inode;
    int32_t next;          /* chain in the hash, or the free list (claims.c's) */
    int pid;
    char proto, cls;       /* 't'/'u'; 'x', 'd', 'r' (stress.h) */
    uint16_t port;
    struct caddr a;
    int64_t ms;            /* announced, or last seen by the kernel */
    int64_t born;          /* announced */
    long long close_from, close_to;  /* its close() call, CLOCK_MONOTONIC us; 0: none yet */
    char hist[8];          /* H record letters, in order, clipped */
};

/* Forget every claim. */
void claims_reset(void);
/* Add c, or replace the claim of its inode. */
void claim_put(const struct claim *c);
/* Its close() started (done false) or returned (true) at `us`. */
void claim_closing(uint32_t inode, bool done, long long us);
/* One more H record letter. */
void claim_history(uint32_t inode, char what);
/* A refused or failed bind claims nothing. */
void claim_drop(uint32_t inode);
/* The claim of inode in *out, marked seen at seen_ms; false if none. */
bool claim_get(uint32_t inode, struct claim *out, int64_t seen_ms);
/* Claims neither announced nor seen alive since older_than belong to closed sockets. */
void claims_prune(int64_t older_than);

/* An address as an A record gives it; false if it is none. */
bool claims_parse_addr(const char *ip, struct caddr *a);
/* Do a and b conflict? ws2003 same-user, the table all the workers can meet: with an
 * exclusive side, every overlapping pair conflicts except an exclusive specific address
 * beside a non-exclusive wildcard (either order). */
bool claims_conflict(const struct claim *a, const struct claim *b);

#endif
