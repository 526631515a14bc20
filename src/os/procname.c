/* procname - the main thread's comm, cached per thread (see procname.h).
 *
 * Why a time-bounded cache and no prctl wrapper: a name changes through prctl, through
 * writes to /proc/PID/task/TID/comm (pthread_setname_np on another thread) and through
 * glibc-internal calls a wrapper never sees, while a bind must stay cheap. A second of
 * staleness after a rename costs a slightly old name in a refusal line, nothing more.
 * Per thread, so that no lock or torn copy is ever involved. */
#include "procname.h"

#include <fcntl.h>
#include <string.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

#include "sys.h"

static __thread char tls_name[PROCNAME_LEN] __attribute__((tls_model("initial-exec")));
static __thread time_t tls_read_at __attribute__((tls_model("initial-exec")));

/* /proc/self/comm is the thread group leader's; without /proc (a chroot), the calling
 * thread's, which is the same unless the program named its threads. */
static void read_name(char out[PROCNAME_LEN])
{
    ssize_t n = -1;
    int fd = open("/proc/self/comm", O_RDONLY | O_CLOEXEC);
    if (fd >= 0) {
        n = read(fd, out, PROCNAME_LEN - 1);
        sys_close(fd);
    }
    if (n > 0) {
        out[n] = '\0';
        if (out[n - 1] == '\n')  /* the kernel's line end, not part of the name */
            out[n - 1] = '\0';
        return;
    }
    char buf[PROCNAME_LEN] = "";
    prctl(PR_GET_NAME, buf);
    memcpy(out, buf, PROCNAME_LEN);
    out[PROCNAME_LEN - 1] = '\0';
}

void procname_get(char out[PROCNAME_LEN])
{
    time_t now = time(NULL);
    if (!tls_read_at || now != tls_read_at) {
        read_name(tls_name);
        tls_read_at = now;
    }
    memcpy(out, tls_name, PROCNAME_LEN);
}

void procname_forget(void)
{
    tls_read_at = 0;
}
