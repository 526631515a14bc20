/* libc: the table of libc's functions (shim/libc.h) and the re-entry guard
 * (shim/inside.h), in a program that is not preloaded: libc_*() must be libc's own. */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>

#include "harness.h"
#include "inside.h"
#include "libc.h"

/* Not preloaded, the lookup finds libc's functions themselves. */
START_TEST(resolves_to_libc)
{
    libc_resolve_at_load();
    ck_assert_ptr_eq((void *)LIBC_FN(close), dlsym(RTLD_DEFAULT, "close"));
    ck_assert_ptr_eq((void *)LIBC_FN(bind), dlsym(RTLD_DEFAULT, "bind"));
    ck_assert_ptr_eq((void *)LIBC_FN(setsockopt), dlsym(RTLD_DEFAULT, "setsockopt"));
}
END_TEST

/* The wrappers behave as libc: result and errno. */
START_TEST(calls_behave_as_libc)
{
    int fd = libc_socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    int on = 1;
    ck_assert_int_eq(libc_setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on), 0);
    struct sockaddr_in sin = { .sin_family = AF_INET };
    sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    ck_assert_int_eq(libc_bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
    errno = 0;
    ck_assert_int_eq(libc_bind(fd, (struct sockaddr *)&sin, sizeof sin), -1);
    ck_assert_int_eq(errno, EINVAL);  /* bound already */
    ck_assert_int_eq(libc_listen(fd, 1), 0);
    int copy = libc_fcntl(fd, F_DUPFD_CLOEXEC, (void *)(long)100);
    ck_assert_int_ge(copy, 100);
    ck_assert_int_eq(libc_fcntl(copy, F_GETFD, NULL) & FD_CLOEXEC, FD_CLOEXEC);
    ck_assert_int_eq(libc_close(copy), 0);
    ck_assert_int_eq(libc_close(fd), 0);
    errno = 0;
    ck_assert_int_eq(libc_close(fd), -1);
    ck_assert_int_eq(errno, EBADF);
}
END_TEST

/* The mark nests, and the errno-keeping form keeps the caller's errno. */
START_TEST(inside_nests_and_keeps_errno)
{
    ck_assert(!inside_bindguard());
    bool inner = false, after_inner = false;
    INSIDE_BINDGUARD({
        INSIDE_BINDGUARD(inner = inside_bindguard());
        after_inner = inside_bindguard();
    });
    ck_assert(inner);
    ck_assert(after_inner);
    ck_assert(!inside_bindguard());
    errno = EAGAIN;
    INSIDE_BINDGUARD_KEEP_ERRNO(libc_close(-1));
    ck_assert_int_eq(errno, EAGAIN);
}
END_TEST

int main(void)
{
    Suite *s = suite_create("libc");
    TCase *tc = tcase_create("libc");
    tcase_add_test(tc, resolves_to_libc);
    tcase_add_test(tc, calls_behave_as_libc);
    tcase_add_test(tc, inside_nests_and_keeps_errno);
    suite_add_tcase(s, tc);
    return harness_run(s);
}
