#!/bin/sh
# fnlen.sh - list the C functions longer than a limit, longest first.
#
#   scripts/fnlen.sh [--max N] [--all] DIR|FILE...
#
# A function is a definition whose body opens with "{" alone at the start of a
# line and closes with "}" at the start of a line (the project's style, as
# clang-format writes it); its length counts from the first line of its
# signature to the closing brace. Prints "FILE:LINE NAME LENGTH" for each
# function over the limit (every function with --all), then one summary line.
# Exit status: 0 when none is over the limit, 1 when some are, 2 on bad usage.
max=80
all=0
while [ $# -gt 0 ]; do
    case $1 in
        --max) [ $# -ge 2 ] || { echo "fnlen.sh: --max needs a number" >&2; exit 2; }
               max=$2; shift 2 ;;
        --all) all=1; shift ;;
        --) shift; break ;;
        -*) echo "fnlen.sh: unknown option $1" >&2; exit 2 ;;
        *) break ;;
    esac
done
case $max in ''|*[!0-9]*) echo "fnlen.sh: --max wants a whole number, not '$max'" >&2; exit 2 ;; esac
[ $# -gt 0 ] || { echo "usage: fnlen.sh [--max N] [--all] DIR|FILE..." >&2; exit 2; }
for p in "$@"; do
    [ -e "$p" ] || { echo "fnlen.sh: $p: no such file or directory" >&2; exit 2; }
done
files=$(find "$@" -type f -name '*.c' | LC_ALL=C sort)
[ -n "$files" ] || { echo "fnlen.sh: no .c files in $*" >&2; exit 2; }
# shellcheck disable=SC2086
awk -v max="$max" -v all="$all" '
FNR == 1 { sig = 0; name = ""; inbody = 0 }
# A signature line: starts in column 0 with an identifier, is not a
# preprocessor line, a declaration ending in ";" or a type definition.
!inbody && /^[A-Za-z_]/ && !/;[ \t]*$/ && !/^(typedef|struct [A-Za-z_0-9]+ *\{|enum|union)/ {
    l = $0
    # a leading __attribute__((...)) is not the name
    if (l ~ /^__attribute__/ && index(l, ")) ") > 0)
        l = substr(l, index(l, ")) ") + 3)
    if (index(l, "(") > 0) {
        sig = FNR
        s = substr(l, 1, index(l, "(") - 1)
        sub(/[ \t]+$/, "", s)
        n = split(s, w, /[ \t*]+/)
        name = w[n]
    }
    next
}
!inbody && /^\{/ && sig > 0 { inbody = 1; next }
inbody && /^\}/ {
    len = FNR - sig + 1
    total++
    if (len > longest) { longest = len; lname = FILENAME ":" sig " " name }
    if (len > max || all) { printf "%s:%d %s %d\n", FILENAME, sig, name, len | "sort -k3,3nr"; }
    if (len > max) over++
    inbody = 0; sig = 0
    next
}
END {
    close("sort -k3,3nr")
    printf "fnlen: %d functions, %d over %d lines, longest %d (%s)\n", total, over, max, longest, lname
    exit over > 0
}
' $files
