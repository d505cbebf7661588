#!/usr/bin/env bash
# bench.sh BUILD_DIR - print molt's benchmark figures (never pass/fail on time).
#   1. Instructions per image verification (callgrind, x86-64 host, minus the
#      program's own start-up measured by a --baseline run), per algorithm.
#   2. Flash cost of one activation per boot mode (bench_activation over the
#      NOR flash simulator) for N = 8, 64 and 256 sectors of 4 KiB.
#   3. Flash cost of a download through the PSA Firmware Update API (bench_fwu),
#      and of record writes and one data-preserving upgrade (bench_store).
#   4. The boot stage on Cortex-M (bench/mps2.sh, ports/mps2 on QEMU): linked flash and RAM
#      per configuration split molt / crypto, instructions to verify and boot 256 KiB, stack.
#   4. moltd's DDI poll throughput on SQLite and PostgreSQL (scripts/bench-moltd.sh).
#   5. The dashboard's fleet page at 10,000 devices in chromium (scripts/bench-web.sh).
#   6. One campaign to a simulated fleet on SQLite and on two PostgreSQL instances (scripts/bench-fleet.sh).
set -euo pipefail
build=${1:?usage: scripts/bench.sh BUILD_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
vec=$top/tests/vectors/imgtool
bin=$build/bench/bench_verify
command -v valgrind >/dev/null || { echo "bench: valgrind is needed (scripts/deps.sh installs it)" >&2; exit 2; }

instr() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null | awk '/Collected/ { print $NF }'; }

echo "== verification cost (x86-64 instructions, callgrind; one molt_verify call) =="
printf '%-46s %-16s %8s %7s %14s\n' image algorithm bytes reads instructions
while read -r img key alg; do
  base=$(instr "$bin" --baseline "$vec/$img" "$vec/keys/$key.pub.der")
  total=$(instr "$bin" "$vec/$img" "$vec/keys/$key.pub.der")
  line=$("$bin" "$vec/$img" "$vec/keys/$key.pub.der")
  size=$(sed -E 's/.*image ([0-9]+) bytes.*/\1/' <<<"$line"); reads=$(sed -E 's/.*, ([0-9]+) reads.*/\1/' <<<"$line")
  printf '%-46s %-16s %8s %7s %14s\n' "$(basename "$img")" "$alg" "$size" "$reads" "$((total - base))"
done <<'LIST'
images/p02_ecdsa_p256.bin sign-ecdsa-p256 ecdsa-p256
images/p07_ecdsa_p256_large_seccnt_auto.bin sign-ecdsa-p256 ecdsa-p256
images/p19_ecdsa_p384_pad_align16.bin sign-ecdsa-p384 ecdsa-p384
images/p08_ed25519.bin sign-ed25519 ed25519
images/p10_ed25519_sha512.bin sign-ed25519 ed25519/sha512
images/p11_ed25519_pure.bin sign-ed25519 ed25519-pure
images/p17_rsa2048.bin sign-rsa-2048 rsa-2048-pss
LIST

echo
echo "== activation cost (flash operations per update and per revert; simulated NOR flash) =="
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
key=$vec/keys/sign-ecdsa-p256
pairs=()
for n in 8 64 256; do
  # Payloads that fill N sectors with the header and TLVs; random so no sector is blank.
  for v in 1 2; do
    head -c $((n * 4096 - 1024)) /dev/urandom >"$work/p$n-$v.raw"
    "$build/bin/molt" sign -k "$key.pem" -v "$v.0.0" -s "$v" -H 0x200 --pad-header --align 8 \
      -S $(((n + 2) * 4096)) "$work/p$n-$v.raw" "$work/p$n-$v.bin" >/dev/null
  done
  pairs+=("$work/p$n-1.bin" "$work/p$n-2.bin")
done
"$build/bench/bench_activation" "$key.pub.der" "${pairs[@]}"

echo
echo "== download cost through the PSA Firmware Update API (simulated NOR flash) =="
"$build/bench/bench_fwu"

echo
echo "== record store and data-preserving upgrade (R-KEEPDATA; simulated NOR flash) =="
"$build/bench/bench_store"

echo
echo "== authenticated watchdog: the blocking attacker's delay (R-AVAIL; simulated device time) =="
"$build/bench/bench_awdt"

echo
"$top/bench/mps2.sh" "$build/bin/molt" "$build/mps2-bench"

echo
echo "== attestation token (size; host time per token: signature vs. measuring + encoding) =="
"$build/bench/bench_attest" "$vec/keys/sign-ecdsa-p256.pub.der" "$vec/images/p24_ecdsa_p256_rollback_low.bin" \
  "$vec/images/p03_ecdsa_p256_seccnt.bin"

echo
"$top/scripts/bench-moltd.sh" "$build" sqlite
echo
"$top/scripts/bench-moltd.sh" "$build" postgresql
echo
"$top/scripts/bench-moltd-enc.sh" "$build" sqlite
echo
"$top/scripts/bench-moltd-enc.sh" "$build" postgresql
echo
"$top/scripts/bench-moltd-swu.sh" "$build"
echo
"$top/scripts/bench-web.sh" "$build"
echo
# One campaign to a simulated fleet (bench/bench_fleet): FLEET_DEVICES (default 1000) devices
# polling every FLEET_POLL seconds (default 60); docs/bench.md has the 10,000-device runs.
"$top/scripts/bench-fleet.sh" "$build" sqlite "${FLEET_DEVICES:-1000}" 1 "${FLEET_POLL:-60}"
echo
"$top/scripts/bench-fleet.sh" "$build" postgresql "${FLEET_DEVICES:-1000}" 2 "${FLEET_POLL:-60}"
