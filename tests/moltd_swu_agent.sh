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
evq() { jq -rs "$2" "$1"; }   # evq FILE FILTER: a jq filter over the array of one run's events (--events FILE)
n_ev() { evq "$1" "[.[] | select($2)] | length"; }   # n_ev FILE CONDITION: how many events match
offer() { evq dev.ev '.[] | select(.event == "offer") | "\(.artifact) \(.chunk) \(.download) \(.update) \(.maintenance_window)"'; }
deferred() { evq dev.ev '[.[] | select(.event == "deferred") | "\(.what) \(.version) \(.update) \(.maintenance_window)"] | unique | join(", ")'; }
closed() { evq dev.ev '.[] | select(.event == "feedback_sent" and .execution == "closed") | "\(.finished): \(.detail)"'; }
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
# the agent's events (docs/agent.md) go to dev.ev, rewritten by every run
agent() { "$MOLT_AGENT" -f dev.sim -k vendor.pub --server "$S" --id dev --token t0123456789abcdef --backoff-ms 50 --max-sleep 1 --once --events dev.ev "$@"; }
simver() { "$MOLT" sim state -f dev.sim -k vendor.pub --json | jq -r '.would_boot | "\(.version) \(.trial)"'; }
fbs() { jq -r "select(.action == $1) | .kind + \":\" + (.body.status.execution // .body.confirmation)" feedback.log 2>/dev/null | paste -sd, -; }

# --- update skip: the right artifact (by kind) downloaded and verified, not installed
agent > a1.log 2>&1; eq "$?" 0 "update skip: exit"
eq "$(offer)" "v2.img fw forced skip null" "artifact by kind"
eq "$(deferred)" "install 2.0.0 skip null" "update skip: the install waits"
eq "$(simver)" "1.0.0+1 false" "update skip: v1 still runs"
eq "$(fbs 1)" "deployment:proceeding,deployment:downloaded" "update skip feedback"
"$MOLT_AGENT" -f dev.sim -k vendor.pub --server "$S" --id dev --token t0123456789abcdef --backoff-ms 50 --max-sleep 1 --max-polls 3 --events dev.ev > a2.log 2>&1
eq "$(n_ev dev.ev '.event == "deferred" and .what == "install"') $(fbs 1)" "3 deployment:proceeding,deployment:downloaded,deployment:downloaded" \
   "a power-on reports downloaded once, however many polls"

# --- maintenance window unavailable (update forced): still waits; attempt deferred: waits
state 1 '.maintenanceWindow = "unavailable"'
agent > a3.log 2>&1
eq "$(deferred)" "install 2.0.0 forced unavailable" "window unavailable: the install waits"
state 1 '.maintenanceWindow = "available" | .update = "attempt"'
agent --defer-attempt > a4.log 2>&1
eq "$(deferred)" "install 2.0.0 attempt available" "attempt deferred"
eq "$(simver)" "1.0.0+1 false" "still v1"

# --- window available: installed; the server's "2.0.0" is the running "2.0.0+0"
agent > a5.log 2>&1; eq "$?" 0 "install: exit"
eq "$(closed)" "success: 2.0.0+0 running, health check passed, accepted; security counter 33554432" "install"
eq "$(simver)" "2.0.0+0 false" "v2 runs, confirmed"
eq "$(jq -r 'select(.action == 1 and .body.status.execution == "closed") | .body.status.result.finished' feedback.log)" success "closed/success sent"
# a new action for "2.0.0": already running, success at once, nothing downloaded
state 2
agent > a6.log 2>&1
eq "$(closed)" "success: 2.0.0+0 running and confirmed" "version match"
eq "$(n_ev dev.ev '.event == "download_start" or (.event == "feedback_sent" and .execution == "proceeding")')" 0 "not downloaded again"
eq "$(fbs 2)" "deployment:closed" "action 2 closed at once"

# --- by name: --artifact names one that is not there; download skip fetches nothing
state 3 '.version = "3.0.0"'
agent --artifact v3.img > a7.log 2>&1
eq "$(evq dev.ev '[.[] | select(.event == "error" and .code != "http") | "\(.code): \(.detail)"] | join(", ")')" \
   "no_artifact: no artifact named v3.img in the deployment" "--artifact (the mock has no attestation resource: http errors aside)"
eq "$(jq -r 'select(.action == 3) | .body.status.result.finished + " " + .body.status.details[0]' feedback.log)" \
   "failure no artifact named v3.img in the deployment" "--artifact failure feedback"
state 4 '.version = "3.0.0" | .download = "skip" | .update = "skip"'
agent > a8.log 2>&1
eq "$(deferred)" "download 3.0.0 skip null" "download skip: nothing now"
eq "$(n_ev dev.ev '.event == "download_start"')" 0 "download skip: nothing downloaded"
eq "$(fbs 4)" "" "download skip: no feedback"

# --- user consent: the message shown, denied, then confirmed
state 5 '.version = "3.0.0" | .download = "skip" | .update = "skip" | .confirm = true'
agent --consent no > a9.log 2>&1
consent() { evq dev.ev '.[] | select(.event == "consent") | "\(.action) \(.from) -> \(.to) \(.answer) \(.status)"'; }
eq "$(consent)" "5 2.0.0+0 -> 3.0.0 denied 200" "consent asked, denied"
agent --consent no > a10.log 2>&1
agent > a11.log 2>&1
eq "$(consent)" "5 2.0.0+0 -> 3.0.0 confirmed 200" "consent confirmed"
agent > a12.log 2>&1
eq "$(offer)" "v2.img fw skip skip null" "after consent, the deployment"
eq "$(fbs 5)" "confirmation:denied,confirmation:denied,confirmation:confirmed" "consent feedback"
"$MOLT_AGENT" -f dev.sim -k vendor.pub --server "$S" --id dev --token t0123456789abcdef --consent maybe > bad.log 2>&1
eq "$? $(cat bad.log)" "2 molt-agent: --consent: yes or no" "bad --consent"

summary
