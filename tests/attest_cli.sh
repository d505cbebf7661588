#!/usr/bin/env bash
# attest_cli.sh - attestation end to end: a simulated device's token verifies with
# `molt attest verify` and with an independent COSE checker (tests/cosecheck.py,
# python3-cbor2 + python3-cryptography), names the running image's hash and
# version, and every forgery is refused with exit 1.
#   R-ATTEST: signed, fresh (nonce), names what runs (hash, version, signer, counter).
#   R-ASSETS: the IAK is per device and never leaves the sim's key store: only the
#             public key is exported; another device's key does not verify.
set -uo pipefail
: "${MOLT:?}" "${VECTORS:?}" "${MOLT_SRC:?}"
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
if [[ -z ${PYTHON:-} ]]; then
  PYTHON=python3
  if /usr/bin/python3 -c 'import cbor2, cryptography' 2>/dev/null; then PYTHON=/usr/bin/python3; fi
fi
COSE=("$PYTHON" "$MOLT_SRC/tests/cosecheck.py")
K=$VECTORS/keys/sign-ecdsa-p256.pub.pem; I=$VECTORS/images
D=$work/dev.sim; D2=$work/other.sim
N32=000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f
N48=${N32}a0a1a2a3a4a5a6a7a8a9aaabacadaeaf
N64=${N32}${N32//0/f}
OLD=$I/p24_ecdsa_p256_rollback_low.bin   # 0.9.0+0, security counter 1
NEW=$I/p03_ecdsa_p256_seccnt.bin         # 1.2.3+4, security counter 5

jq_py() { "$PYTHON" -c "import json,sys; j=json.load(open(sys.argv[1])); print($2)" "$1"; }
hash_of() { "$MOLT" inspect --json "$1" | "$PYTHON" -c "import json,sys; print(json.load(sys.stdin)['hash']['value'])"; }

H_OLD=$(hash_of "$OLD"); H_NEW=$(hash_of "$NEW")
KEYHASH=$(od -An -tx1 -v "$VECTORS/keys/sign-ecdsa-p256.keyhash-sha256.bin" | tr -d ' \n')

step "$MOLT" sim create -f "$D" --sector-size 4096 --slot-sectors 8
step "$MOLT" sim create -f "$D2" --sector-size 4096 --slot-sectors 8
step "$MOLT" sim iak -f "$D" -o "$work/iak.pem"
step "$MOLT" sim iak -f "$D2" -o "$work/iak2.pem"
grep -q 'BEGIN PUBLIC KEY' "$work/iak.pem" && ! grep -q PRIVATE "$work/iak.pem" && ok || bad "iak is not a public PEM"
cmp -s "$work/iak.pem" "$work/iak2.pem" && bad "two devices share an IAK" || ok
step "$MOLT" sim write -f "$D" --slot primary "$OLD"
expect 1 "has not booted" "$MOLT" sim attest -f "$D" -k "$K" --nonce $N32 -o "$work/t"
step "$MOLT" sim boot -f "$D" -k "$K"

# --- a token verifies and names the running image ---
step "$MOLT" sim attest -f "$D" -k "$K" --nonce $N32 -o "$work/t1"
"$MOLT" attest verify --iak "$work/iak.pem" --nonce $N32 "$work/t1" --json >"$work/v1.json" 2>"$work/err" \
  && ok || bad "verify t1: $(cat "$work/err")"
got=$(jq_py "$work/v1.json" "j['valid'], j['nonce'], j['profile'], j['lifecycle_state'], j['client_id'], j['security_counter'], len(j['software_components'])")
[ "$got" = "True $N32 tag:psacertified.org,2023:psa#tfm secured -1 1 1" ] && ok || bad "claims: $got"
got=$(jq_py "$work/v1.json" "' '.join(str(c[k]) for c in j['software_components'] for k in ('measurement_type','measurement_value','version','signer_id','measurement_desc'))")
[ "$got" = "App $H_OLD 0.9.0+0 $KEYHASH sha-256" ] && ok || bad "running component: $got (want App $H_OLD 0.9.0+0 $KEYHASH sha-256)"
"$MOLT" attest verify --iak "$work/iak.pem" --nonce $N32 "$work/t1" >"$work/human" 2>&1 && \
  grep -qx "component 0: App, version 0.9.0+0, sha-256 $H_OLD, signer id $KEYHASH" "$work/human" && ok \
  || bad "human output: $(cat "$work/human")"
# the independent COSE_Sign1 check (tag 18, Sig_structure, raw r||s) agrees
"${COSE[@]}" --iak "$work/iak.pem" --nonce $N32 "$work/t1" >"$work/c1.json" 2>"$work/err" && ok \
  || bad "cosecheck t1: $(cat "$work/err")"
got=$(jq_py "$work/c1.json" "j['components'][0]['value'], j['components'][0]['version'], j['security_counter']")
[ "$got" = "$H_OLD 0.9.0+0 1" ] && ok || bad "cosecheck claims: $got"
head -c 1 "$work/t1" | od -An -tx1 | grep -qx ' d2' && ok || bad "first byte is not tag 18 (0xd2)"

# 48- and 64-byte challenges; anything else refused by the device (lib) and the verifier
for n in $N48 $N64; do
  step "$MOLT" sim attest -f "$D" -k "$K" --nonce "$n" -o "$work/tn"
  step "$MOLT" attest verify --iak "$work/iak.pem" --nonce "$n" "$work/tn"
  step "${COSE[@]}" --iak "$work/iak.pem" --nonce "$n" "$work/tn"
done
for n in "" 00 ${N32}00 ${N32:2} ${N64}00 ${N48}00; do
  [ -z "$n" ] && continue
  expect 1 "challenge is not 32, 48 or 64 bytes" "$MOLT" sim attest -f "$D" -k "$K" --nonce "$n" -o "$work/tx"
  expect 2 "expected 32, 48 or 64 bytes" "$MOLT" attest verify --iak "$work/iak.pem" --nonce "$n" "$work/t1"
done
expect 2 "--nonce HEX is required" "$MOLT" sim attest -f "$D" -k "$K" --nonce 0g -o "$work/tx"
[ -e "$work/tx" ] && bad "a refused request wrote a token" || ok

# --- refusals: exit 1 with the reason ---
expect 1 "nonce does not match the challenge" "$MOLT" attest verify --iak "$work/iak.pem" --nonce $N48 "$work/t1"
expect 1 "nonce does not match the challenge" "$MOLT" attest verify --iak "$work/iak.pem" --nonce "${N32%?}e" "$work/t1"
expect 1 "signature does not verify with this IAK" "$MOLT" attest verify --iak "$work/iak2.pem" --nonce $N32 "$work/t1"
expect 1 "signature does not verify" "${COSE[@]}" --iak "$work/iak2.pem" --nonce $N32 "$work/t1"
# a changed claim, re-encoded properly (the version text), old signature kept
step "${COSE[@]}" --tamper-version "$work/t1" "$work/tv"
expect 1 "signature does not verify with this IAK" "$MOLT" attest verify --iak "$work/iak.pem" --nonce $N32 "$work/tv"
expect 1 "signature does not verify" "${COSE[@]}" --iak "$work/iak.pem" --nonce $N32 "$work/tv"
# every single byte of the token changed (xor 0x01), and every truncation
# (0 .. len-1 bytes), is refused with exit 1
len=$(stat -c %s "$work/t1"); mkdir -p "$work/var"
"$PYTHON" - "$work/t1" "$work/var" <<'EOF' || bad "could not write the variants"
import sys
d = open(sys.argv[1], "rb").read()
for i in range(len(d)):
    f = bytearray(d); f[i] ^= 1
    open("%s/flip%d" % (sys.argv[2], i), "wb").write(f)
    open("%s/trunc%d" % (sys.argv[2], i), "wb").write(d[:i])
EOF
flips=0; accepted=0; trunc_bad=0
for ((i = 0; i < len; i++)); do
  "$MOLT" attest verify --iak "$work/iak.pem" --nonce $N32 "$work/var/flip$i" >/dev/null 2>&1; rc=$?
  flips=$((flips + 1)); [ $rc -eq 1 ] || { accepted=$((accepted + 1)); echo "flip at $i: rc $rc"; }
  "$MOLT" attest verify --iak "$work/iak.pem" --nonce $N32 "$work/var/trunc$i" >/dev/null 2>&1; rc=$?
  [ $rc -eq 1 ] || { trunc_bad=$((trunc_bad + 1)); echo "truncated to $i: rc $rc"; }
done
[ $flips -eq "$len" ] && [ $accepted -eq 0 ] && ok || bad "$accepted of $flips one-byte changes not refused with exit 1"
[ $trunc_bad -eq 0 ] && ok || bad "$trunc_bad of $len truncations not refused with exit 1"
echo "token of $len bytes: $flips one-byte changes and $len truncations refused"
head -c $((len / 2)) "$work/t1" >"$work/tt"
expect 1 "malformed or truncated" "$MOLT" attest verify --iak "$work/iak.pem" --nonce $N32 "$work/tt"
expect 1 "malformed or truncated" "${COSE[@]}" --iak "$work/iak.pem" --nonce $N32 "$work/tt"
{ cat "$work/t1"; printf '\0'; } >"$work/tt"
expect 1 "trailing bytes after the token" "$MOLT" attest verify --iak "$work/iak.pem" --nonce $N32 "$work/tt"
tail -c +2 "$work/t1" >"$work/tt"   # the same array without tag 18
expect 1 "CBOR tag 18 missing" "$MOLT" attest verify --iak "$work/iak.pem" --nonce $N32 "$work/tt"

# usage and I/O errors: exit 2
expect 2 "usage" "$MOLT" attest verify --nonce $N32 "$work/t1"
expect 2 "no-such-token" "$MOLT" attest verify --iak "$work/iak.pem" --nonce $N32 "$work/no-such-token"
expect 2 "P-256" "$MOLT" attest verify --iak "$VECTORS/keys/sign-ed25519.pub.pem" --nonce $N32 "$work/t1"

# --- a staged image and a trial: both slots measured, the running one first ---
step "$MOLT" sim write -f "$D" --slot secondary "$NEW"
step "$MOLT" sim attest -f "$D" -k "$K" --nonce $N32 -o "$work/t2"
"$MOLT" attest verify --iak "$work/iak.pem" --nonce $N32 "$work/t2" --json >"$work/v2.json" 2>&1 || bad "verify t2"
got=$(jq_py "$work/v2.json" "' '.join(c['measurement_type']+'='+c['measurement_value']+'@'+c['version'] for c in j['software_components'])")
[ "$got" = "App=$H_OLD@0.9.0+0 App-inactive=$H_NEW@1.2.3+4" ] && ok || bad "staged: $got"
seed1=$(jq_py "$work/v2.json" "j['boot_seed']"); seed0=$(jq_py "$work/v1.json" "j['boot_seed']")
[ "$seed1" = "$seed0" ] && ok || bad "boot seed changed without a reset"
step "$MOLT" sim request -f "$D"
step "$MOLT" sim boot -f "$D" -k "$K"                      # trial of 1.2.3+4
step "$MOLT" sim attest -f "$D" -k "$K" --nonce $N64 -o "$work/t3"
"$MOLT" attest verify --iak "$work/iak.pem" --nonce $N64 "$work/t3" --json >"$work/v3.json" 2>&1 || bad "verify t3"
got=$(jq_py "$work/v3.json" "' '.join(c['measurement_type']+'='+c['measurement_value']+'@'+c['version'] for c in j['software_components']), j['security_counter']")
[ "$got" = "App=$H_NEW@1.2.3+4 App-inactive=$H_OLD@0.9.0+0 1" ] && ok || bad "trial: $got"
seed3=$(jq_py "$work/v3.json" "j['boot_seed']")
[ "$seed3" != "$seed0" ] && [ ${#seed3} -eq 64 ] && ok || bad "boot seed not fresh after a reset: $seed3"
step "$MOLT" sim confirm -f "$D"
step "$MOLT" sim boot -f "$D" -k "$K"                      # confirmed: counter 5, 0.9.0 now below it
step "$MOLT" sim attest -f "$D" -k "$K" --nonce $N32 --client-id 7 -o "$work/t4"
"$MOLT" attest verify --iak "$work/iak.pem" --nonce $N32 "$work/t4" --json >"$work/v4.json" 2>&1 || bad "verify t4"
got=$(jq_py "$work/v4.json" "' '.join(c['measurement_type']+'@'+c['version'] for c in j['software_components']), j['security_counter'], j['client_id']")
[ "$got" = "App@1.2.3+4 5 7" ] && ok || bad "confirmed: $got (the rolled-back image must not be reported)"
step "${COSE[@]}" --iak "$work/iak.pem" --nonce $N32 "$work/t4"
expect 2 "--client-id" "$MOLT" sim attest -f "$D" -k "$K" --nonce $N32 --client-id 0

# --- a device file from before attestation (format 1) still loads, without a key ---
"$PYTHON" - "$D" "$work/v1.sim" <<'EOF' && ok || bad "could not build a format-1 file"
import struct, sys, zlib
d = bytearray(open(sys.argv[1], "rb").read())
AW = 1220                                     # format 4: the watchdog block last (ports/sim/sim_awdt.h)
assert d[-AW:-AW + 8] == b"MOLTAWDT" and d[-AW - 20:-AW - 12] == b"MOLTDATA"
d = d[:-(152 + 20 + AW)]                      # drop the key store, the data-area and the watchdog blocks
d[8:12] = struct.pack("<I", 1)
d[52:56] = struct.pack("<I", zlib.crc32(bytes(d[:52])) & 0xffffffff)
open(sys.argv[2], "wb").write(d)
EOF
step "$MOLT" sim state -f "$work/v1.sim" -k "$K"
expect 1 "no attestation key" "$MOLT" sim attest -f "$work/v1.sim" -k "$K" --nonce $N32
expect 2 "no attestation key" "$MOLT" sim iak -f "$work/v1.sim"
# the key store is not in the flash image: the private scalar appears only in the
# key-store block at the end of the device file (R-ASSETS)
"$PYTHON" - "$D" <<'EOF' && ok || bad "IAK private key found inside the flash image"
import struct, sys
d = open(sys.argv[1], "rb").read()
flen = struct.unpack("<I", d[48:52])[0]
ks = d[56 + flen:56 + flen + 152]
assert ks[:8] == b"MOLTKEYS" and len(d) == 56 + flen + 152 + 20 + 1220 and d[-1220:-1212] == b"MOLTAWDT", "key store block"
priv = ks[16:48]
assert d.find(priv) == 56 + flen + 16 and d.find(priv, 56 + flen + 17) == -1
EOF

summary
