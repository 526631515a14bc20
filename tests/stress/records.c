#include "records.h"

#include <errno.h>
#include <poll.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "claims.h"
#include "proc_child.h"

struct records records;
pthread_mutex_t records_lock = PTHREAD_MUTEX_INITIALIZER;

/* Worker threads' ids, from their I records, in a ring. */
#define TIDS 256
static struct { int tid, pid; } tids[TIDS];
static unsigned tids_next;

pid_t records_group_of_tid(pid_t tid)
{
    for (unsigned i = 0; i < TIDS; i++)
        if (__atomic_load_n(&tids[i].tid, __ATOMIC_SEQ_CST) == tid)
            return __atomic_load_n(&tids[i].pid, __ATOMIC_SEQ_CST);
    return 0;
}

static int report_r = -1;
static bool reader_stop;
static pthread_t reader_thread;
static bool reader_running;

static void heartbeat(int pid, int idx, int64_t now)
{
    if (idx < 0 || idx >= WORKER_THREADS)
        return;
    struct wstat *free_slot = NULL;
    for (size_t i = 0; i < RECORDS_WORKERS; i++) {
        if (records.w[i].pid == pid) {
            records.w[i].last_ms[idx] = now;
            return;
        }
        if (!records.w[i].pid && !free_slot)
            free_slot = &records.w[i];
    }
    if (free_slot) {
        free_slot->pid = pid;
        free_slot->last_ms[idx] = now;
    }
}

static void take_record(const char *line, int64_t now)
{
    int pid, idx, err, tid;
    unsigned ino, port;
    long long us;
    char proto, cls, op, ip[64], rest[128];
    if (sscanf(line, "A %d %d %u %c %c %63s %u", &pid, &idx, &ino, &proto, &cls, ip, &port) == 7) {
        struct claim c = {.inode = ino, .pid = pid, .proto = proto, .cls = cls,
                          .port = (uint16_t)port, .ms = now, .born = now};
        if (claims_parse_addr(ip, &c.a))
            claim_put(&c);
    } else if (sscanf(line, "B %d %d %u %d %lld", &pid, &idx, &ino, &err, &us) == 5) {
        if (err)
            claim_drop(ino);
        pthread_mutex_lock(&records_lock);
        records.binds++;
        records.bound += err == 0;
        records.refused += err == EADDRINUSE || err == EACCES;
        records.failed += err && err != EADDRINUSE && err != EACCES;
        if (us > records.max_bind_us)
            records.max_bind_us = us;
        records.slow_binds += us > 100000;
        heartbeat(pid, idx, now);
        pthread_mutex_unlock(&records_lock);
    } else if (sscanf(line, "O %d %d %c %lld", &pid, &idx, &op, &us) == 4) {
        pthread_mutex_lock(&records_lock);
        records.ops++;
        /* exec waits for tbind, fork for nothing bindguard locks: not lock-bound */
        long long *max = op == 'c'                ? &records.max_close_us
                         : op == 'e' || op == 'f' ? NULL
                                                  : &records.max_other_us;
        if (max && us > *max)
            *max = us;
        heartbeat(pid, idx, now);
        pthread_mutex_unlock(&records_lock);
    } else if (sscanf(line, "%c %d %d %u %lld", &op, &pid, &idx, &ino, &us) == 5 &&
               (op == 'Z' || op == 'z')) {
        claim_closing(ino, op == 'z', us);
    } else if (sscanf(line, "I %d %d %d", &pid, &idx, &tid) == 3) {
        unsigned at = __atomic_fetch_add(&tids_next, 1, __ATOMIC_SEQ_CST) % TIDS;
        __atomic_store_n(&tids[at].pid, pid, __ATOMIC_SEQ_CST);
        __atomic_store_n(&tids[at].tid, tid, __ATOMIC_SEQ_CST);
    } else if (sscanf(line, "H %d %d %u %c", &pid, &idx, &ino, &op) == 4) {
        claim_history(ino, op);
    } else if (sscanf(line, "T %d %d %127[^\n]", &pid, &idx, rest) == 3) {
        pthread_mutex_lock(&records_lock);
        if (strncmp(rest, "OK ", 3) == 0)
            records.tbind_ok++;
        else if (!strcmp(rest, "ERR EADDRINUSE bind") || !strcmp(rest, "ERR EACCES bind") ||
                 !strcmp(rest, "ERR EADDRINUSE listen"))
            records.tbind_refused++;
        else if (records.tbind_odd++ == 0)
            snprintf(records.odd, sizeof records.odd, "tbind said: %s", rest);
        pthread_mutex_unlock(&records_lock);
    }
}

static void *reader(void *arg)
{
    (void)arg;
    static char buf[1 << 16];
    size_t len = 0;
    while (!__atomic_load_n(&reader_stop, __ATOMIC_SEQ_CST)) {
        struct pollfd p = {report_r, POLLIN, 0};
        if (poll(&p, 1, 50) != 1)
            continue;
        ssize_t n = read(report_r, buf + len, sizeof buf - 1 - len);
        if (n <= 0)
            continue;
        len += (size_t)n;
        buf[len] = '\0';
        int64_t now = proc_now_ms();
        char *line = buf, *nl;
        while ((nl = strchr(line, '\n'))) {
            *nl = '\0';
            take_record(line, now);
            line = nl + 1;
        }
        len = (size_t)(buf + len - line);
        memmove(buf, line, len);
    }
    return NULL;
}

void records_reset(void)
{
    records_stop();
    memset(&records, 0, sizeof records);
    for (unsigned i = 0; i < TIDS; i++)
        __atomic_store_n(&tids[i].tid, 0, __ATOMIC_SEQ_CST);
}

bool records_start(int fd)
{
    report_r = fd;
    __atomic_store_n(&reader_stop, false, __ATOMIC_SEQ_CST);
    reader_running = pthread_create(&reader_thread, NULL, reader, NULL) == 0;
    return reader_running;
}

void records_stop(void)
{
    __atomic_store_n(&reader_stop, true, __ATOMIC_SEQ_CST);
    if (reader_running)
        pthread_join(reader_thread, NULL);
    reader_running = false;
}
