#!/usr/bin/env bash
# completion - completion/bindguard.bash, sourced in bash, offers the build's commands,
# options, profiles and option values (COMPREPLY for a few command lines).
# Usage: completion.sh SOURCE_ROOT BUILD_ROOT
set -u
src=${1:?usage: completion.sh SOURCE_ROOT BUILD_ROOT}
build=${2:?usage: completion.sh SOURCE_ROOT BUILD_ROOT}
PATH=$build/src:$PATH
# shellcheck source=completion/bindguard.bash
. "$src/completion/bindguard.bash"
fail=0

# complete "WORDS..." : COMPREPLY for the last word of the line.
complete_line() {
    read -r -a COMP_WORDS <<<"$1"
    [[ $1 == *' ' ]] && COMP_WORDS+=("")
    COMP_CWORD=$((${#COMP_WORDS[@]} - 1))
    _bindguard
    printf '%s\n' "${COMPREPLY[@]}" | sort | tr '\n' ' '
}

# expect "LINE" "WORD..." : each word is offered.   expect_not "LINE" "WORD...": none is.
expect() {
    local line=$1 got w
    shift
    got=" $(complete_line "$line")"
    for w in "$@"; do
        if [[ $got != *" $w "* ]]; then
            echo "FAIL: '$line' offers [$got], not '$w'"
            fail=1
        fi
    done
}
expect_not() {
    local line=$1 got w
    shift
    got=" $(complete_line "$line")"
    for w in "$@"; do
        if [[ $got == *" $w "* ]]; then
            echo "FAIL: '$line' offers '$w': [$got]"
            fail=1
        fi
    done
}

expect "bindguard " run shell audit list check explain matrix gc demo doctor --help --version
expect "bindguard d" demo doctor
expect_not "bindguard d" run list
expect "bindguard run --" --profile --emulate --default --table --audit --help
expect "bindguard run --profile " ws2003 xp wsk win7 nt4
expect "bindguard run --profile w" ws2003 wsk win7 win95
expect_not "bindguard run --profile w" xp
expect "bindguard run --default " exclusive windows
expect "bindguard list --" --json --port --stale --all-namespaces --table
expect "bindguard gc --" --json --rebuild --table
expect "bindguard matrix --" --json --profile --different-user
expect "bindguard check --as e" exclusive
expect "bindguard demo --" --json
expect "bindguard doctor ba" bash
expect "bindguard run -- ba" bash
expect_not "bindguard explain --" --port

[ $fail -eq 0 ] && echo "completion: ok"
exit $fail
