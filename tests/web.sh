#!/usr/bin/env bash
# web.sh - the deployer dashboard (web/, served by moltd under /ui/) in a real browser:
# Debian's chromium, headless, driven by puppeteer-core (tests/web/dashboard.cjs), against
# a real moltd on 127.0.0.1 and four simulated devices running molt-agent. In the browser:
# a strict CSP (an injected inline script does not run), a wrong token refused, a viewer
# logs in, sees the fleet, searches it, and cannot start a campaign (the form is read-only;
# forced, moltd answers 403); an operator uploads a tampered image (422 HASH_MISMATCH) and a
# good one (its verified details shown), starts a staged campaign, watches it reach 100 %
# without a reload, sees the failed device and why (the agent's feedback), its attestation
# evidence, filters the audit log and exports it as CSV, pauses, resumes and cancels a
# second campaign. Then the shell checks moltd's state through the API on its own.
# Screenshots: $MOLT_BUILD/web-artifacts/*.png. With MOLTD_TEST_DB=postgresql://... (tests/web_pg.sh)
# the same test runs on PostgreSQL.
#   R-AUTH (deployer: the role checked on every action), R-NOTIFY (the message), R-ATTEST (evidence shown).
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${MOLT_AGENT:?}" "${MOLT_SRC:?}" "${MOLT_BUILD:?}"
modules=${MOLT_NODE_MODULES:-$MOLT_SRC/build/node/node_modules}
[ -f "$modules/puppeteer-core/package.json" ] || { echo "FAIL: $modules/puppeteer-core: not installed (run scripts/deps.sh)"; exit 1; }
[ -x "${CHROMIUM:-/usr/bin/chromium}" ] || { echo "FAIL: ${CHROMIUM:-/usr/bin/chromium}: not installed (run scripts/deps.sh)"; exit 1; }
art=${WEB_ARTIFACTS:-$MOLT_BUILD/web-artifacts}
rm -rf "$art"; mkdir -p "$art"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
apids=()
at_exit 'kill_wait "${apids[@]}"'
cd "$work"

step "$MOLT" keygen -t ecdsa-p256 -k vendor.pem
step "$MOLT" getpub -k vendor.pem -e pem -o vendor.pub
head -c 24576 /dev/urandom > fw1.bin; head -c 28000 /dev/urandom > fw2.bin; head -c 20000 /dev/urandom > fw3.bin
step "$MOLT" sign -k vendor.pem -v 1.0.0+1 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 fw1.bin v1.img
step "$MOLT" sign -k vendor.pem -v 2.0.0 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 fw2.bin v2.img
step "$MOLT" sign -k vendor.pem -v 3.0.0 -s auto -H 0x200 --pad-header -S 0x10000 --align 8 fw3.bin v3.img
cp v3.img v3-tampered.img
printf '\x5a' | dd of=v3-tampered.img bs=1 seek=4096 conv=notrunc status=none

moltd_setup
moltd_start --poll-sleep 1
A="Authorization: Bearer $ADMIN"
api() { curl -s -H "$A" "$@"; }
api -d "$(jq -n --rawfile p vendor.pub '{name:"vendor",pem:$p}')" "$U/signers" >/dev/null
api -d '{"name":"sensor","signers":["vendor"]}' "$U/classes" >/dev/null
eq "$(api --data-binary @v1.img "$U/packages?class=sensor&filename=v1.img" | jq -r .version)" 1.0.0+1 "upload v1"
eq "$(api --data-binary @v2.img "$U/packages?class=sensor&filename=v2.img" | jq -r .id)" 2 "upload v2"
VIEWER=$(api -d '{"name":"audit","role":"viewer"}' "$U/tokens" | jq -r .token)
OPERATOR=$(api -d '{"name":"ops","role":"operator"}' "$U/tokens" | jq -r .token)
[ ${#VIEWER} -eq 32 ] && [ ${#OPERATOR} -eq 32 ] && ok || bad "tokens: '$VIEWER' '$OPERATOR'"
# What moltd answers to the tampered image (the page must show exactly this); nothing is stored.
refusal=$(curl -s -H "Authorization: Bearer $OPERATOR" --data-binary @v3-tampered.img "$U/packages?class=sensor")
eq "$(jq -r .reason <<<"$refusal")" HASH_MISMATCH "the tampered image's reason"
BAD_REFUSAL="422: $(jq -r .error <<<"$refusal") ($(jq -r .reason <<<"$refusal"))"
eq "$(api "$U/packages" | jq length)" 2 "nothing stored for the tampered image"

devs=(dev-a dev-b dev-c dev-d)
declare -A TOK
for d in "${devs[@]}"; do
  step "$MOLT" sim create -f $d.sim --sector-size 4096 --slot-sectors 16 --align 8
  step "$MOLT" sim write -f $d.sim --slot primary v1.img
  step "$MOLT" sim iak -f $d.sim -o $d.iak
  TOK[$d]=$(api -d "$(jq -n --arg id $d --rawfile ak $d.iak '{id:$id,class:"sensor",attestation_key:$ak}')" "$U/devices" | jq -r .token)
done
# The devices poll every second until they have taken an update; dev-d's v2 fails its health check.
for d in "${devs[@]}"; do
  extra=(); [ $d = dev-d ] && extra=(--health-fail)
  "$MOLT_AGENT" -f $d.sim -k vendor.pub --server "$S" --id $d --token "${TOK[$d]}" --backoff-ms 100 --max-sleep 1 \
                --max-polls 200 --until-update "${extra[@]}" > $d.log 2>&1 &
  apids+=($!)
done
FAIL_REASON="health check failed (--health-fail) on 2.0.0+0; rejected; FWU_REVERTED; running 1.0.0+1"

mkdir downloads
MOLT_URL=$S VIEWER_TOKEN=$VIEWER OPERATOR_TOKEN=$OPERATOR ARTIFACTS=$art DEVICES="${devs[*]}" FAILED_DEVICE=dev-d \
FAIL_REASON=$FAIL_REASON P2_ID=2 V1_VERSION=1.0.0+1 V2_VERSION=2.0.0+0 V3_FILE=$work/v3.img \
V3_SHA256=$(sha256sum v3.img | cut -d' ' -f1) V3_VERSION=3.0.0+0 V3_COUNTER=$((3 << 24)) BAD_FILE=$work/v3-tampered.img \
BAD_REFUSAL=$BAD_REFUSAL DOWNLOADS=$work/downloads NODE_PATH=$modules \
  timeout 240 node "$MOLT_SRC/tests/web/dashboard.cjs" > browser.log 2>&1
rc=$?
cat browser.log
summary=$(tail -n 1 browser.log)
[ $rc -eq 0 ] && [[ $summary =~ ^[0-9]+\ passed,\ 0\ failed$ ]] && ok || bad "the browser test (exit $rc): $summary"

# --- moltd's state, read through the API by the shell (not by the page)
eq "$(api "$U/campaigns" | jq -c '[.[] | {id, name, state, created_by}]')" \
   '[{"id":1,"name":"v2 rollout","state":"finished","created_by":"token:ops"},{"id":2,"name":"v3-controls","state":"cancelled","created_by":"token:ops"}]' \
   "campaigns: the operator's two, none by the viewer"
eq "$(api "$U/audit" | jq -r '[.[] | select(.actor == "token:audit")] | length')" 0 "the viewer changed nothing"
eq "$(api "$U/audit" | jq -r '[.[] | select(.object == "2") | .what] | join(" ")')" \
   "campaign.create campaign.pause campaign.resume campaign.cancel" "the second campaign's controls, audited"
eq "$(api "$U/campaigns/1" | jq -c .actions)" '{"failure":1,"success":3}' "the rollout's outcome"
eq "$(api "$U/campaigns/1" | jq -r '[.steps, .failure_threshold, .message] | join(" | ")')" \
   "50,100 | 50 | Sensor firmware 2.0.0 is being installed." "the campaign as the form sent it"
eq "$(api "$U/packages/3" | jq -r '"\(.version) \(.uploaded_by) \(.sha256)"')" "3.0.0+0 token:ops $(sha256sum v3.img | cut -d' ' -f1)" "the package uploaded in the browser"
eq "$(api "$U/audit" | jq -r '.[] | select(.what == "update.failure") | "\(.object): \(.detail)"')" "dev-d: $FAIL_REASON" "the failure's reason in moltd"
for d in "${devs[@]}"; do
  want=2.0.0+0; [ $d = dev-d ] && want=1.0.0+1
  eq "$(api "$U/devices/$d" | jq -r .attested_version)" $want "$d attested"
done
# the new endpoints answer only to tokens, and only GET
eq "$(curl -s -o /dev/null -w '%{http_code}' "$U/fleet")" 401 "fleet without a token"
eq "$(curl -s -H "Authorization: Bearer $VIEWER" -X POST -w ' %{http_code}' "$U/fleet")" \
   '{"error":"needs the operator role (this token is viewer)"} 403' "fleet is read-only (a viewer's POST is refused before routing)"
eq "$(curl -s -H "Authorization: Bearer $VIEWER" "$U/fleet?limit=501" -w ' %{http_code}')" \
   '{"error":"limit: 1 to 500 devices"} 400' "fleet page size bound"
eq "$(curl -s -H "Authorization: Bearer $VIEWER" "$U/fleet?state=broken" -w ' %{http_code}')" \
   '{"error":"state: assigned, running, downloaded, cancelling, success, failure, cancelled or none"} 400' "fleet state filter"
eq "$(curl -s -H "Authorization: Bearer $VIEWER" "$U/fleet?q=%25&limit=1" | jq -r .total)" 0 "a % in the search matches itself"
eq "$(curl -s -H "Authorization: Bearer $VIEWER" "$U/devices/nobody/history" -w ' %{http_code}')" '{"error":"no device nobody"} 404' "history of an unknown device"
eq "$(curl -s -H "Authorization: Bearer $VIEWER" "$U/campaigns/99/timeline" -w ' %{http_code}')" '{"error":"no campaign 99"} 404' "timeline of an unknown campaign"
eq "$(curl -s -H "Authorization: Bearer $VIEWER" "$U/audit/records?format=xml" -w ' %{http_code}')" '{"error":"format: json or csv"} 400' "audit export format"
eq "$(curl -s -o /dev/null -w '%{http_code}' "$S/ui/../../etc/passwd")" 404 "no path outside the embedded files"
eq "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$S/ui/")" 405 "the static files are read-only"
eq "$(curl -s -H "Authorization: Bearer $VIEWER" "$U/campaigns/1/timeline" | jq -c '[.points[-1] | .success, .failure, .assigned]')" '[3,1,0]' "the timeline ends at the outcome"
eq "$(curl -s -H "Authorization: Bearer $VIEWER" "$U/fleet?limit=2&offset=2" | jq -c '[.total, [.devices[].id]]')" \
   '[4,["dev-c","dev-d"]]' "fleet paging"
eq "$(curl -s -H "Authorization: Bearer $VIEWER" "$U/fleet?campaign=1&state=failure" | jq -c '[.devices[] | [.id, .action.detail]]')" \
   "$(jq -nc --arg r "$FAIL_REASON" '[["dev-d", $r]]')" "fleet: a campaign's failed devices and why"
# CSV: a cell a spreadsheet would run as a formula is quoted and prefixed with '
api -d '{"name":"-1-1","role":"viewer"}' "$U/tokens" >/dev/null
eq "$(curl -s -H "Authorization: Bearer $VIEWER" "$U/audit/records?format=csv&what=token.create&object=-1-1" | tail -n +2 | tr -d '\r' | cut -d, -f3-)" \
   "admin,token.create,\"'-1-1\",,,viewer" "CSV export: formula-like cells defused"
ls "$art"/*.png >/dev/null 2>&1 && ok || bad "no screenshot in $art"

if [ "$fail" -ne 0 ]; then
  for d in "${devs[@]}"; do echo "--- $d.log"; tail -n 15 $d.log; done
  echo "--- moltd's output"; tail -n 20 "$work/log" "$work/err"
fi
echo "screenshots in $art"
summary
