#!/bin/sh
# A CI check for the hijack plain Linux allows: while a service is starting (its TCP port
# bound with SO_REUSEADDR, not yet listening), another process binds 127.0.0.1 on the same
# port with SO_REUSEADDR and listens first. Linux lets it: the hijacker receives the
# service's local connections (the more specific listener wins). bindguard refuses
# the hijacker and names the service.
#
#   examples/ci-hijack-check.sh [PORT]                       FAILS: plain Linux
#   bindguard run -- examples/ci-hijack-check.sh [PORT]      passes: the job under bindguard
#
# Exits 0 if the service kept its port, 1 if it was hijacked, 2 if the check could not run.
# The service and the hijacker are small python3 programs; every process of the job runs
# under bindguard when the job does, as in a protected CI job.
set -u
port=${1:-18080}
dir=$(mktemp -d "${TMPDIR:-/tmp}/ci-hijack-check.XXXXXX") || exit 2
service_pid=
cleanup() {
    [ -n "$service_pid" ] && kill "$service_pid" 2>/dev/null && wait "$service_pid" 2>/dev/null
    rm -rf "$dir"
}
trap cleanup EXIT
trap 'exit 2' INT TERM

# The service: bind (SO_REUSEADDR, as most servers set), then finish starting up (here:
# until told to go on), then listen. It writes what happened to $dir/service.
python3 - "$port" "$dir" <<'PY' &
import os, socket, sys, time
port, d = int(sys.argv[1]), sys.argv[2]
def say(what):
    with open(d + "/service.tmp", "w") as f: f.write(what + "\n")
    os.rename(d + "/service.tmp", d + "/service")
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("0.0.0.0", port))
except OSError as e:
    say("bind failed: " + e.strerror); sys.exit(2)
say("bound")
for _ in range(200):
    if os.path.exists(d + "/go"): break
    time.sleep(0.05)
try:
    s.listen(16)
except OSError as e:
    say("listen failed: " + e.strerror); sys.exit(1)
say("listening")
time.sleep(30)
PY
service_pid=$!

# wait_for WORD: until $dir/service starts with it (10 s at most).
wait_for() {
    tries=0
    until grep -q "^$1" "$dir/service" 2>/dev/null; do
        tries=$((tries + 1))
        if [ $tries -gt 200 ] || grep -q failed "$dir/service" 2>/dev/null; then
            echo "ci-hijack-check: the service did not get to '$1':" \
                 "$(cat "$dir/service" 2>/dev/null)" >&2
            exit 2
        fi
        sleep 0.05
    done
}
wait_for bound
echo "service (pid $service_pid) has bound 0.0.0.0:$port and is starting"

# The hijacker, in the window between the service's bind and its listen.
python3 - "$port" <<'PY'
import socket, sys
port = int(sys.argv[1])
s = socket.socket()
s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
try:
    s.bind(("127.0.0.1", port))
    s.listen(16)
except OSError as e:
    print("hijacker refused: bind 127.0.0.1:%d -> %s" % (port, e.strerror))
    sys.exit(1)
print("HIJACKED: another process listens on 127.0.0.1:%d" % port)
sys.exit(0)
PY
hijack=$?
touch "$dir/go"
case $hijack in
0) wait_for 'l'
   echo "service: $(cat "$dir/service"); while the hijacker listens, connections to" \
        "127.0.0.1:$port reach it (the more specific listener wins)"
   echo "ci-hijack-check: FAILED: port $port was hijacked while the service started" >&2
   exit 1 ;;
1) ;;
*) echo "ci-hijack-check: the hijack attempt could not run" >&2; exit 2 ;;
esac
wait_for listening
echo "ci-hijack-check: ok: the service kept port $port"
