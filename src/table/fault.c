/* fault - SIGBUS inside a watched mapping becomes a failed fault_call.
 *
 * The handler only unwinds when this thread is inside fault_call and the faulting
 * address is one we watch; everything else is passed on to the previous disposition,
 * so a host program's own SIGBUS handling (mmapped files, JIT guard pages) is unchanged.
 * A host may install its own handler after ours (python's faulthandler.enable() does),
 * and that handler would turn a truncated table into a crash. The interposer tells us
 * when the host sets a SIGBUS disposition (fault_disposition_changed); the next
 * fault_call then looks, and if ours is no longer installed puts it back on top, with
 * the host's as the one faults not ours are passed on to. Until then fault_call costs
 * one load: reading the disposition on every call would cost a system call per bind.
 * Handlers set through raw system calls are not seen (doc/design.md "Trust model"). */
#include "fault.h"

#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdint.h>
#include <string.h>

#define MAX_RANGES 8

static struct { uintptr_t lo, hi; } ranges[MAX_RANGES];
static int n_ranges;
static struct sigaction previous;
static pthread_mutex_t watch_lock = PTHREAD_MUTEX_INITIALIZER;
static bool installed;
static bool recheck;  /* the host set a SIGBUS disposition since we last looked */

static __thread sigjmp_buf *tls_unwind __attribute__((tls_model("initial-exec")));
/* Inside pass_on: a host handler that "restores the previous handler and raises" (python's
 * faulthandler) reaches us again through it; then the fault gets the default action. */
static __thread int tls_passing __attribute__((tls_model("initial-exec")));

static bool watched(uintptr_t addr)
{
    int n = __atomic_load_n(&n_ranges, __ATOMIC_ACQUIRE);
    for (int i = 0; i < n && i < MAX_RANGES; i++)
        if (addr >= ranges[i].lo && addr < ranges[i].hi)
            return true;
    return false;
}

static void pass_on(int sig, siginfo_t *info, void *uctx)
{
    bool chained = !tls_passing;
    tls_passing++;
    if (chained && (previous.sa_flags & SA_SIGINFO)) {
        if (previous.sa_sigaction)
            previous.sa_sigaction(sig, info, uctx);
        tls_passing--;
        return;
    }
    if (chained && previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
        previous.sa_handler(sig);
        tls_passing--;
        return;
    }
    tls_passing--;
    /* Default (or ignored, which a real fault cannot be): restore it and return, so the
     * faulting instruction runs again and the kernel's default action happens there. */
    struct sigaction dfl;
    memset(&dfl, 0, sizeof dfl);
    dfl.sa_handler = SIG_DFL;
    sigaction(sig, &dfl, NULL);
}

static void on_sigbus(int sig, siginfo_t *info, void *uctx)
{
    sigjmp_buf *unwind = tls_unwind;
    if (!unwind || !info || !watched((uintptr_t)info->si_addr)) {
        pass_on(sig, info, uctx);
        return;
    }
    /* We leave the handler by jumping, so SIGBUS must not stay blocked. */
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, sig);
    pthread_sigmask(SIG_UNBLOCK, &set, NULL);
    siglongjmp(*unwind, 1);
}

static bool install(void)
{
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_sigaction = on_sigbus;
    sa.sa_flags = SA_SIGINFO | SA_NODEFER;
    sigemptyset(&sa.sa_mask);
    return sigaction(SIGBUS, &sa, &previous) == 0;
}

bool fault_watch(const void *base, size_t len)
{
    pthread_mutex_lock(&watch_lock);
    bool ok = __atomic_load_n(&installed, __ATOMIC_RELAXED) || install();
    __atomic_store_n(&installed, ok, __ATOMIC_RELEASE);
    if (ok && n_ranges < MAX_RANGES) {
        ranges[n_ranges].lo = (uintptr_t)base;
        ranges[n_ranges].hi = (uintptr_t)base + len;
        __atomic_store_n(&n_ranges, n_ranges + 1, __ATOMIC_RELEASE);
    } else {
        ok = false;
    }
    pthread_mutex_unlock(&watch_lock);
    return ok;
}

static bool ours(const struct sigaction *sa)
{
    return (sa->sa_flags & SA_SIGINFO) && sa->sa_sigaction == on_sigbus;
}

void fault_disposition_changed(void)
{
    __atomic_store_n(&recheck, true, __ATOMIC_RELEASE);
}

/* Put our handler back on top if the host replaced it since. */
static void keep_installed(void)
{
    if (!__atomic_load_n(&recheck, __ATOMIC_ACQUIRE))
        return;
    pthread_mutex_lock(&watch_lock);
    struct sigaction cur;
    if (__atomic_exchange_n(&recheck, false, __ATOMIC_ACQ_REL) &&
        __atomic_load_n(&installed, __ATOMIC_ACQUIRE) && sigaction(SIGBUS, NULL, &cur) == 0 &&
        !ours(&cur))
        install();  /* the host's handler becomes `previous` */
    pthread_mutex_unlock(&watch_lock);
}

bool fault_call(void (*fn)(void *arg), void *arg)
{
    keep_installed();
    sigjmp_buf here;
    sigjmp_buf *outer = tls_unwind;
    if (sigsetjmp(here, 0)) {
        tls_unwind = outer;
        return false;
    }
    tls_unwind = &here;
    fn(arg);
    tls_unwind = outer;
    return true;
}
