#!/bin/sh
# package - scripts/package builds a .deb holding the library, the command, the header,
# the pkg-config file, the man pages, the completion and the systemd drop-in; its control
# file is complete; lintian (if installed) finds no error or warning; and the packaged
# command, unpacked, passes its own demo.
# Usage: package.sh SOURCE_ROOT BUILD_ROOT
set -u
src=${1:?usage: package.sh SOURCE_ROOT BUILD_ROOT}
build=${2:?usage: package.sh SOURCE_ROOT BUILD_ROOT}
if ! command -v dpkg-deb >/dev/null 2>&1; then
    echo "SKIP package: dpkg-deb not found (not a Debian system)"
    exit 77
fi
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# The demo's other-user row runs the unpacked library as nobody.
chmod 755 "$tmp"
fail=0
no() { echo "FAIL: $*"; fail=1; }

deb=$(BINDGUARD_PACKAGE_BUILD=$build/package-build "$src/scripts/package" "$tmp/out") ||
    { echo "FAIL: scripts/package failed"; exit 1; }
[ -f "$deb" ] || { echo "FAIL: scripts/package printed '$deb', not a file"; exit 1; }
echo "built $deb"

dpkg-deb -c "$deb" | awk '{print $6}' >"$tmp/files"
for want in ./usr/bin/bindguard ./usr/lib/*/libbindguard.so ./usr/include/bindguard.h \
            ./usr/lib/*/pkgconfig/bindguard.pc ./usr/share/man/man1/bindguard.1.gz \
            ./usr/share/man/man7/libbindguard.7.gz \
            ./usr/share/bash-completion/completions/bindguard \
            ./usr/share/bindguard/systemd/bindguard.conf \
            ./usr/share/bindguard/systemd/bindguard-dropin \
            ./usr/share/doc/bindguard/copyright ./usr/share/doc/bindguard/changelog.gz; do
    # shellcheck disable=SC2254  # $want is a pattern on purpose
    found=0
    while read -r f; do
        case $f in $want) found=1 ;; esac
    done <"$tmp/files"
    [ $found -eq 1 ] || no "$want is not in the package"
done
grep -q '^\./usr/local' "$tmp/files" && no "files under /usr/local"
grep -qE '(tests|bench)/|test_' "$tmp/files" && no "tests or benchmarks packaged"

for field in Package Version Architecture Maintainer Depends Description Installed-Size; do
    dpkg-deb -f "$deb" "$field" | grep -q . || no "control has no $field"
done
dpkg-deb -f "$deb" Depends | grep -q '^libc6' || no "Depends lacks libc6"

if command -v lintian >/dev/null 2>&1; then
    lintian "$deb" >"$tmp/lintian" 2>&1
    grep -E '^[EW]: ' "$tmp/lintian" && no "lintian reports errors or warnings"
    echo "lintian: $(grep -cE '^[EWI]: ' "$tmp/lintian") tags at default level"
else
    echo "SKIP lintian: not installed"
fi

# The packaged command finds the packaged library, and works.
dpkg-deb -x "$deb" "$tmp/root"
"$tmp/root/usr/bin/bindguard" --version | grep -q "^bindguard " || no "packaged --version"
"$tmp/root/usr/bin/bindguard" demo >"$tmp/demo" 2>&1 || { cat "$tmp/demo"; no "packaged demo"; }

[ $fail -eq 0 ] && echo "package: ok"
exit $fail
