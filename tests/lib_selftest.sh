#!/usr/bin/env bash
# lib_selftest.sh - tests/lib.sh keeps its contract (tests/README.md): each helper
# counts a passing check once, a failing one once with its exact FAIL line (the
# caller's line), summary's line and status, the at_exit commands run at exit
# (last registered first, $work still there) and $work removed after them. Each case runs in its own bash
# and its whole output and exit status are compared with the expected ones.
set -uo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
. "$here/lib.sh"

# case NAME WANT_RC WANT_OUTPUT SCRIPT: SCRIPT (lines after sourcing lib.sh, ending
# with its own summary) prints exactly WANT_OUTPUT and exits WANT_RC.
case_() {
  local name=$1 want_rc=$2 want=$3 body=$4
  printf '. "%s/lib.sh"\n%s\n' "$here" "$body" >"$work/case.sh"
  local got rc; got=$(cd "$work" && bash case.sh 2>&1); rc=$?
  eq "$rc $got" "$want_rc $want" "$name"
}

case_ "eq passes and fails" 1 "FAIL (line 3): two: got 'a', expected 'b'
t: 1 passed, 1 failed" 'eq a a one
eq a b two
summary t'

case_ "no check is a failure" 1 "t: 0 passed, 0 failed" 'summary t'

case_ "step" 1 "FAIL (line 3): sh -c echo no; exit 3 -> no
t: 1 passed, 1 failed" 'step true
step sh -c "echo no; exit 3"
summary t'

case_ "expect: code, one line, substring" 1 "FAIL (line 3): sh -c exit 1 -> exit 1, expected 2 ()
FAIL (line 4): sh -c echo other >&2; exit 2 -> stderr 'other' lacks 'boom'
FAIL (line 5): sh -c echo boom >&2; echo two >&2; exit 2 -> stderr is not one line: boom
two
t: 2 passed, 3 failed" 'expect 2 "boom" sh -c "echo x: boom >&2; exit 2"
expect 2 "" sh -c "exit 1"
expect 2 "boom" sh -c "echo other >&2; exit 2"
expect 2 "boom" sh -c "echo boom >&2; echo two >&2; exit 2"
expect 0 "" sh -c "echo a; echo b >&2"
summary t'

case_ "expect_rc keeps stdout" 1 "FAIL (line 4): four: exit 3, expected 4 (e out)
t: 2 passed, 1 failed" 'expect_rc 3 three sh -c "echo out; echo e >&2; exit 3"
eq "$out $(cat "$work/err")" "out e" "stdout and stderr kept"
expect_rc 4 four sh -c "echo out; echo e >&2; exit 3"
summary t'

case_ "expect_out is exact" 1 "FAIL (line 3): sh -c echo hi; exit 1: expected exit 1 'h', got exit 1 'hi'
t: 1 passed, 1 failed" 'expect_out 1 "hi" sh -c "echo hi; exit 1"
expect_out 1 "h" sh -c "echo hi; exit 1"
summary t'

case_ "a helper's failure names the script's line" 1 "FAIL (line 3): inner: got '1', expected '2'
t: 0 passed, 1 failed" 'check() { eq "$1" "$2" inner; }
check 1 2
summary t'

case_ "at_exit order, work removed" 0 "t: 1 passed, 0 failed
present
second
first
gone" 'at_exit "echo first"
at_exit "echo second"
w=$work; at_exit "[ -d \"$w\" ] && echo present"
ok
trap "_lib_cleanup; [ -e \"$w\" ] || echo gone" EXIT
summary t'

case_ "body and js" 1 "FAIL (line 5): b: got '{\"a\":1,\"b\":[2]}', expected '{\"a\":1}'
t: 2 passed, 1 failed" 'printf "{\"b\": [2], \"a\": 1}" >"$work/body"
body "{\"a\":1,\"b\":[2]}" a
eq "$(js .a) $(body_json)" "1 {\"a\":1,\"b\":[2]}" js
body "{\"a\":1}" b
summary t'

summary
