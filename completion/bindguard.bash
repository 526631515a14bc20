# bash completion for bindguard(1): commands, options, profiles and option values.
#
# Commands and options are read from the installed command's own --help, and profiles
# from its list of valid names, so completion never lists something the command lacks.
# Looked up once per shell (per bindguard path) and cached.

_bindguard_cache_key=
_bindguard_commands=
_bindguard_profiles=
declare -gA _bindguard_options 2>/dev/null || true

_bindguard_load() {
    local bg=$1 key
    key=$(command -v -- "$bg" 2>/dev/null) || return 1
    [[ $key == "$_bindguard_cache_key" ]] && return 0
    _bindguard_cache_key=$key
    _bindguard_options=()
    # "  NAME      summary" lines under "commands:" in `bindguard --help`.
    _bindguard_commands=$("$bg" --help 2>/dev/null |
        sed -n '/^commands:/,/^$/s/^  \([a-z][a-z-]*\) .*/\1/p')
    # "... (valid: ws2003, vista, ...)" for an unknown profile.
    _bindguard_profiles=$("$bg" matrix --profile '?' 2>&1 |
        sed -n 's/.*(valid: \(.*\)).*/\1/p' | tr -d ',')
}

_bindguard_options_of() {
    local bg=$1 cmd=$2
    if [[ -z ${_bindguard_options[$cmd]+set} ]]; then
        _bindguard_options[$cmd]="$("$bg" "$cmd" --help 2>/dev/null |
            grep -o -- '--[a-z][a-z-]*' | grep -vx -- --help | sort -u | tr '\n' ' ')--help"
    fi
    printf '%s' "${_bindguard_options[$cmd]}"
}

_bindguard() {
    local cur=${COMP_WORDS[COMP_CWORD]} prev=${COMP_WORDS[COMP_CWORD-1]}
    local bg=${COMP_WORDS[0]} cmd= i
    COMPREPLY=()
    _bindguard_load "$bg" || return 0

    if ((COMP_CWORD == 1)); then
        COMPREPLY=($(compgen -W "$_bindguard_commands --help --version" -- "$cur"))
        return 0
    fi
    cmd=${COMP_WORDS[1]}

    # After `--`, run/audit/shell take a command line of their own.
    for ((i = 2; i < COMP_CWORD; i++)); do
        if [[ ${COMP_WORDS[i]} == -- ]]; then
            if declare -F _command_offset >/dev/null; then
                _command_offset $((i + 1))
            else
                COMPREPLY=($(compgen -c -- "$cur"))
            fi
            return 0
        fi
    done

    case $prev in
    --profile) COMPREPLY=($(compgen -W "$_bindguard_profiles" -- "$cur")); return 0 ;;
    --default) COMPREPLY=($(compgen -W "exclusive windows" -- "$cur")); return 0 ;;
    --as) COMPREPLY=($(compgen -W "default reuseaddr exclusive" -- "$cur")); return 0 ;;
    --table) COMPREPLY=($(compgen -f -- "$cur")); return 0 ;;
    --port | --cgroup) return 0 ;;
    esac

    if [[ $cur == -* ]]; then
        COMPREPLY=($(compgen -W "$(_bindguard_options_of "$bg" "$cmd")" -- "$cur"))
        return 0
    fi
    case $cmd in
    doctor | run | audit) COMPREPLY=($(compgen -c -- "$cur")) ;;
    esac
    return 0
}

complete -F _bindguard bindguard
