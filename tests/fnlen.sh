#!/bin/bash
# fnlen.sh - scripts/fnlen.sh finds long functions, and moltd/ has none over 80 lines.
#
# First the checker itself, on fixtures whose answer is known: a function of
# exactly 80 lines passes, one of 81 is listed with its name, file, line and
# length, and bad usage exits 2. Then the rule it guards: no function in
# moltd/ is longer than 80 lines (docs/design.md, "moltd layout").
set -u
src=${MOLT_SRC:-$(cd "$(dirname "$0")/.." && pwd)}
fnlen="$src/scripts/fnlen.sh"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
fail=0
check() { # name expected actual
    if [ "$2" == "$3" ]; then echo "ok: $1"; else echo "FAIL: $1: want [$2], got [$3]"; fail=1; fi
}
# A function of n lines in total: signature, "{", n-3 body lines, "}".
func() { # name n
    printf 'static int %s(int x)\n{\n' "$1"
    for ((i = 0; i < $2 - 3; i++)); do printf '    x += %d;\n' "$i"; done
    printf '}\n'
}
mkdir -p "$tmp/a"
{ echo '#include <stdio.h>'; echo 'int g(void);'; echo; func exact 80; echo; func tiny 3; } >"$tmp/a/one.c"
out=$("$fnlen" "$tmp/a"); rc=$?
check "80 lines pass: exit" 0 "$rc"
check "80 lines pass: summary" "fnlen: 2 functions, 0 over 80 lines, longest 80 ($tmp/a/one.c:4 exact)" "$out"
{ func first 5; echo; printf 'static const struct s t = {\n    1,\n};\n\n'; func long_one 81; } >"$tmp/a/two.c"
out=$("$fnlen" "$tmp/a"); rc=$?
check "81 lines fail: exit" 1 "$rc"
check "81 lines fail: listed" "$tmp/a/two.c:11 long_one 81" "$(head -1 <<<"$out")"
check "81 lines fail: summary" "fnlen: 4 functions, 1 over 80 lines, longest 81 ($tmp/a/two.c:11 long_one)" "$(tail -1 <<<"$out")"
{ echo '__attribute__((format(printf, 1, 2))) static int say(const char *fmt, ...)'; echo '{'; echo '    return 0;'; echo '}'; } >"$tmp/attr.c"
check "__attribute__ before the name" "$tmp/attr.c:1 say 4" "$("$fnlen" --all "$tmp/attr.c" | head -1)"
out=$("$fnlen" --max 100 "$tmp/a"); rc=$?
check "--max 100: exit" 0 "$rc"
out=$("$fnlen" --all "$tmp/a/one.c" | head -2 | tr '\n' ' '); 
check "--all lists every function, longest first" "$tmp/a/one.c:4 exact 80 $tmp/a/one.c:85 tiny 3 " "$out"
"$fnlen" --max x "$tmp/a" >/dev/null 2>"$tmp/err"; rc=$?
check "bad --max: exit" 2 "$rc"
check "bad --max: message" "fnlen.sh: --max wants a whole number, not 'x'" "$(cat "$tmp/err")"
"$fnlen" "$tmp/nothing" >/dev/null 2>"$tmp/err"; rc=$?
check "missing dir: exit" 2 "$rc"
# The rule itself.
out=$("$fnlen" --max 80 "$src/moltd"); rc=$?
echo "$out"
check "moltd/: no function over 80 lines" 0 "$rc"
exit $fail
