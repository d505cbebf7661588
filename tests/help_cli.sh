#!/usr/bin/env bash
# help_cli.sh - every command answers --help: exit 0, its usage on stdout, nothing on stderr.
#
# The commands are not a list kept here: they are read from the programs' own usage.
#   - `molt --help`'s "commands:" list gives the commands;
#   - each `molt CMD --help` names its subcommands as `molt CMD SUB ...` (alternatives
#     written SUB1|SUB2); those are checked as `molt CMD SUB --help`;
#   - moltd and molt-agent answer --help themselves.
# Cross-checks against drift: a subcommand list that a dispatcher prints for an unknown
# subcommand ("unknown subcommand 'x' (create, write, ...)") must name only subcommands
# the usage shows; and a usage error must stay off stdout (stderr, exit 2), so --help is
# the only way to get the usage on stdout.
#
# Environment: MOLT, MOLTD, MOLT_AGENT (the binaries). Exit 1 on any failure.
set -euo pipefail

: "${MOLT:?MOLT must name the molt binary}"
: "${MOLTD:?MOLTD must name the moltd binary}"
: "${MOLT_AGENT:?MOLT_AGENT must name the molt-agent binary}"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
fail=0 checked=0
bad() { echo "FAIL: $*" >&2; fail=1; }

# help NAME WANT PROG ARGS...: PROG ARGS must exit 0, print a usage on stdout that has the
# word WANT, nothing on stderr.
help() {
    local name=$1 want=$2 rc=0
    shift 2
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    checked=$((checked + 1))
    [ "$rc" -eq 0 ] || { bad "$name: exit $rc, want 0"; return; }
    [ -s "$T/err" ] && bad "$name: wrote to stderr: $(head -n 1 "$T/err")"
    grep -q '^usage: ' "$T/out" || { bad "$name: no 'usage: ' line on stdout"; return; }
    grep -qw -- "$want" "$T/out" || bad "$name: the usage does not mention '$want'"
    [ "$(tail -c 1 "$T/out" | od -An -c | tr -d ' ')" = '\n' ] || bad "$name: the usage does not end with a newline"
}

# usage_error NAME PROG ARGS...: exit 2, stdout empty, one or more lines on stderr.
usage_error() {
    local name=$1 rc=0
    shift
    "$@" >"$T/out" 2>"$T/err" || rc=$?
    [ "$rc" -eq 2 ] || bad "$name: exit $rc on a usage error, want 2"
    [ -s "$T/out" ] && bad "$name: a usage error wrote to stdout"
    [ -s "$T/err" ] || bad "$name: a usage error said nothing on stderr"
}

"$MOLT" --help >"$T/top"
mapfile -t cmds < <(awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }' "$T/top")
[ "${#cmds[@]}" -ge 1 ] || bad "molt --help lists no commands"
help "molt --help" "COMMAND" "$MOLT" --help
help "molt -h" "COMMAND" "$MOLT" -h

nsubs=0
for c in "${cmds[@]}"; do
    help "molt $c --help" "$c" "$MOLT" "$c" --help
    help "molt $c -h" "$c" "$MOLT" "$c" -h
    usage_error "molt $c --no-such-option" "$MOLT" "$c" --no-such-option
    "$MOLT" "$c" --help >"$T/usage" 2>/dev/null || true
    mapfile -t subs < <(grep -oE "molt $c [a-z][a-z0-9|-]*" "$T/usage" | awk '{ print $3 }' | tr '|' '\n' | sort -u)
    for s in "${subs[@]}"; do
        [ -n "$s" ] || continue
        nsubs=$((nsubs + 1))
        help "molt $c $s --help" "$s" "$MOLT" "$c" "$s" --help
    done
    # The dispatcher's own list of subcommands (printed for an unknown one) must agree.
    if [ "${#subs[@]}" -gt 0 ]; then
        usage_error "molt $c no-such-subcommand" "$MOLT" "$c" no-such-subcommand
        list=$(sed -n 's/.*(\([a-z][a-z, -]*\))$/\1/p' "$T/err" | head -n 1)
        for s in ${list//,/ }; do
            printf '%s\n' "${subs[@]}" | grep -qx -- "$s" ||
                bad "molt $c: the dispatcher knows '$s', the usage does not show it"
        done
    fi
done
[ "$nsubs" -ge 1 ] || bad "no command's usage names a subcommand (the enumeration found nothing)"
usage_error "molt no-such-command" "$MOLT" no-such-command

help "moltd --help" "moltd" "$MOLTD" --help
help "moltd -h" "moltd" "$MOLTD" -h
usage_error "moltd --no-such-option" "$MOLTD" --no-such-option
help "molt-agent --help" "molt-agent" "$MOLT_AGENT" --help
help "molt-agent -h" "molt-agent" "$MOLT_AGENT" -h
usage_error "molt-agent --no-such-option" "$MOLT_AGENT" --no-such-option

echo "help: ${#cmds[@]} commands, $nsubs subcommands, $checked --help/-h calls checked"
exit $fail
