#!/usr/bin/env bash
# moltd_swu_agent.sh - molt-agent against a plain hawkBit-shaped server (issue 19):
# tests/swu_hawkbit_mock.py speaks DDI as hawkBit does (version "2.0.0", not the
# image's "2.0.0+0"; several chunks and artifacts in its own order; download and
# update modes, maintenanceWindow, confirmationBase). On a simulated device:
#   - the artifact is chosen by kind (part "os", a signed image, not the .swu,
#     checksum or text files listed before it) or by --artifact NAME;
#   - update skip: downloaded and verified, "downloaded" reported once, not installed;
#   - maintenanceWindow unavailable: the same; attempt with --defer-attempt: the same;
#   - window available: installed, closed/success with the server's "2.0.0" matched
#     against the running "2.0.0+0"; a new action for "2.0.0" is success at once;
#   - download skip: nothing fetched;
#   - confirmationBase: the message shown, denied (--consent no) or confirmed.
set -uo pipefail
: "${MOLT:?}" "${MOLT_AGENT:?}" "${MOLT_SRC:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
mpid=
at_exit 'kill_wait "$mpid"'
cd "$work" || exit 1

step "$MOLT" keygen -t ecdsa-p256 -k vendor.pem
step "$MOLT" getpub -k vendor.pem -e pem -o vendor.pub
head -c 24576 /dev/urandom > fw1.bin; head -c 28000 /dev/urandom > fw2.bin
step "$MOLT" sign -k vendor.pem -v 1.0.0+1 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 fw1.bin v1.img
mkdir files
step "$MOLT" sign -k vendor.pem -v 2.0.0 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 fw2.bin files/v2.img
printf 'release notes\n' > files/notes.txt
head -c 2048 /dev/urandom > files/app.swu
md5sum files/v2.img | cut -d' ' -f1 > files/v2.img.MD5SUM
step "$MOLT" sim create -f dev.sim --sector-size 4096 --slot-sectors 16 --align 8
step "$MOLT" sim write -f dev.sim --slot primary v1.img

# state ACTION [jq assignments]: the mock's offer
state() {
  jq -n --argjson a "$1" "{action:\$a,version:\"2.0.0\",download:\"forced\",update:\"forced\",maintenanceWindow:null,confirm:false,
    chunks:[{part:\"bApp\",name:\"docs\",artifacts:[\"notes.txt\"]},{part:\"os\",name:\"fw\",artifacts:[\"app.swu\",\"v2.img.MD5SUM\",\"v2.img\"]}]} ${2:+| $2}" > state.json.tmp
  mv state.json.tmp state.json
}
state 1 '.update = "skip"'
python3 -u "$MOLT_SRC/tests/swu_hawkbit_mock.py" port state.json files feedback.log > mock.log 2>&1 & mpid=$!
for _ in $(seq 100); do [ -s port ] && break; sleep 0.05; done
S=http://127.0.0.1:$(cat port)
agent() { "$MOLT_AGENT" -f dev.sim -k vendor.pub --server "$S" --id dev --token t0123456789abcdef --backoff-ms 50 --max-sleep 1 --once "$@"; }
simver() { "$MOLT" sim state -f dev.sim -k vendor.pub --json | jq -r '.would_boot | "\(.version) \(.trial)"'; }
fbs() { jq -r "select(.action == $1) | .kind + \":\" + (.body.status.execution // .body.confirmation)" feedback.log 2>/dev/null | paste -sd, -; }

# --- update skip: the right artifact (by kind) downloaded and verified, not installed
agent > a1.log 2>&1; eq "$?" 0 "update skip: exit"
grep -q "^dev: artifact v2.img of chunk fw; modes: download=forced update=skip$" a1.log && ok || bad "artifact by kind: $(cat a1.log)"
grep -q "^dev: downloaded 2.0.0; the install waits (update skip)" a1.log && ok || bad "update skip: $(cat a1.log)"
eq "$(simver)" "1.0.0+1 false" "update skip: v1 still runs"
eq "$(fbs 1)" "deployment:proceeding,deployment:downloaded" "update skip feedback"
"$MOLT_AGENT" -f dev.sim -k vendor.pub --server "$S" --id dev --token t0123456789abcdef --backoff-ms 50 --max-sleep 1 --max-polls 3 > a2.log 2>&1
eq "$(grep -c "the install waits" a2.log) $(fbs 1)" "3 deployment:proceeding,deployment:downloaded,deployment:downloaded" \
   "a power-on reports downloaded once, however many polls"

# --- maintenance window unavailable (update forced): still waits; attempt deferred: waits
state 1 '.maintenanceWindow = "unavailable"'
agent > a3.log 2>&1
grep -q "^dev: downloaded 2.0.0; the install waits (update forced, maintenance window unavailable)" a3.log && ok || bad "window unavailable: $(cat a3.log)"
state 1 '.maintenanceWindow = "available" | .update = "attempt"'
agent --defer-attempt > a4.log 2>&1
grep -q "^dev: downloaded 2.0.0; the install waits (update attempt, maintenance window available)" a4.log && ok || bad "attempt deferred: $(cat a4.log)"
eq "$(simver)" "1.0.0+1 false" "still v1"

# --- window available: installed; the server's "2.0.0" is the running "2.0.0+0"
agent > a5.log 2>&1; eq "$?" 0 "install: exit"
grep -q "^dev: feedback: success (2.0.0+0 running, health check passed, accepted" a5.log && ok || bad "install: $(cat a5.log)"
eq "$(simver)" "2.0.0+0 false" "v2 runs, confirmed"
eq "$(jq -r 'select(.action == 1 and .body.status.execution == "closed") | .body.status.result.finished' feedback.log)" success "closed/success sent"
# a new action for "2.0.0": already running, success at once, nothing downloaded
state 2
agent > a6.log 2>&1
grep -q "^dev: feedback: success (2.0.0+0 running and confirmed)" a6.log && ok || bad "version match: $(cat a6.log)"
grep -qE "^dev: download [0-9]|download started" a6.log && bad "downloaded again: $(cat a6.log)" || ok
eq "$(fbs 2)" "deployment:closed" "action 2 closed at once"

# --- by name: --artifact names one that is not there; download skip fetches nothing
state 3 '.version = "3.0.0"'
agent --artifact v3.img > a7.log 2>&1
grep -q "^dev: deployment 3: no artifact named v3.img in the deployment" a7.log && ok || bad "--artifact: $(cat a7.log)"
eq "$(jq -r 'select(.action == 3) | .body.status.result.finished + " " + .body.status.details[0]' feedback.log)" \
   "failure no artifact named v3.img in the deployment" "--artifact failure feedback"
state 4 '.version = "3.0.0" | .download = "skip" | .update = "skip"'
agent > a8.log 2>&1
grep -q "^dev: the server says download skip: nothing now" a8.log && ok || bad "download skip: $(cat a8.log)"
eq "$(fbs 4)" "" "download skip: no feedback"

# --- user consent: the message shown, denied, then confirmed
state 5 '.version = "3.0.0" | .download = "skip" | .update = "skip" | .confirm = true'
agent --consent no > a9.log 2>&1
grep -q "^dev: update 2.0.0+0 -> 3.0.0 needs the user's consent (action 5)" a9.log && ok || bad "consent asked: $(cat a9.log)"
grep -q "^dev: user denied: HTTP 200" a9.log && ok || bad "denied: $(cat a9.log)"
agent --consent no > a10.log 2>&1
agent > a11.log 2>&1
grep -q "^dev: user confirmed: HTTP 200" a11.log && ok || bad "confirmed: $(cat a11.log)"
agent > a12.log 2>&1
grep -q "^dev: artifact v2.img of chunk fw; modes: download=skip update=skip$" a12.log && ok || bad "after consent, the deployment: $(cat a12.log)"
eq "$(fbs 5)" "confirmation:denied,confirmation:denied,confirmation:confirmed" "consent feedback"
"$MOLT_AGENT" -f dev.sim -k vendor.pub --server "$S" --id dev --token t0123456789abcdef --consent maybe > bad.log 2>&1
eq "$? $(cat bad.log)" "2 molt-agent: --consent: yes or no" "bad --consent"

summary
