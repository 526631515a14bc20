#!/bin/sh
# A CI job (as root): prove that a *static* hijacker, which no LD_PRELOAD can see, cannot
# take a service's port under the kernel backend. The holder binds TCP 0.0.0.0:PORT with
# SO_REUSEADDR; the hijacker binds 127.0.0.1:PORT with SO_REUSEADDR, which plain Linux
# allows. Exits 0 if the hijack was refused, 1 if it got the port, 2 if the check could
# not run.
#
#   sudo examples/ci-kernel-hijack-check.sh [PORT]
#
# BINDGUARD names the bindguard command (default: bindguard on PATH); CC a C compiler.
set -u
port=${1:-18081}
bg=${BINDGUARD:-bindguard}
tmp=$(mktemp -d) || exit 2
trap 'rm -rf "$tmp"' EXIT

cat >"$tmp/agent.c" <<'EOF'
/* agent hold|steal PORT: raw bind(2), statically linked. */
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <unistd.h>
int main(int argc, char **argv)
{
    int hold = argc > 2 && strcmp(argv[1], "hold") == 0, on = 1;
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons(atoi(argv[2])) };
    a.sin_addr.s_addr = htonl(hold ? INADDR_ANY : INADDR_LOOPBACK);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
    if (syscall(SYS_bind, fd, &a, sizeof a) != 0) {
        perror(hold ? "holder: bind" : "hijacker: bind refused");
        return hold ? 2 : 0;
    }
    if (hold) {
        puts("holder: bound 0.0.0.0 with SO_REUSEADDR");
        fflush(stdout);
        pause();
    }
    puts("hijacker: HIJACKED the port");
    return 1;
}
EOF
${CC:-cc} -static -O2 -o "$tmp/agent" "$tmp/agent.c" || exit 2

# shellcheck disable=SC2016  # expanded by the inner shell
# The refusal is logged while the run lasts (its pinned maps go with the last run).
$bg run --kernel -- sh -c '
    "$1" hold "$2" & holder=$!
    sleep 0.3
    "$1" steal "$2"; rc=$?
    [ $rc -eq 0 ] && $3 kernel log
    kill $holder
    exit $rc' sh "$tmp/agent" "$port" "$bg"
