# shellcheck shell=bash
# Shared by scripts/test, scripts/bindguard and scripts/package: install what the build
# needs, then set up and build. Sourced, not run.

bg_root=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)

# bg_missing_packages [tests]: the apt packages a build needs that are missing; with
# "tests", also what the test suite needs.
bg_missing_packages() {
    command -v meson >/dev/null 2>&1 || echo meson
    command -v ninja >/dev/null 2>&1 || echo ninja-build
    command -v pkg-config >/dev/null 2>&1 || echo pkg-config
    command -v cc >/dev/null 2>&1 || echo gcc
    if [ "${1:-}" = tests ]; then
        pkg-config --exists check 2>/dev/null || echo check
    fi
}

# bg_install PKG...: install with apt-get when root, else print the exact command, exit 2.
bg_install() {
    [ $# -eq 0 ] && return 0
    if [ "$(id -u)" -ne 0 ]; then
        echo "bindguard: missing packages; run: sudo apt-get install -y $*" >&2
        exit 2
    fi
    export DEBIAN_FRONTEND=noninteractive
    echo "bindguard: installing $*" >&2
    apt-get install -y -qq "$@" >/dev/null 2>&1 ||
        { apt-get update -qq >&2 && apt-get install -y -qq "$@" >&2; } ||
        { echo "bindguard: apt-get install $* failed" >&2; exit 2; }
}

# bg_setup DIR [MESON-OPTION...]: set up DIR, or reconfigure it with the options given.
bg_setup() {
    local dir=$1
    shift
    cd "$bg_root" || exit 2
    if [ ! -f "$dir/build.ninja" ]; then
        meson setup "$dir" "$@" >&2 || exit 2
    elif [ $# -gt 0 ]; then
        meson configure "$dir" "$@" >&2 || exit 2
    fi
}

# bg_build DIR [MESON-OPTION...]: set up (or reconfigure) DIR and compile everything.
bg_build() {
    local dir=$1 tests=
    shift
    case " $* " in *" -Dtests=false "*) ;; *) tests=tests ;; esac
    # shellcheck disable=SC2046
    bg_install $(bg_missing_packages $tests)
    bg_setup "$dir" "$@"
    meson compile -C "$dir" >&2 || exit 1
}
