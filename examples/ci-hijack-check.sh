#!/bin/sh
# A CI job: start a service under bindguard, then prove that a second process cannot
# hijack its port. Exits 0 if every hijack attempt was refused, 1 if one got the port,
# 2 if the test itself could not run.
#
#   examples/ci-hijack-check.sh [PORT]
#
# BINDGUARD names the bindguard command (default: bindguard on PATH). The service here is
# python3 -m http.server; put your own in SERVICE. Hijackers run under bindguard too, as
# every process of a protected CI job does.
set -u
port=${1:-18080}
bg=${BINDGUARD:-bindguard}
service=${SERVICE:-python3 -m http.server $port --bind 0.0.0.0}

# shellcheck disable=SC2086  # $service is a command line on purpose
$bg run -- $service >/dev/null 2>&1 &
service_pid=$!
trap 'kill $service_pid 2>/dev/null; wait $service_pid 2>/dev/null' EXIT

# Wait (bounded) until bindguard sees the service holding the port.
tries=0
until $bg list --port "$port" | grep -q ' live$'; do
    tries=$((tries + 1))
    if [ "$tries" -gt 150 ] || ! kill -0 "$service_pid" 2>/dev/null; then
        echo "ci-hijack-check: the service did not come up on port $port" >&2
        exit 2
    fi
    sleep 0.1
done
echo "service (pid $service_pid) holds port $port:"
$bg list --port "$port"

# Each attempt binds the port with other options/addresses; bindguard must refuse all.
hijacked=0
for how in "0.0.0.0 none" "127.0.0.1 none" "127.0.0.1 SO_REUSEADDR" "0.0.0.0 SO_REUSEPORT" \
           "127.0.0.1 SO_REUSEADDR,SO_REUSEPORT"; do
    # shellcheck disable=SC2086  # split "ADDR OPTIONS" into $1 $2
    set -- $how
    $bg run -- python3 -c '
import socket, sys
addr, opts, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
s = socket.socket()
for o in opts.split(","):
    if o != "none":
        s.setsockopt(socket.SOL_SOCKET, getattr(socket, o), 1)
try:
    s.bind((addr, port))
except OSError as e:
    print("refused:", addr, opts, "->", e.strerror)
    sys.exit(1)
print("HIJACKED:", addr, opts)
' "$1" "$2" "$port"
    case $? in
    0) hijacked=1 ;;
    1) ;;
    *) echo "ci-hijack-check: a hijack attempt could not run" >&2; exit 2 ;;
    esac
done

# What bindguard itself says about the port, for the job's log.
$bg check "127.0.0.1:$port/tcp"
if [ $hijacked -ne 0 ]; then
    echo "ci-hijack-check: FAILED: port $port could be hijacked" >&2
    exit 1
fi
echo "ci-hijack-check: ok: port $port could not be hijacked"
