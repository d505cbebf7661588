# tests/lib.sh - the one set of helpers for molt's shell tests (sourced, never run).
#
#   . "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
#
# Sourcing it makes a scratch directory $work (removed at exit unless KEEP is set),
# sets the counters pass=0 fail=0 and installs an EXIT trap that runs the
# commands given to at_exit, stops the moltd started by moltd_start and removes
# $work. A script ends with `summary`, whose status is the script's status.
#
# Every check counts exactly once: `ok` or `bad`. A failing check prints one
# line "FAIL (line N): WHAT ..." naming the check and the line of the script that
# made it; nothing is retried or skipped. tests/README.md documents the contract.

# --- counting --------------------------------------------------------------------------------

pass=0
fail=0

# ok: count a passed check.
ok() { pass=$((pass + 1)); }

# bad MESSAGE...: count a failed check and say which one, with the line of the script.
bad() {
  fail=$((fail + 1))
  local n=${#BASH_LINENO[@]}
  echo "FAIL (line ${BASH_LINENO[n - 2]:-?}): $*"
}

# summary [NAME]: print "NAME: P passed, F failed" (NAME defaults to the script's name);
# status 0 only if no check failed and at least one passed.
summary() {
  local name=${1:-$(basename "$0" .sh)}
  echo "$name: $pass passed, $fail failed"
  [ "$fail" -eq 0 ] && [ "$pass" -gt 0 ]
}

# --- scratch directory and clean-up ------------------------------------------------------

work=$(mktemp -d) || { echo "FAIL: mktemp"; exit 1; }
_lib_exit=()

# at_exit COMMAND: run COMMAND (a string, evaluated) at exit, before $work is removed;
# the last registered runs first.
at_exit() { _lib_exit=("$1" "${_lib_exit[@]}"); }

# kill_wait PID...: end these background processes and reap them (empty PIDs ignored).
kill_wait() {
  local p
  for p in "$@"; do
    [ -n "$p" ] || continue
    kill "$p" 2>/dev/null; wait "$p" 2>/dev/null
  done
  return 0
}

_lib_cleanup() {
  local c
  for c in "${_lib_exit[@]}"; do eval "$c"; done
  moltd_stop
  if [ -n "${KEEP:-}" ]; then echo "kept $work"; else rm -rf "$work"; fi
}
trap _lib_cleanup EXIT

# need_cmd TOOL...: stop with one FAIL line unless every TOOL is installed.
need_cmd() {
  local t
  for t in "$@"; do
    command -v "$t" >/dev/null || { echo "FAIL: $t is required (scripts/deps.sh installs it)"; exit 1; }
  done
}

# wait_for SECONDS COMMAND...: run COMMAND every 0.05 s until it succeeds; status 1 after SECONDS.
wait_for() {
  local i n=$(($1 * 20)); shift
  for ((i = 0; i < n; i++)); do "$@" && return 0; sleep 0.05; done
  return 1
}

# --- commands ------------------------------------------------------------------------------

# eq GOT WANT NAME: GOT is exactly WANT.
eq() { [ "$1" == "$2" ] && ok || bad "$3: got '$1', expected '$2'"; }

# step COMMAND...: COMMAND exits 0; its stdout and stderr are in $work/out.
step() { "$@" >"$work/out" 2>&1 && ok || bad "$* -> $(cat "$work/out")"; }

# expect CODE TEXT COMMAND...: COMMAND exits exactly CODE; if TEXT is not empty, stderr is
# exactly one line and contains TEXT. stdout is in $work/out, stderr in $work/err.
expect() {
  local code=$1 text=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"; local rc=$?
  if [ "$rc" -ne "$code" ]; then bad "$* -> exit $rc, expected $code ($(head -c 300 "$work/err"))"; return; fi
  if [ -n "$text" ]; then
    if ! grep -qF -- "$text" "$work/err"; then bad "$* -> stderr '$(cat "$work/err")' lacks '$text'"; return; fi
    if [ "$(wc -l <"$work/err")" -ne 1 ]; then bad "$* -> stderr is not one line: $(cat "$work/err")"; return; fi
  fi
  ok
}

# expect_rc CODE NAME COMMAND...: COMMAND exits exactly CODE; its stdout is in $out (and
# $work/out), its stderr in $work/err.
expect_rc() {
  local code=$1 name=$2; shift 2
  "$@" >"$work/out" 2>"$work/err"; local rc=$?
  out=$(cat "$work/out")
  [ "$rc" -eq "$code" ] && ok || bad "$name: exit $rc, expected $code ($(cat "$work/err") $out)"
}

# expect_out CODE OUTPUT COMMAND...: COMMAND exits exactly CODE and prints exactly OUTPUT
# (stdout and stderr together, trailing newlines dropped).
expect_out() {
  local code=$1 want=$2; shift 2
  local got rc; got=$("$@" 2>&1); rc=$?
  [ "$rc" -eq "$code" ] && [ "$got" = "$want" ] && ok || bad "$*: expected exit $code '$want', got exit $rc '$got'"
}

# --- moltd ---------------------------------------------------------------------------------

curl() { command curl --max-time 30 "$@"; }

# moltd_setup [sqlite|URL]: the admin token ($ADMIN, in $work/admin.token) and the database:
# DB (the SQLite file), DBURL (MOLTD_TEST_DB if set, else sqlite:$DB; "sqlite" forces SQLite,
# a URL is used as given), backend (sqlite or postgresql) and sql QUERY (unaligned rows).
moltd_setup() {
  ADMIN=admin-token-0123456789abcdef
  printf '%s\n' "$ADMIN" >"$work/admin.token"
  DB=${DB:-$work/moltd.sqlite}
  case ${1:-} in
    sqlite) DBURL=sqlite:$DB ;;
    "")     DBURL=${MOLTD_TEST_DB:-sqlite:$DB} ;;
    *)      DBURL=$1 ;;
  esac
  case $DBURL in
    postgresql://*) backend=postgresql; sql() { psql -X -q -tA "$DBURL" -c "$1"; } ;;
    *)              backend=sqlite;     sql() { sqlite3 "$DB" "$1"; } ;;
  esac
}

# moltd_launch OUT ERR [options...]: moltd in the background on an ephemeral port of
# 127.0.0.1 with $DBURL, the artifact directory ${ART:-$work/art} and the admin token file;
# stdout to OUT, stderr to ERR; its pid in $launched.
moltd_launch() {
  local o=$1 e=$2; shift 2
  "$MOLTD" --db "$DBURL" --port 0 --artifact-dir "${ART:-$work/art}" --admin-token-file "$work/admin.token" "$@" \
           >"$o" 2>"$e" &
  launched=$!
}

# moltd_port LOG PID: wait (up to 30 s, or until PID ends) for "moltd: listening on
# http://127.0.0.1:PORT" in LOG and print PORT; status 1 if it never came.
moltd_port() {
  local p i
  for ((i = 0; i < 600; i++)); do
    p=$(sed -n 's/^moltd: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$1")
    [ -n "$p" ] && { echo "$p"; return 0; }
    kill -0 "$2" 2>/dev/null || break
    sleep 0.05
  done
  p=$(sed -n 's/^moltd: listening on http:\/\/127\.0\.0\.1:\([0-9]*\) .*/\1/p' "$1")
  [ -n "$p" ] && { echo "$p"; return 0; }
  return 1
}

# moltd_start [options...]: one moltd (moltd_launch with $work/log and $work/err) that stops
# at exit; sets pid, port, S (its base URL), U (the management API) and D (the DDI API).
# If it does not come up: one FAIL line with its output, exit 1.
moltd_start() {
  moltd_launch "$work/log" "$work/err" "$@"
  pid=$launched
  port=$(moltd_port "$work/log" "$pid") || { echo "FAIL: moltd did not start: $(cat "$work/log" "$work/err")"; exit 1; }
  S=http://127.0.0.1:$port; U=$S/api/v1; D=$S/DEFAULT/controller/v1
}

# moltd_stop: stop the moltd of moltd_start, if one runs.
moltd_stop() { kill_wait "${pid:-}"; pid=; }

# call CODE METHOD URL AUTH [curl args...]: the HTTP status is exactly CODE. AUTH (if not
# empty) is the Authorization header's value. The body is in $work/body (emptied first),
# the response headers in $work/head.
call() {
  local want=$1 m=$2 url=$3 auth=$4; shift 4
  : >"$work/body"
  local got; got=$(curl -s -o "$work/body" -D "$work/head" -w '%{http_code}' -X "$m" ${auth:+-H "Authorization: $auth"} "$@" "$url")
  [ "$got" == "$want" ] && ok || bad "$m $url -> $got, expected $want ($(head -c 300 "$work/body"))"
}

# js FILTER: jq -r FILTER over the last body.
js() { jq -r "$1" "$work/body"; }

# hdr NAME: the value of the last response's header NAME (first one, no CR).
hdr() { tr -d '\r' <"$work/head" | sed -n "s/^$1: //Ip" | head -1; }

# body_json: the last body as canonical JSON (jq -cS).
body_json() { jq -cS . "$work/body"; }

# body JSON [NAME]: the last body is exactly JSON (compared canonically; a body that is not
# JSON is compared as text).
body() { eq "$(jq -cS . "$work/body" 2>/dev/null || cat "$work/body")" "$(jq -cS . <<<"$1")" "${2:-body}"; }

# cur EXECUTION FINISHED: a DDI feedback body {"status":{"execution":..,"result":{"finished":..}}}.
cur() { echo "{\"status\":{\"execution\":\"$1\",\"result\":{\"finished\":\"$2\"}}}"; }

# --- PostgreSQL ----------------------------------------------------------------------------

# pg_cluster: a throw-away PostgreSQL cluster (scripts/pg-cluster.sh) in $work/pg, stopped at
# exit; its URL in $PGURL. Status 1 (and pg-cluster's message on stderr) if it cannot start.
pg_cluster() {
  at_exit '"$MOLT_SRC/scripts/pg-cluster.sh" stop "$work/pg" >/dev/null 2>&1'
  PGURL=$("$MOLT_SRC/scripts/pg-cluster.sh" start "$work/pg")
}

# pg_run SCRIPT [VAR=VALUE...]: run tests/SCRIPT on a throw-away cluster (MOLTD_TEST_DB set);
# its status is the status of pg_run.
pg_run() {
  local s=$1; shift
  pg_cluster || { echo "FAIL: no PostgreSQL cluster"; exit 1; }
  env MOLTD_TEST_DB="$PGURL" "$@" bash "$MOLT_SRC/tests/$s"
}
