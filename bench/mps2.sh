#!/usr/bin/env bash
# bench/mps2.sh MOLT_CLI OUT_DIR - linked footprint and boot cost of molt's boot stage on
# Cortex-M (ports/mps2 on QEMU: mps2-an385 Cortex-M3, mps2-an386 Cortex-M4, mps2-an505
# Cortex-M33). Prints figures; never passes or fails on them (docs/bench.md).
#   1. Linked flash (.vectors + .text + .rodata + .data) and RAM (.data + .bss) of the boot
#      stage after --gc-sections, split molt / crypto / port / libc (bench/mps2_size.py),
#      per configuration: ECDSA-P256 + swap through PSA (the port's default); the same with
#      SHA-256 and p256-m called directly (ports/mps2/crypto_direct.c, no PSA); + decryption
#      (ENC_EC256, AES-CTR); Ed25519 instead of ECDSA (libsodium's verify, cross-built from
#      the source scripts/deps.sh fetches; SODIUM=dir to name another); remap and overwrite
#      (size only); SHA-256 unrolled.
#   2. 64-bit division: __aeabi_uldivmod / __aeabi_ldivmod in each boot-stage link map.
#   3. Instructions from reset to the jump for a 256 KiB image, at a boot with the boot record
#      in place (the first boot after provisioning also records the factory image: one more
#      verification, shown apart) (QEMU -icount shift=0: one
#      instruction = 1 ns of virtual time, read from CMSDK TIMER0), the painted stack peak,
#      and the heap, for the PSA and direct builds with both SHA-256 variants and the Ed25519
#      build; plus one encrypted 256 KiB activation (decrypting swap) with its heap.
#   4. The same boot's instructions per origin (molt / crypto / port / libc) and the top
#      functions, from QEMU's translation-block trace (bench/mps2_profile.py).
set -uo pipefail
molt=${1:?usage: bench/mps2.sh MOLT_CLI OUT_DIR}
out=${2:?usage: bench/mps2.sh MOLT_CLI OUT_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
molt=$(cd "$(dirname "$molt")" && pwd)/$(basename "$molt")
mkdir -p "$out" && out=$(cd "$out" && pwd)
size=$top/bench/mps2_size.py
boards="an385 an386 an505"
cpu() { case $1 in an385) echo M3;; an386) echo M4;; an505) echo M33;; esac; }

for b in $boards; do
  nice make -s -C "$top/ports/mps2" BOARD=$b O="$out/$b" -j2 >/dev/null || exit 2
  # Ed25519 (libsodium's verify) when its source is there (scripts/deps.sh, or SODIUM=dir).
  if [ -n "${SODIUM:-}" ] || compgen -G "$top/build/deps/src/libsodium-1.0.*" >/dev/null; then
    nice make -s -C "$top/ports/mps2" BOARD=$b O="$out/$b" -j2 ed25519 >/dev/null || exit 2
  fi
  nice make -s -C "$top/ports/mps2" BOARD=$b O="$out/$b" CRYPTO=enc -j2 >/dev/null || exit 2
  nice make -s -C "$top/ports/mps2" BOARD=$b O="$out/$b-shafast" SHA=fast -j2 >/dev/null || exit 2
done

echo "== boot stage, linked (arm-none-eabi-gcc 12 -Os, --gc-sections, Mbed TLS 3.6 p256-m), bytes =="
printf '%-44s %-4s %6s %6s %6s %6s %7s %6s\n' configuration core molt crypto port libc flash RAM
row() { # label board map
  local f r; f=$(python3 "$size" "$3" | sed -n 1p); r=$(python3 "$size" "$3" | sed -n 2p)
  get() { sed -E "s/.* $1=([0-9]+).*/\1/" <<<"$2"; }
  printf '%-44s %-4s %6s %6s %6s %6s %7s %6s\n' "$1" "$(cpu "$2")" "$(get molt "$f")" "$(get crypto "$f")" \
    "$(get port "$f")" "$(get libc "$f")" "$(get total "$f")" "$(get total "$r")"
}
for b in $boards; do
  row "ECDSA-P256 + swap (PSA)" $b "$out/$b/boot.map"
  row "ECDSA-P256 + swap, no PSA (crypto_direct)" $b "$out/$b/boot-direct.map"
  row "  SHA-256 unrolled, PSA" $b "$out/$b-shafast/boot.map"
  row "  SHA-256 unrolled, no PSA" $b "$out/$b-shafast/boot-direct.map"
  row "  + decryption (ENC_EC256, AES-CTR; PSA)" $b "$out/$b/boot-enc.map"
  [ -f "$out/$b/boot-ed25519.map" ] && row "  Ed25519 instead of ECDSA (libsodium, no PSA)" $b "$out/$b/boot-ed25519.map"
  row "  remap (A/B) instead of swap (PSA)" $b "$out/$b/boot-remap.map"
  row "  overwrite instead of swap (PSA)" $b "$out/$b/boot-overwrite.map"
done
echo "(RAM excludes the 8 KiB stack reserve; the painted peak is below. remap and overwrite are"
echo " linked for their size only: the demo runs swap. Ed25519 over the digest; PureEdDSA refused.)"
echo
echo "== 64-bit division on the boot path: __aeabi_uldivmod / __aeabi_ldivmod linked in (symbols) =="
for b in $boards; do
  for e in "$out/$b"/boot*.elf "$out/$b-shafast"/boot*.elf; do
    printf '  %-4s %-30s %s\n' "$(cpu $b)" "$(basename "$(dirname "$e")")/$(basename "$e")" \
      "$(arm-none-eabi-nm "$e" | grep -cE ' __aeabi_u?ldivmod$')"
  done
done
echo

echo "== verify + boot of a 256 KiB image (QEMU -icount shift=0; instructions, not cycles) =="
work=$out/bench-run; rm -rf "$work"; mkdir -p "$work"; cd "$work" || exit 2
"$molt" keygen -t ecdsa-p256 -k vendor.pem >/dev/null && "$molt" getpub -k vendor.pem -e raw -o vendor.der || exit 2
"$molt" keygen -t ecdsa-p256 -k device.pem >/dev/null && "$molt" getpub -k device.pem -e pem -o device.pub || exit 2
"$molt" keygen -t ed25519 -k ed.pem >/dev/null && "$molt" getpub -k ed.pem -e raw -o ed.der || exit 2
qrun() { # board elf -> the boot line
  timeout 120 qemu-system-arm -M "mps2-$1" -icount shift=0 -display none -monitor none -serial stdio \
    -semihosting-config enable=on,target=native -kernel "$2" "${@:3}" </dev/null >qemu.out 2>&1
  grep '^molt-boot:' qemu.out | head -n 1
}
field() { sed -nE "s/.* $1=([0-9]+).*/\1/p" <<<"$2"; }
printf '%-4s %-34s %12s %12s %8s %6s  %s\n' core case instructions "first boot" "stack B" "heap B" "boot line"
profiles=()
for b in $boards; do
  for v in "" -shafast; do for elf in boot boot-direct; do
    # The application padded to a 256 KiB payload (its vector table stays at the front).
    python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(d+bytes(262144-len(d)))' \
      "$out/$b/app-v1.bin" "payload-$b.bin"
    "$molt" sign -k vendor.pem -v 1.0.0 -s 1 -H 0x200 --pad-header -S 0x48000 --align 8 "payload-$b.bin" v1-$b.img || exit 2
    python3 "$top/ports/mps2/mkflash.py" flash.bin --key vendor.der --primary v1-$b.img || exit 2
    first=$(qrun $b "$out/$b$v/$elf.elf") # records the factory image (genesis: verified twice)
    line=$(qrun $b "$out/$b$v/$elf.elf")
    if [ -z "$v" ] && [ $elf = boot ]; then # where the instructions go (QEMU's block trace; 1 GB of log, deleted)
      qrun $b "$out/$b/boot.elf" -d in_asm,exec,nochain -D trace.log >/dev/null
      stop=0x20000; [ $b = an505 ] && stop=0x10020000 # PRIMARY: the jump into the application
      profiles+=("$(cpu $b): $(python3 "$top/bench/mps2_profile.py" trace.log "$out/$b/boot.elf" "$out/$b/boot.map" $stop)")
      rm -f trace.log
    fi
    label="$([ $elf = boot ] && echo PSA || echo no PSA), SHA-256 $([ -z "$v" ] && echo small || echo unrolled)"
    printf '%-4s %-34s %12s %12s %8s %6s  %s\n' "$(cpu $b)" "$label" "$(field insns "$line")" "$(field insns "$first")" \
      "$(field stack "$line")" 0 \
      "$(sed -E 's/ insns=.*//; s/^molt-boot: //' <<<"$line")"
  done; done
  if [ -f "$out/$b/boot-ed25519.elf" ]; then # the same payload signed with Ed25519 (over SHA-256)
    "$molt" sign -k ed.pem -v 1.0.0 -s 1 -H 0x200 --pad-header -S 0x48000 --align 8 "payload-$b.bin" ed-$b.img || exit 2
    python3 "$top/ports/mps2/mkflash.py" flash.bin --key ed.der --primary ed-$b.img || exit 2
    first=$(qrun $b "$out/$b/boot-ed25519.elf")
    line=$(qrun $b "$out/$b/boot-ed25519.elf")
    printf '%-4s %-34s %12s %12s %8s %6s  %s\n' "$(cpu $b)" "Ed25519 (libsodium), SHA-256 small" "$(field insns "$line")" \
      "$(field insns "$first")" "$(field stack "$line")" 0 "$(sed -E 's/ insns=.*//; s/^molt-boot: //' <<<"$line")"
  fi
  # An encrypted 256 KiB image staged for a trial: the boot stage verifies it (decrypting),
  # swaps it in (decrypting into PRIMARY, re-encrypting the old image on its way out), and
  # verifies PRIMARY before the jump.
  "$molt" sign -k vendor.pem -v 2.0.0 -s 2 -H 0x200 --pad-header -S 0x48000 --align 8 --pad -E device.pub \
    "payload-$b.bin" v2enc-$b.img || exit 2
  python3 "$top/ports/mps2/mkflash.py" flash.bin --key vendor.der --primary v1-$b.img --staged v2enc-$b.img \
    --device-key device.pem || exit 2
  line=$(qrun $b "$out/$b/boot-enc.elf")
  printf '%-4s %-34s %12s %12s %8s %6s  %s\n' "$(cpu $b)" "encrypted upgrade (first boot, swap)" "$(field insns "$line")" \
    - "$(field stack "$line")" "$(field heap "$line")" "$(sed -E 's/ insns=.*//; s/^molt-boot: //' <<<"$line")"
done
echo
echo "== where the instructions of verify + boot (256 KiB, SHA-256 small) go, per origin and function =="
printf '%s\n' "${profiles[@]}"
