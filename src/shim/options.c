/* options - what the program asked of its socket, as Windows would see it: answer
 * SO_EXCLUSIVEADDRUSE, refuse it together with a sharing option, mirror the kernel
 * options that decide the class bind judges with. */
#include "options.h"

#include <errno.h>
#include <netinet/in.h>
#include <string.h>
#include <unistd.h>

#include "bindguard.h"
#include "policy.h"

static const struct bg_config *cfg;

void options_init(const struct bg_config *c)
{
    cfg = c;
}

static int fail(int err)
{
    errno = err;
    return -1;
}

struct bg_sockopts options_of(const struct sock_record *s)
{
    return (struct bg_sockopts){
        .exclusive = (s->opts & FD_OPT_EXCLUSIVE) != 0,
        .reuseaddr = (s->opts & FD_OPT_REUSEADDR) != 0,
        .reuseport = (s->opts & FD_OPT_REUSEPORT) != 0,
        .dgram = s->proto == IPPROTO_UDP,
    };
}

static bool opted_into_sharing(const struct sock_record *s)
{
    struct bg_classing c = config_classing(cfg);
    struct bg_sockopts o = options_of(s);
    return rules_opted_into_sharing(&c, &o);
}

static bool is_exclusive_opt(int level, int name)
{
    return level == SOL_SOCKET && name == SO_EXCLUSIVEADDRUSE;
}

/* Would turning this kernel option on make the socket a sharer, Windows-style? */
static bool shares_if_set(const struct sock_record *s, int level, int name)
{
    if (level != SOL_SOCKET)
        return false;
    struct bg_classing c = config_classing(cfg);
    return name == SO_REUSEPORT ||
           (name == SO_REUSEADDR && rules_reuseaddr_shares(&c, s->proto == IPPROTO_UDP));
}

static bool int_on(const void *val)
{
    int v;
    memcpy(&v, val, sizeof v);
    return v != 0;
}

static int set_exclusive(struct sock_record *s, const void *val, socklen_t len)
{
    const struct bg_profile *p = cfg->profile;
    if (!p->has_exclusive)
        return fail(ENOPROTOOPT);
    if (!val)
        return fail(EFAULT);
    if (len < sizeof(int))
        return fail(EINVAL);
    bool on = int_on(val);
    /* XP and earlier: only Administrators could set it. */
    if (on && p->exclusive_needs_admin && geteuid() != 0)
        return fail(EACCES);
    if (on && opted_into_sharing(s))
        return fail(EINVAL);
    /* Set after bind: accepted, but the binding keeps the class it was judged with. */
    s->opts = on ? (s->opts | FD_OPT_EXCLUSIVE) : (s->opts & ~FD_OPT_EXCLUSIVE);
    return 0;
}

int options_set(struct sock_record *s, int level, int name, const void *val,
                socklen_t len, bool *handled)
{
    *handled = true;
    if (is_exclusive_opt(level, name)) {
        return set_exclusive(s, val, len);
    }
    /* The reverse order of the same conflict, checked before the kernel sees it. */
    if ((s->opts & FD_OPT_EXCLUSIVE) && shares_if_set(s, level, name) && val &&
        len >= sizeof(int) && int_on(val))
        return fail(EINVAL);
    *handled = false;
    return 0;
}

static unsigned mirrored_opt(int level, int name)
{
    if (level == SOL_SOCKET && name == SO_REUSEADDR)
        return FD_OPT_REUSEADDR;
    if (level == SOL_SOCKET && name == SO_REUSEPORT)
        return FD_OPT_REUSEPORT;
    if (level == IPPROTO_IPV6 && name == IPV6_V6ONLY)
        return FD_OPT_V6ONLY;
    return 0;
}

void options_mirror(struct sock_record *s, int level, int name, const void *val,
                    socklen_t len)
{
    unsigned bit = mirrored_opt(level, name);
    if (!bit || !val || len < sizeof(int))
        return;
    s->opts = int_on(val) ? (s->opts | bit) : (s->opts & ~bit);
}

static int answer_int(int v, void *val, socklen_t *len)
{
    if (!val || !len)
        return fail(EFAULT);
    if ((int)*len < 0)
        return fail(EINVAL);
    socklen_t n = *len < sizeof v ? *len : sizeof v;
    memcpy(val, &v, n);
    *len = n;
    return 0;
}

int options_get(struct sock_record *s, int level, int name, void *val,
                socklen_t *len, bool *handled)
{
    *handled = true;
    if (is_exclusive_opt(level, name)) {
        if (!cfg->profile->has_exclusive)
            return fail(ENOPROTOOPT);
        return answer_int((s->opts & FD_OPT_EXCLUSIVE) != 0, val, len);
    }
    /* Emulate sets SO_REUSEPORT behind the program's back; it reads what it set. */
    if (cfg->emulate && level == SOL_SOCKET && name == SO_REUSEPORT)
        return answer_int((s->opts & FD_OPT_REUSEPORT) != 0, val, len);
    *handled = false;
    return 0;
}
