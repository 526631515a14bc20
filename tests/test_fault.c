/* fault: a table truncated under us costs protection, never the process. */
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "bindguard.h"
#include "config.h"
#include "fault.h"
#include "fdstate.h"
#include "bindflow.h"
#include "guard.h"
#include "lifecycle.h"
#include "process.h"
#include "harness.h"
#include "log.h"

#define PAGES 4

static char *map_scratch(char *path, size_t len, size_t *size)
{
    snprintf(path, len, "/dev/shm/bg-test-fault-%d-XXXXXX", (int)getpid());
    int fd = mkstemp(path);
    ck_assert_int_ge(fd, 0);
    *size = PAGES * (size_t)sysconf(_SC_PAGESIZE);
    ck_assert_int_eq(ftruncate(fd, (off_t)*size), 0);
    char *m = mmap(NULL, *size, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ck_assert_ptr_ne(m, MAP_FAILED);
    close(fd);
    return m;
}

static volatile char sink;

static void touch(void *arg)
{
    char *m = arg;
    sink = m[(PAGES - 1) * sysconf(_SC_PAGESIZE)];
    m[0] = 1;
}

START_TEST(watched_fault_unwinds)
{
    char path[128];
    size_t size;
    char *m = map_scratch(path, sizeof path, &size);
    ck_assert(fault_watch(m, size));
    ck_assert(fault_call(touch, m));          /* intact: runs to the end */
    ck_assert_int_eq(truncate(path, 0), 0);
    ck_assert(!fault_call(touch, m));         /* vanished: unwinds, process lives */
    ck_assert(!fault_call(touch, m));         /* and again: SIGBUS is not left blocked */
    unlink(path);
}
END_TEST

static sigjmp_buf host_jump;
static volatile sig_atomic_t host_saw;

static void host_handler(int sig, siginfo_t *info, void *uctx)
{
    (void)sig;
    (void)info;
    (void)uctx;
    host_saw = 1;
    siglongjmp(host_jump, 1);
}

/* The host's own SIGBUS handling, installed before bindguard's, still gets its faults. */
START_TEST(other_faults_reach_the_host_handler)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = host_handler;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    ck_assert_int_eq(sigaction(SIGBUS, &sa, NULL), 0);

    char wpath[128], hpath[128];
    size_t size;
    char *watched = map_scratch(wpath, sizeof wpath, &size);
    ck_assert(fault_watch(watched, size));
    char *hosts = map_scratch(hpath, sizeof hpath, &size);
    ck_assert_int_eq(truncate(hpath, 0), 0);
    if (sigsetjmp(host_jump, 1) == 0)
        touch(hosts);
    ck_assert_int_eq(host_saw, 1);
    unlink(wpath);
    unlink(hpath);
}
END_TEST

static char table_name[128];

static const char *test_env(const char *name)
{
    if (strcmp(name, BINDGUARD_ENV_TABLE) == 0)
        return table_name;
    if (strcmp(name, BINDGUARD_ENV_LOG) == 0)
        return "off";
    return NULL;
}

static int tracked_socket(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sock_record *s = fdstate_track(fd);
    s->family = AF_INET;
    s->proto = IPPROTO_TCP;
    s->tracked = 1;
    return fd;
}

static int guarded_bind(int fd, int port)
{
    struct sockaddr_in sin = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return bindflow_bind(fd, fdstate_get(fd), (struct sockaddr *)&sin, sizeof sin);
}

/* The whole bind flow on a table that is truncated while a binding is recorded in it. */
START_TEST(guard_survives_truncated_table)
{
    harness_table_name("fault", table_name, sizeof table_name);
    static struct bg_config cfg;
    config_parse(&cfg, test_env, NULL);
    log_setup(BG_LOG_OFF, NULL);
    guard_init(&cfg);

    int a = tracked_socket();
    ck_assert_int_eq(guarded_bind(a, 0), 0);
    ck_assert(fdstate_get(a)->flags & FD_HAS_ENTRY);  /* recorded in the table */

    char path[160];
    snprintf(path, sizeof path, "/dev/shm%s.%u", table_name, (unsigned)geteuid());
    ck_assert_int_eq(truncate(path, 0), 0);

    /* Release touches the vanished table: no crash; binds go to the kernel. */
    lifecycle_release(a, fdstate_get(a), process_fork_generation());
    close(a);
    int b = tracked_socket(), c = tracked_socket();
    struct sockaddr_in sin;
    socklen_t len = sizeof sin;
    ck_assert_int_eq(guarded_bind(b, 0), 0);
    getsockname(b, (struct sockaddr *)&sin, &len);
    errno = 0;
    ck_assert_int_eq(guarded_bind(c, ntohs(sin.sin_port)), -1);
    ck_assert_int_eq(errno, EADDRINUSE);  /* the kernel's own answer */
    close(b);
    close(c);
    unlink(path);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("fault");
    TCase *tc = tcase_create("fault");
    tcase_add_test(tc, watched_fault_unwinds);
    tcase_add_test(tc, other_faults_reach_the_host_handler);
    tcase_add_test(tc, guard_survives_truncated_table);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
