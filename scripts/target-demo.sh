#!/usr/bin/env bash
# target-demo.sh [--short] MOLT_CLI OUT_DIR - molt's boot stage and the PSA FWU sample
# application on QEMU's mps2-an386 (Cortex-M4) and mps2-an505 (Cortex-M33).
#
# For each board: cross-build ports/mps2 (arm-none-eabi-gcc, Mbed TLS 3.6 with p256-m; the
# boot stage run is the port's default, boot-direct.elf: SHA-256 and p256-m without PSA,
# SHA-256 unrolled, LTO, no bench instrumentation),
# make a signing key, sign the application v1, v2 (security counter 2), v3 (counter 3,
# built with a failing health check), a rollback image (1.0.1, counter 1), a tampered v2
# a v2 signed by an untrusted key, and an encrypted v2.1 for a second device whose boot
# stage decrypts (CRYPTO=enc); provision the flash file with v1 and the key
# (ports/mps2/mkflash.py); then run QEMU once per update cycle (each run is a power
# cycle; the flash file persists, resets inside a run are SYSRESETREQ). Every run's
# console transcript must be exactly the expected one (instruction counts and stack
# figures masked); the script ends with a table and exits 0 only if every row is ok.
# --short: the four cycles of the acceptance (factory boot, v2 accepted, v3 reverted,
# rollback refused), as CTest's target_mps2 runs them.
set -uo pipefail
short=0
[ "${1:-}" = "--short" ] && { short=1; shift; }
molt=${1:?usage: scripts/target-demo.sh [--short] MOLT_CLI OUT_DIR}
out=${2:?usage: scripts/target-demo.sh [--short] MOLT_CLI OUT_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
molt=$(cd "$(dirname "$molt")" && pwd)/$(basename "$molt")
mkdir -p "$out" && out=$(cd "$out" && pwd)
command -v qemu-system-arm >/dev/null || { echo "target-demo: qemu-system-arm not installed (scripts/deps.sh)" >&2; exit 2; }

rows=(); failures=0
record() { # board step observed verdict
  rows+=("$(printf '%-11s %-42s %-48s %s' "$1" "$2" "$3" "$4")")
  [ "$4" = ok ] || failures=$((failures + 1))
}

qemu() { # board: one power cycle, transcript on stdout
  timeout 60 qemu-system-arm -M "mps2-$1" -icount shift=0 -display none -monitor none -serial stdio \
    -semihosting-config enable=on,target=native -kernel "$bdir/${kernel:-boot-direct.elf}" </dev/null
}

cycle() { # board step update-file|- expected-transcript
  local board=$1 step=$2 upd=$3 want=$4 got rc
  rm -f update.img
  [ "$upd" = - ] || cp "$upd" update.img
  got=$(qemu "$board" 2>&1); rc=$?
  printf '%s\n' "$got" | sed 's/^/    /'
  local norm; norm=$(sed -E 's/ insns=[0-9]+ stack=[0-9]+( heap=[0-9]+)?//' <<<"$got")
  local last; last=$(grep '^molt-app:' <<<"$got" | tail -n 1 | sed -E 's/^molt-app: v[0-9]+ //')
  if [ $rc -eq 0 ] && [ "$norm" = "$want" ]; then
    record "$board" "$step" "$last" ok
  else
    record "$board" "$step" "$last (exit $rc)" UNEXPECTED
    printf '  expected:\n%s\n' "$(sed 's/^/    /' <<<"$want")"
  fi
}

for board in an386 an505; do
  printf '\n\033[1m== %s: build the boot stage and the application\033[0m\n' "$board"
  bdir=$out/$board
  nice make -s -C "$top/ports/mps2" BOARD="$board" O="$bdir" -j2 || { record "$board" build "make failed" UNEXPECTED; continue; }
  arm-none-eabi-size "$bdir/boot-direct.elf" | sed "s|$bdir/||"
  work=$bdir/demo; rm -rf "$work"; mkdir -p "$work"; cd "$work" || exit 2
  "$molt" keygen -t ecdsa-p256 -k vendor.pem && "$molt" getpub -k vendor.pem -e raw -o vendor.der || exit 2
  "$molt" keygen -t ecdsa-p256 -k rogue.pem || exit 2
  sign() { "$molt" sign -k "$1" -v "$2" -s "$3" -H 0x200 --pad-header -S 0x48000 --align 8 "$4" "$5" || exit 2; }
  sign vendor.pem 1.0.0 1 "$bdir/app-v1.bin" v1.img
  sign vendor.pem 2.0.0 2 "$bdir/app-v2.bin" v2.img
  sign vendor.pem 3.0.0 3 "$bdir/app-v3.bin" v3.img
  sign vendor.pem 1.0.1 1 "$bdir/app-v1.bin" rollback.img
  sign rogue.pem 2.0.1 2 "$bdir/app-v2.bin" rogue.img
  cp v2.img tampered.img
  printf '\x01' | dd of=tampered.img bs=1 seek=$((0x200 + 1000)) conv=notrunc status=none # one payload byte
  python3 "$top/ports/mps2/mkflash.py" flash.bin --key vendor.der --primary v1.img || exit 2
  B="mps2-$board"

  printf '\n\033[1m== %s: factory boot (v1 provisioned, counter 0)\033[0m\n' "$board"
  cycle "$board" "factory boot: v1 runs" - "molt-boot: $B action=boot version=1.0.0 trial=0 counter=1 staged=0
molt-app: v1 running version=1.0.0 state=READY
molt-app: v1 state=READY nothing offered"

  printf '\n\033[1m== %s: v2 downloaded, installed, trial, health check, accepted\033[0m\n' "$board"
  cycle "$board" "v2: trial, healthy, accepted" v2.img "molt-boot: $B action=boot version=1.0.0 trial=0 counter=1 staged=0
molt-app: v1 running version=1.0.0 state=READY
molt-app: v1 downloading update.img
molt-app: v1 installed, trial at next reset
molt-app: v1 rebooting
molt-boot: $B action=upgrade-test version=2.0.0 trial=1 counter=1 staged=0
molt-app: v2 running version=2.0.0 state=TRIAL
molt-app: v2 health check passed, accepted"

  printf '\n\033[1m== %s: v3 fails its health check and is reverted\033[0m\n' "$board"
  cycle "$board" "v3: health check fails, reverted" v3.img "molt-boot: $B action=boot version=2.0.0 trial=0 counter=2 staged=0
molt-app: v2 running version=2.0.0 state=UPDATED
molt-app: v2 downloading update.img
molt-app: v2 installed, trial at next reset
molt-app: v2 rebooting
molt-boot: $B action=upgrade-test version=3.0.0 trial=1 counter=2 staged=0
molt-app: v3 running version=3.0.0 state=TRIAL
molt-app: v3 health check failed, rejecting
molt-app: v3 rebooting
molt-boot: $B action=revert version=2.0.0 trial=0 counter=2 staged=0
molt-app: v2 running version=2.0.0 state=FAILED
molt-app: v2 previous update failed reason=HEALTH_FAILED"

  printf '\n\033[1m== %s: a rollback image (1.0.1, security counter 1 < 2) is refused\033[0m\n' "$board"
  cycle "$board" "rollback image refused" rollback.img "molt-boot: $B action=boot version=2.0.0 trial=0 counter=2 staged=0
molt-app: v2 running version=2.0.0 state=READY
molt-app: v2 downloading update.img
molt-app: v2 refused status=-133 reason=ROLLBACK"

  if [ $short -eq 0 ]; then
    printf '\n\033[1m== %s: a tampered v2 (one payload byte) is refused\033[0m\n' "$board"
    cycle "$board" "tampered image refused" tampered.img "molt-boot: $B action=boot version=2.0.0 trial=0 counter=2 staged=0
molt-app: v2 running version=2.0.0 state=READY
molt-app: v2 downloading update.img
molt-app: v2 refused status=-149 reason=HASH_MISMATCH"

    printf '\n\033[1m== %s: an image signed by an untrusted key is refused\033[0m\n' "$board"
    cycle "$board" "untrusted signer refused" rogue.img "molt-boot: $B action=boot version=2.0.0 trial=0 counter=2 staged=0
molt-app: v2 running version=2.0.0 state=READY
molt-app: v2 downloading update.img
molt-app: v2 refused status=-149 reason=KEY_UNTRUSTED"

    printf '\n\033[1m== %s: an encrypted v2.1 (ENC_EC256) staged for the boot stage built with decryption\033[0m\n' "$board"
    # A separate device: the boot stage of CRYPTO=enc with its P-256 device key; the image is
    # decrypted into PRIMARY during the swap, and the application (plaintext) runs its trial.
    nice make -s -C "$top/ports/mps2" BOARD="$board" O="$bdir" CRYPTO=enc -j2 || record "$board" build-enc "make failed" UNEXPECTED
    "$molt" keygen -t ecdsa-p256 -k device.pem && "$molt" getpub -k device.pem -e pem -o device.pub || exit 2
    "$molt" sign -k vendor.pem -v 2.1.0 -s 2 -H 0x200 --pad-header -S 0x48000 --align 8 --pad -E device.pub \
      "$bdir/app-v2.bin" v21enc.img || exit 2
    if cmp -s <(tail -c +$((0x200 + 1)) v21enc.img | head -c 1024) <(head -c 1024 "$bdir/app-v2.bin"); then
      record "$board" "encrypted image" "payload is plaintext" UNEXPECTED
    fi
    cp flash.bin flash-main.bin
    python3 "$top/ports/mps2/mkflash.py" flash.bin --key vendor.der --primary v2.img --staged v21enc.img \
      --device-key device.pem || exit 2
    kernel=boot-enc.elf cycle "$board" "encrypted v2.1 decrypted, trial accepted" - "molt-boot: $B action=upgrade-test version=2.1.0 trial=1 counter=0 staged=0
molt-app: v2 running version=2.1.0 state=TRIAL
molt-app: v2 health check passed, accepted"
    mv flash-main.bin flash.bin

    printf '\n\033[1m== %s: power cycle: v2 still runs, counter 2\033[0m\n' "$board"
    cycle "$board" "power cycle: v2, counter 2" - "molt-boot: $B action=boot version=2.0.0 trial=0 counter=2 staged=0
molt-app: v2 running version=2.0.0 state=READY
molt-app: v2 state=READY nothing offered"
  fi
done

printf '\n\033[1m== Outcomes\033[0m\n'
printf '%-11s %-42s %-48s %s\n' board step "observed (last application line)" verdict
printf '%s\n' "${rows[@]}"
[ $failures -eq 0 ] && { echo "target-demo: all ${#rows[@]} outcomes as expected"; exit 0; }
echo "target-demo: $failures unexpected outcome(s)" >&2
exit 1
