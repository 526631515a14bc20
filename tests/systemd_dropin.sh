#!/bin/sh
# systemd_dropin - the configured drop-in preloads the library from this build's install
# path, and bindguard-dropin keeps a unit's own LD_PRELOAD, adding ours after it once.
# systemctl is a stand-in that reports the unit's environment from $FAKE_ENV.
# Usage: systemd_dropin.sh BUILD_ROOT PRELOAD_PATH
set -u
build=${1:?usage: systemd_dropin.sh BUILD_ROOT PRELOAD_PATH}
lib=${2:?usage: systemd_dropin.sh BUILD_ROOT PRELOAD_PATH}
conf=$build/examples/systemd/bindguard.conf
script=$build/examples/systemd/bindguard-dropin
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
no() { echo "FAIL: $*"; fail=1; }

grep -qxF "Environment=\"LD_PRELOAD=$lib\"" "$conf" || no "$conf does not preload $lib"
grep -q '@' "$conf" && no "$conf has an unsubstituted @VARIABLE@"

mkdir "$tmp/bin"
cat >"$tmp/bin/systemctl" <<'FAKE'
#!/bin/sh
[ "$1 $2 $3" = "show --property=Environment --value" ] || exit 1
printf '%s\n' "$FAKE_ENV"
FAKE
chmod +x "$tmp/bin/systemctl"

# run_for ENV: the LD_PRELOAD line bindguard-dropin writes for a unit with ENV.
run_for() {
    FAKE_ENV=$1 PATH=$tmp/bin:$PATH SYSTEMD_DROPIN_ROOT=$tmp/etc sh "$script" test.service \
        >/dev/null || { no "bindguard-dropin failed for '$1'"; return; }
    sed -n 's/^Environment="LD_PRELOAD=\(.*\)"$/\1/p' "$tmp/etc/test.service.d/bindguard.conf"
}

got=$(run_for "FOO=1")
[ "$got" = "$lib" ] || no "no LD_PRELOAD before: got '$got'"
got=$(run_for "FOO=1 LD_PRELOAD=/opt/a/liba.so:/opt/b/libb.so BAR=2")
[ "$got" = "/opt/a/liba.so:/opt/b/libb.so:$lib" ] || no "appending: got '$got'"
# Run again on a unit whose environment now includes our own drop-in: ours appears once.
got=$(run_for "LD_PRELOAD=/opt/a/liba.so:$lib")
[ "$got" = "/opt/a/liba.so:$lib" ] || no "idempotent: got '$got'"
grep -q '^Environment=BINDGUARD_MODE=enforce$' "$tmp/etc/test.service.d/bindguard.conf" ||
    no "the rest of the drop-in was not kept"

[ $fail -eq 0 ] && echo "systemd_dropin: ok"
exit $fail
