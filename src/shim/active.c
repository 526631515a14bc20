/* active - configuring the shim on first use, and what it tracks (active.h). */
#include "active.h"

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>

#include "config.h"
#include "guard.h"
#include "log.h"
#include "options.h"

bool active_flag;
__thread int inside_depth __attribute__((tls_model("initial-exec")));

static pthread_once_t configured = PTHREAD_ONCE_INIT;

static void configure(void)
{
    const struct bg_config *cfg = config_get();
    log_setup(cfg->log, cfg->log_path);
    guard_init(cfg);
    options_init(cfg);
    __atomic_store_n(&active_flag, cfg->mode != BG_MODE_OFF, __ATOMIC_RELEASE);
}

bool active_configure(void)
{
    if (inside_bindguard())
        return active_now();
    INSIDE_BINDGUARD_KEEP_ERRNO(pthread_once(&configured, configure));
    return active_now();
}

bool active_is_tracked_kind(int domain, int type, int protocol)
{
    int kind = type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC);
    if (domain != AF_INET && domain != AF_INET6)
        return false;
    if (kind == SOCK_STREAM)
        return protocol == 0 || protocol == IPPROTO_TCP;
    if (kind == SOCK_DGRAM)
        return protocol == 0 || protocol == IPPROTO_UDP;
    return false;
}

static void track(int fd, int domain, int type)
{
    struct sock_record *s = fdstate_track(fd);
    if (!s)
        return;
    s->family = (uint8_t)domain;
    s->proto = (type & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)) == SOCK_STREAM ? IPPROTO_TCP
                                                                       : IPPROTO_UDP;
    __atomic_store_n(&s->tracked, 1, __ATOMIC_RELEASE);
}

void active_track(int fd, int domain, int type)
{
    INSIDE_BINDGUARD_KEEP_ERRNO(track(fd, domain, type));
}
