#!/usr/bin/env bash
# awdt_cli.sh - the authenticated watchdog through the CLI (R-AVAIL, issue 12):
# `molt sim watchdog|nonce|ticket|clock` and `molt ticket`, with exact JSON
# fields, exit codes and refusal reasons; the hardware watchdog resets into a
# recovery boot, and an approved image installed in recovery leaves it.
set -uo pipefail
: "${MOLT:?}" "${VECTORS:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
K=$VECTORS/keys/sign-ecdsa-p256.pub.pem; I=$VECTORS/images
D=$work/dev.sim
# field JSON KEY: one field of a JSON object
field() { python3 -c 'import json,sys; v=json.loads(sys.argv[1])[sys.argv[2]]; print(json.dumps(v) if isinstance(v,bool) else v)' "$1" "$2"; }

openssl ecparam -name prime256v1 -genkey -noout -out "$work/tk.pem" 2>/dev/null
openssl ec -in "$work/tk.pem" -pubout -out "$work/tk.pub" 2>/dev/null
openssl ecparam -name prime256v1 -genkey -noout -out "$work/evil.pem" 2>/dev/null

expect_rc 0 create "$MOLT" sim create -f "$D"
expect_rc 0 write "$MOLT" sim write -f "$D" --slot primary "$I/p24_ecdsa_p256_rollback_low.bin"   # 0.9.0
expect_rc 2 "nonce before provisioning" "$MOLT" sim nonce -f "$D"
grep -q "not provisioned" "$work/err" && ok || bad "unprovisioned: $(cat "$work/err")"
expect_rc 2 "provision without a key" "$MOLT" sim watchdog -f "$D" --seconds 100 --boots 5
expect_rc 2 "exit grant half given" "$MOLT" sim watchdog -f "$D" --ticket-key "$work/tk.pub" --seconds 100 --boots 5 --exit-seconds 10
expect_rc 0 provision "$MOLT" sim watchdog -f "$D" --ticket-key "$work/tk.pub" --seconds 100 --boots 50 \
  --max-seconds 5000 --max-boots 20 --nonce-ttl 60 --exit-seconds 1000 --exit-boots 10 --json
eq "$(field "$out" deadline)" 100 deadline
eq "$(field "$out" boot_limit)" 50 boot_limit
expect_rc 1 "provisioned twice" "$MOLT" sim watchdog -f "$D" --ticket-key "$work/evil.pem" --seconds 9999 --boots 999
grep -q "never reset" "$work/err" && ok || bad "second provisioning: $(cat "$work/err")"

expect_rc 0 boot1 "$MOLT" sim boot -f "$D" -k "$K" --json
eq "$(field "$out" recovery)" false "boot 1 recovery"
eq "$(field "$out" boots)" 1 "boot 1 count"
expect_rc 0 "watchdog status" "$MOLT" sim watchdog -f "$D" --status --json
eq "$(field "$out" watchdog_armed)" true armed
eq "$(field "$out" watchdog_fires_at)" 100 "fires at"

# tickets: the device identity is SHA-256 of the IAK point
expect_rc 0 iak "$MOLT" sim iak -f "$D" -o "$work/iak.pub"
expect_rc 0 nonce "$MOLT" sim nonce -f "$D" --json
N=$(field "$out" nonce); ID=$(field "$out" device_id)
want_id=$(openssl ec -pubin -in "$work/iak.pub" -outform DER 2>/dev/null | tail -c 65 | sha256sum | cut -c1-64)
eq "$ID" "$want_id" "device identity"
expect_rc 0 "molt ticket" "$MOLT" ticket -k "$work/tk.pem" --iak "$work/iak.pub" --nonce "$N" --seconds 1000 --boots 10
T=$out
eq "${#T}" 248 "ticket length"
# refusals first (each leaves the nonce outstanding)
expect_rc 0 "forged" "$MOLT" ticket -k "$work/evil.pem" --device-id "$ID" --nonce "$N" --seconds 1000 --boots 10
expect_rc 1 "forged refused" "$MOLT" sim ticket -f "$D" "$out" --json
eq "$(field "$out" refused)" AWDT_SIG "forged reason"
other=$(printf '%064x' 7)
expect_rc 0 "other device" "$MOLT" ticket -k "$work/tk.pem" --device-id "$other" --nonce "$N" --seconds 1000 --boots 10
expect_rc 1 "other device refused" "$MOLT" sim ticket -f "$D" "$out" --json
eq "$(field "$out" refused)" AWDT_DEVICE "other device reason"
expect_rc 0 "over-long" "$MOLT" ticket -k "$work/tk.pem" --device-id "$ID" --nonce "$N" --seconds 5001 --boots 10
expect_rc 1 "over-long refused" "$MOLT" sim ticket -f "$D" "$out" --json
eq "$(field "$out" refused)" AWDT_TOO_LONG "over-long reason"
expect_rc 1 "truncated" "$MOLT" sim ticket -f "$D" "${T:0:246}" --json
eq "$(field "$out" refused)" AWDT_FORMAT "truncated reason"
expect_rc 0 "clock +10" "$MOLT" sim clock -f "$D" --advance 10 --json
expect_rc 0 "good ticket" "$MOLT" sim ticket -f "$D" "$T" --json
eq "$(field "$out" deadline)" 1000 "extended deadline"   # from the nonce's issue at t = 0
eq "$(field "$out" boot_limit)" 50 "extended limit"   # 1 + 10 would lower the provisioned 50: kept
eq "$(field "$out" watchdog_fires_at)" 1000 "re-armed"
expect_rc 1 "replayed" "$MOLT" sim ticket -f "$D" "$T" --json
eq "$(field "$out" refused)" AWDT_NONCE "replay reason"
# an expired nonce: issued, then the clock passes its ttl (60 s)
expect_rc 0 nonce2 "$MOLT" sim nonce -f "$D" --json
N2=$(field "$out" nonce)
expect_rc 0 "clock +61" "$MOLT" sim clock -f "$D" --advance 61 --json
expect_rc 0 "late ticket" "$MOLT" ticket -k "$work/tk.pem" --device-id "$ID" --nonce "$N2" --seconds 1000 --boots 10
expect_rc 1 "expired refused" "$MOLT" sim ticket -f "$D" "$out" --json
eq "$(field "$out" refused)" AWDT_EXPIRED "expired reason"
# a reset loses the outstanding nonce (it lives in the update service's RAM)
expect_rc 0 nonce3 "$MOLT" sim nonce -f "$D" --json
N3=$(field "$out" nonce)
expect_rc 0 "reboot" "$MOLT" sim boot -f "$D" -k "$K" --json
expect_rc 0 "ticket for a lost nonce" "$MOLT" ticket -k "$work/tk.pem" --device-id "$ID" --nonce "$N3" --seconds 1000 --boots 10
expect_rc 1 "lost nonce refused" "$MOLT" sim ticket -f "$D" "$out" --json
eq "$(field "$out" refused)" AWDT_NONCE "lost nonce reason"

# the hardware watchdog fires at the deadline: the next boot is a recovery boot
expect_rc 1 "clock to the deadline" "$MOLT" sim clock -f "$D" --advance 5000 --json
eq "$(field "$out" watchdog_fired)" true "fired"
eq "$(field "$out" clock)" 1000 "stopped at the deadline"
expect_rc 0 "recovery boot" "$MOLT" sim boot -f "$D" -k "$K" --json
prev=$out
eq "$(field "$out" recovery)" true "recovery"
eq "$(field "$out" version)" "0.9.0+0" "recovery image"
expect_rc 0 "status in recovery" "$MOLT" sim watchdog -f "$D" --status --json
eq "$(field "$out" recovery)" true "latched"
eq "$(field "$out" entry_version)" "0.9.0+0" "entry version"
expect_rc 0 "boot again" "$MOLT" sim boot -f "$D" -k "$K" --json
eq "$(field "$out" recovery) $(field "$out" boots)" "true $(( $(field "$prev" boots) + 1 ))" "still recovery, counted"
# the updater installs the approved 1.2.3 in recovery: a trial stays in recovery, the confirmed image leaves it
expect_rc 0 "stage 1.2.3" "$MOLT" sim write -f "$D" --slot secondary "$I/p03_ecdsa_p256_seccnt.bin"
expect_rc 0 request "$MOLT" sim request -f "$D"
expect_rc 0 "trial boot" "$MOLT" sim boot -f "$D" -k "$K" --json
eq "$(field "$out" trial)" true "trial"
eq "$(field "$out" recovery)" true "trial in recovery"
expect_rc 0 confirm "$MOLT" sim confirm -f "$D"
expect_rc 0 "confirmed boot" "$MOLT" sim boot -f "$D" -k "$K" --json
eq "$(field "$out" version)" "1.2.3+4" "version"
eq "$(field "$out" recovery)" false "left recovery"
expect_rc 0 "status after" "$MOLT" sim watchdog -f "$D" --status --json
eq "$(field "$out" deadline)" 2000 "deadline after exit"   # t = 1000 + exit 1000

summary
