#!/usr/bin/env bash
# moltd_swu_ddi.sh - hawkBit DDI parity in moltd (issue 19), exact status codes and
# bodies: HEAD on artifacts; feedback bodies up to --max-feedback (suricatta sends
# its log) while other JSON keeps --max-json; per-campaign download/update modes
# (forced|attempt|skip, contradictions refused) and a download-only campaign
# finished by "downloaded" without changing the device's version; PUT
# installedBase; actionHistory; a legacy feedback id ignored as hawkBit does;
# per-campaign config.polling.sleep; maintenanceWindow available/unavailable;
# confirmationBase with deny and confirm (user consent, R-NOTIFY).
set -uo pipefail
: "${MOLT:?}" "${MOLTD:?}" "${VECTORS:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
K=$VECTORS/keys; PL=$VECTORS/payloads
moltd_setup    # MOLTD_TEST_DB from tests/moltd_swu_ddi_pg.sh: the same on PostgreSQL
moltd_start --poll-sleep 30 --max-json 8192
A="Bearer $ADMIN"
T() { echo "TargetToken $1-token-0123456789abcdef"; }

call 201 POST "$U/signers" "$A" -d "$(jq -n --rawfile pem "$K/sign-ecdsa-p256.pub.pem" '{name:"vendor",pem:$pem}')"
call 201 POST "$U/classes" "$A" -d '{"name":"sensor","signers":["vendor"]}'
"$MOLT" sign -k "$K/sign-ecdsa-p256.pem" -v 1.0.0 -s auto -H 0x200 --pad-header -S 0x80000 "$PL/payload_C_65536.bin" "$work/v1.bin" >/dev/null || bad "sign"
call 201 POST "$U/packages?class=sensor&filename=fw.bin" "$A" --data-binary "@$work/v1.bin"
SIZE=$(stat -c %s "$work/v1.bin"); SHA=$(sha256sum < "$work/v1.bin" | cut -d' ' -f1)
dev() { jq -n --arg id "$1" --rawfile ak "$K/enc-ecdsa-p256.pub.pem" --arg t "$1-token-0123456789abcdef" '{id:$id,class:"sensor",attestation_key:$ak,token:$t}'; }
for d in head big modes dlonly inst hist legacy sleep other winout winin consent; do
  call 201 POST "$U/devices" "$A" -d "$(dev $d)"
done
# campaign NAME DEVICE [extra JSON fields]: prints the new campaign's action id
campaign() {
  call 201 POST "$U/campaigns" "$A" -d "$(jq -nc --arg n "$1" --arg d "$2" --argjson x "${3:-{\}}" '{name:$n,package:1,filter:{ids:[$d]},message:"tonight"} + $x')"
  sql "SELECT MAX(id) FROM actions WHERE device_id = '$2'"
}
fb() { jq -nc --arg e "$1" --arg f "$2" --arg d "$3" '{status:{execution:$e,result:{finished:$f},details:[$d]}}'; }

# --- HEAD on an artifact: the GET's headers, no body
a=$(campaign head head)
call 200 GET "$D/head/deploymentBase/$a" "$(T head)"
ART=$D/head/softwaremodules/1/artifacts/fw.bin
got=$(curl -s -I -o /dev/null -w '%{http_code} %{size_download}' -H "Authorization: $(T head)" "$ART"); eq "$got" "200 0" "HEAD: 200, no body"
curl -s -I -D "$work/head" -o /dev/null -H "Authorization: $(T head)" "$ART"
eq "$(hdr Content-Length) $(hdr ETag) $(hdr Accept-Ranges)" "$SIZE \"$SHA\" bytes" "HEAD headers"
curl -s -I -D "$work/head" -o /dev/null -H "Authorization: $(T head)" -H 'Range: bytes=100-199' "$ART"
eq "$(head -1 "$work/head" | tr -d '\r' | cut -d' ' -f2) $(hdr Content-Range) $(hdr Content-Length)" "206 bytes 100-199/$SIZE 100" "HEAD with a range"
got=$(curl -s -I -o /dev/null -w '%{http_code}' -H "Authorization: $(T head)" "$D/head/softwaremodules/1/artifacts/other.bin"); eq "$got" 404 "HEAD unknown artifact"
got=$(curl -s -I -o /dev/null -w "%{http_code}" -H "Authorization: $(T other)" "$D/other/softwaremodules/1/artifacts/fw.bin"); eq "$got" 200 "HEAD: any device of the class (R-ONEPKG)"
got=$(curl -s -I -o /dev/null -w '%{http_code}' -H "Authorization: $(T head)" "$D/head/deploymentBase/$a"); eq "$got" 405 "HEAD elsewhere"

# --- feedback bodies: --max-feedback (1 MiB by default), other JSON --max-json (8192 here)
a=$(campaign big big)
log=$(head -c 75000 /dev/urandom | base64 -w 0)          # ~100 KB, as suricatta's log
jq -nc --arg d "$log" '{id:1,time:"20261207T120000",status:{execution:"proceeding",result:{finished:"none"},details:[$d]}}' > "$work/fb100k"
call 200 POST "$D/big/deploymentBase/$a/feedback" "$(T big)" --data-binary "@$work/fb100k" -H 'Content-Type: application/json'
eq "$(sql "SELECT state FROM actions WHERE id = $a")" running "100 KB feedback applied"
head -c 1048577 /dev/zero | tr '\0' ' ' > "$work/fb1m"
call 413 POST "$D/big/deploymentBase/$a/feedback" "$(T big)" --data-binary "@$work/fb1m"; body '{"error": "body larger than 1048576 bytes"}' "feedback above 1 MiB"
jq -nc --arg v "$log" '{data:{log:$v}}' > "$work/cfg100k"
call 413 PUT "$D/big/configData" "$(T big)" --data-binary "@$work/cfg100k"; body '{"error": "body larger than 8192 bytes"}' "other JSON keeps --max-json"

# --- download/update modes per campaign
call 400 POST "$U/campaigns" "$A" -d '{"name":"x","package":1,"filter":{"ids":["modes"]},"update":"later"}'
body '{"error": "update: forced, attempt or skip"}' "bad update mode"
call 400 POST "$U/campaigns" "$A" -d '{"name":"x","package":1,"filter":{"ids":["modes"]},"download":"skip"}'
body '{"error": "update: must be skip when download is skip (nothing to install)"}' "contradictory modes"
call 400 POST "$U/campaigns" "$A" -d '{"name":"x","package":1,"filter":{"ids":["modes"]},"download":3}'
body '{"error": "download: forced, attempt or skip"}' "download not a string"
a=$(campaign modes modes '{"download":"attempt","update":"attempt"}')
call 200 GET "$D/modes/deploymentBase/$a" "$(T modes)"; eq "$(js '.deployment.download + " " + .deployment.update + " " + (.deployment | has("maintenanceWindow") | tostring)')" "attempt attempt false" "attempt/attempt served"
c=$(sql "SELECT campaign_id FROM actions WHERE id = $a")
call 200 GET "$U/campaigns/$c" "$A"; eq "$(jq -c .ddi "$work/body")" '{"download":"attempt","update":"attempt"}' "campaign shows its modes"
# download only: "downloaded" finishes it; the device's version does not change
a=$(campaign dlonly dlonly '{"update":"skip"}')
call 200 GET "$D/dlonly/deploymentBase/$a" "$(T dlonly)"; eq "$(js '.deployment.download + " " + .deployment.update')" "forced skip" "download-only served"
call 200 POST "$D/dlonly/deploymentBase/$a/feedback" "$(T dlonly)" -d "$(fb downloaded none 'stored for later')"
eq "$(sql "SELECT a.state || ' ' || COALESCE(d.version, '-') FROM actions a JOIN devices d ON d.id = a.device_id WHERE a.id = $a")" "success -" "download-only finished, nothing installed"
eq "$(sql "SELECT what || ' ' || COALESCE(version_after, '-') FROM audit WHERE object = 'dlonly' AND what LIKE 'update.%'")" "update.downloaded -" "download-only audited"
call 410 POST "$D/dlonly/deploymentBase/$a/feedback" "$(T dlonly)" -d "$(fb closed success x)"

# --- PUT installedBase: a version installed offline
call 400 PUT "$D/inst/installedBase" "$(T inst)" -d '{"version":"1.0.0"}'
body '{"error": "want {\"name\": the class, \"version\": a package version of it}"}' "installedBase: malformed"
call 404 PUT "$D/inst/installedBase" "$(T inst)" -d '{"name":"sensor","version":"9.9.9"}'; body '{"error": "no package sensor 9.9.9 for inst"}' "installedBase: unknown version"
n=$(sql "SELECT COUNT(*) FROM audit")
call 200 PUT "$D/inst/installedBase" "$(T inst)" -d '{"name":"sensor","version":"1.0.0+0"}'
eq "$(sql "SELECT version FROM devices WHERE id = 'inst'")" "1.0.0+0" "installedBase sets the version"
eq "$(sql "SELECT actor || ' ' || what || ' ' || COALESCE(version_before, '-') || ' ' || version_after FROM audit WHERE id > $n")" "device:inst device.installed - 1.0.0+0" "installedBase audited"
call 200 PUT "$D/inst/installedBase" "$(T inst)" -d '{"name":"sensor","version":"1.0.0+0"}'
eq "$(sql "SELECT COUNT(*) FROM audit WHERE id > $n")" 1 "the same declaration again records nothing"
call 405 POST "$D/inst/installedBase" "$(T inst)" -d '{}'

# --- actionHistory and the legacy feedback id
a=$(campaign hist hist)
call 200 GET "$D/hist/deploymentBase/$a" "$(T hist)"; eq "$(js 'has("actionHistory")')" false "no history unless asked"
call 200 POST "$D/hist/deploymentBase/$a/feedback" "$(T hist)" -d "$(fb proceeding none 'step one')"
call 200 POST "$D/hist/deploymentBase/$a/feedback" "$(T hist)" -d "$(fb proceeding none 'step two')"
call 200 POST "$D/hist/deploymentBase/$a/feedback" "$(T hist)" -d "$(fb downloaded none 'step three')"
call 200 GET "$D/hist/deploymentBase/$a?actionHistory=2" "$(T hist)"
eq "$(js '.actionHistory.status + "|" + (.actionHistory.messages | map(sub("^[0-9]+ "; "")) | join("|"))')" "downloaded|downloaded: step three|proceeding: step two" "actionHistory=2"
call 200 GET "$D/hist/deploymentBase/$a?actionHistory=-1" "$(T hist)"; eq "$(js '.actionHistory.messages | length')" 3 "actionHistory=-1: all"
a=$(campaign legacy legacy)
call 200 POST "$D/legacy/deploymentBase/$a/feedback" "$(T legacy)" -d '{"id":999,"time":"20261207T120000","status":{"execution":"closed","result":{"finished":"success"},"details":["done"]}}'
eq "$(sql "SELECT state FROM actions WHERE id = $a")" success "a legacy id naming another action is ignored (the path names the action)"

# --- per-campaign polling interval
a=$(campaign sleep sleep '{"polling_sleep":42}')
call 200 GET "$D/sleep" "$(T sleep)"; eq "$(js .config.polling.sleep)" "00:00:42" "the campaign's polling sleep"
call 200 GET "$D/other" "$(T other)"; eq "$(js .config.polling.sleep)" "00:00:30" "others keep --poll-sleep"
call 400 POST "$U/campaigns" "$A" -d '{"name":"x","package":1,"filter":{"ids":["other"]},"polling_sleep":86400}'
body '{"error": "polling_sleep: seconds, 1 to 86399 (served as HH:MM:SS)"}' "polling_sleep bound"

# --- maintenance windows
now=$(($(date +%s) * 1000))
call 400 POST "$U/campaigns" "$A" -d "{\"name\":\"x\",\"package\":1,\"filter\":{\"ids\":[\"other\"]},\"maintenance_windows\":[{\"start\":$now,\"end\":$now}]}"
body '{"error": "maintenance_windows[0]: {\"start\": ms, \"end\": ms} with start < end"}' "empty window"
call 400 POST "$U/campaigns" "$A" -d '{"name":"x","package":1,"filter":{"ids":["other"]},"maintenance_windows":[]}'
body '{"error": "maintenance_windows: 1 to 64 windows [{\"start\": ms, \"end\": ms}]"}' "no window"
a=$(campaign winout winout "{\"maintenance_windows\":[{\"start\":$((now - 7200000)),\"end\":$((now - 3600000))},{\"start\":$((now + 3600000)),\"end\":$((now + 7200000))}]}")
call 200 GET "$D/winout/deploymentBase/$a" "$(T winout)"
eq "$(js '.deployment.download + " " + .deployment.update + " " + .deployment.maintenanceWindow')" "forced skip unavailable" "outside the windows"
a=$(campaign winin winin "{\"maintenance_windows\":[{\"start\":$((now - 3600000)),\"end\":$((now + 3600000))}]}")
call 200 GET "$D/winin/deploymentBase/$a" "$(T winin)"
eq "$(js '.deployment.download + " " + .deployment.update + " " + .deployment.maintenanceWindow')" "forced forced available" "inside a window"

# --- user consent: confirmationBase, deny then confirm (R-NOTIFY)
call 400 POST "$U/campaigns" "$A" -d '{"name":"x","package":1,"filter":{"ids":["consent"]},"confirm":"yes"}'
body '{"error": "confirm: true or false"}' "confirm not a boolean"
a=$(campaign consent consent '{"confirm":true}')
call 200 GET "$D/consent" "$(T consent)"
eq "$(js '._links | keys | join(",")')" "configData,confirmationBase" "poll: confirmationBase, no deploymentBase"
eq "$(js '._links.confirmationBase.href')" "$D/consent/confirmationBase/$a" "confirmationBase link"
call 200 GET "$D/consent/confirmationBase" "$(T consent)"
body "{\"autoConfirm\":{\"active\":false},\"_links\":{\"confirmationBase\":{\"href\":\"$D/consent/confirmationBase/$a\"}}}" "confirmationBase root"
call 409 GET "$D/consent/deploymentBase/$a" "$(T consent)"; body "{\"error\":\"action $a waits for the user's confirmation (confirmationBase)\"}" "no deployment before consent"
call 409 POST "$D/consent/deploymentBase/$a/feedback" "$(T consent)" -d "$(fb closed success x)"; body "{\"error\":\"action $a waits for the user's confirmation (confirmationBase)\"}" "no feedback before consent"
call 200 GET "$D/consent/confirmationBase/$a" "$(T consent)"
eq "$(js '.id + " " + .confirmation.update + " " + .confirmation.chunks[0].version + " " + (.confirmation.chunks[0].metadata | map(select(.key == "molt.message"))[0].value)')" "$a forced 1.0.0+0 tonight" "the deployment the user is asked about, with the message"
call 200 GET "$D/consent/confirmationBase/$a" "$(T consent)"
eq "$(sql "SELECT COUNT(*) FROM audit WHERE object = 'consent' AND what = 'notify.served'")" 1 "the message's first delivery recorded once"
call 400 POST "$D/consent/confirmationBase/$a/feedback" "$(T consent)" -d '{"confirmation":"maybe"}'
body '{"error": "want {\"confirmation\": confirmed|denied, \"code\"?: integer, \"details\"?: [strings]}"}' "bad confirmation"
call 200 POST "$D/consent/confirmationBase/$a/feedback" "$(T consent)" -d '{"confirmation":"denied","code":3,"details":["not now"]}'
call 200 GET "$D/consent" "$(T consent)"; eq "$(js '._links | has("confirmationBase")')" true "denied: the action keeps waiting (hawkBit)"
call 200 POST "$D/consent/confirmationBase/$a/feedback" "$(T consent)" -d '{"confirmation":"confirmed","details":["ok by the user"]}'
call 200 GET "$D/consent" "$(T consent)"
eq "$(js '(._links | has("confirmationBase")) | tostring') $(js '._links.deploymentBase.href | test("/deploymentBase/'$a'[?]c=")')" "false true" "confirmed: the deployment is offered"
call 410 POST "$D/consent/confirmationBase/$a/feedback" "$(T consent)" -d '{"confirmation":"confirmed"}'
body "{\"error\":\"action $a of consent waits for no confirmation\"}" "confirmed twice"
call 404 GET "$D/consent/confirmationBase/$a" "$(T consent)"
call 200 GET "$D/consent/deploymentBase/$a" "$(T consent)"
eq "$(sql "SELECT what || ' ' || COALESCE(detail, '') FROM audit WHERE object = 'consent' AND what LIKE 'update.%' ORDER BY id" | paste -sd '|' -)" \
   "update.denied not now; code 3|update.confirmed ok by the user" "consent audited"
call 404 GET "$D/other/confirmationBase/$a" "$(T other)"

moltd_stop
grep -E "Sanitizer|runtime error" "$work/log" "$work/err" && bad "sanitizer report" || ok
summary
