#include "proc_child.h"

#include <arpa/inet.h>
#include <errno.h>
#include <linux/audit.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#if defined(__x86_64__)
#define ARCH_HERE AUDIT_ARCH_X86_64
#elif defined(__aarch64__)
#define ARCH_HERE AUDIT_ARCH_AARCH64
#endif

/* Agents with threads fail from any of them. */
static int failures;

int64_t proc_now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

socklen_t proc_sockaddr(const char *ip, int port, struct sockaddr_storage *ss)
{
    memset(ss, 0, sizeof *ss);
    if (strchr(ip, ':')) {
        struct sockaddr_in6 *a = (struct sockaddr_in6 *)ss;
        a->sin6_family = AF_INET6;
        a->sin6_port = htons((uint16_t)port);
        inet_pton(AF_INET6, ip, &a->sin6_addr);
        return sizeof *a;
    }
    struct sockaddr_in *a = (struct sockaddr_in *)ss;
    a->sin_family = AF_INET;
    a->sin_port = htons((uint16_t)port);
    inet_pton(AF_INET, ip, &a->sin_addr);
    return sizeof *a;
}

int proc_bind(int fd, const char *ip, int port)
{
    struct sockaddr_storage ss;
    socklen_t len = proc_sockaddr(ip, port, &ss);
    return bind(fd, (struct sockaddr *)&ss, len);
}

void proc_child_say(const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    vprintf(fmt, ap);
    va_end(ap);
    putchar('\n');
    fflush(stdout);
}

void proc_child_wait_eof(void)
{
    char buf[64];
    while (read(STDIN_FILENO, buf, sizeof buf) > 0)
        ;
}

void proc_child_step(const char *word)
{
    proc_child_say("%s", word);
    char c;
    while (read(STDIN_FILENO, &c, 1) == 1 && c != '\n')
        ;
}

const char *proc_child_outcome(long r)
{
    if (r >= 0)
        return "ok";
    const char *name = strerrorname_np(errno);
    return name ? name : "E?";
}

void proc_child_failed(const char *file, int line, const char *fmt, ...)
{
    const char *base = strrchr(file, '/');
    va_list ap;
    fprintf(stderr, "%s:%d: ", base ? base + 1 : file, line);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
    __atomic_fetch_add(&failures, 1, __ATOMIC_SEQ_CST);
}

int proc_child_failures(void)
{
    return __atomic_load_n(&failures, __ATOMIC_SEQ_CST);
}

int proc_child_status(void)
{
    fflush(stdout);
    return __atomic_load_n(&failures, __ATOMIC_SEQ_CST) ? 1 : 0;
}

int proc_child_usage(const char *usage)
{
    fprintf(stderr, "usage: %s\n", usage);
    return 2;
}

int proc_child_dispatch(const struct proc_child_scenario *list, size_t n, int argc, char **argv)
{
    for (size_t i = 0; argc >= 2 && i < n; i++) {
        if (strcmp(list[i].name, argv[1]) != 0)
            continue;
        if (argc - 2 != list[i].nargs) {
            fprintf(stderr, "scenario %s takes %d arguments\n", argv[1], list[i].nargs);
            return 2;
        }
        list[i].run(argv + 2);
        return proc_child_status();
    }
    fprintf(stderr, "no scenario %s\n", argc >= 2 ? argv[1] : "(none given)");
    return 2;
}

int proc_child_filter(unsigned nr, long arg0, uint32_t action)
{
#ifdef ARCH_HERE
    /* With arg0 < 0 the argument check jumps straight to `action`. */
    struct sock_filter f[] = {
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, ARCH_HERE, 1, 0),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr)),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, nr, 0, 3),
        BPF_STMT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0])),
        BPF_JUMP(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)arg0, 0, 1),
        BPF_STMT(BPF_RET | BPF_K, action),
        BPF_STMT(BPF_RET | BPF_K, SECCOMP_RET_ALLOW),
    };
    if (arg0 < 0)
        f[6] = (struct sock_filter)BPF_JUMP(BPF_JMP | BPF_JA, 0, 0, 0);
    struct sock_fprog prog = {sizeof f / sizeof f[0], f};
    if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
        return -1;
    bool notify = action == SECCOMP_RET_USER_NOTIF;
    long r = syscall(SYS_seccomp, SECCOMP_SET_MODE_FILTER,
                     notify ? SECCOMP_FILTER_FLAG_NEW_LISTENER : 0, &prog);
    return r < 0 ? -1 : notify ? (int)r : 0;
#else
    (void)nr, (void)arg0, (void)action;
    errno = ENOSYS;
    return -1;
#endif
}
