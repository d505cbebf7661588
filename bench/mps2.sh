#!/usr/bin/env bash
# bench/mps2.sh MOLT_CLI OUT_DIR - linked footprint and boot cost of molt's boot stage on
# Cortex-M (ports/mps2 on QEMU: mps2-an385 Cortex-M3, mps2-an386 Cortex-M4, mps2-an505
# Cortex-M33). Prints figures; never passes or fails on them (docs/bench.md).
#   1. Linked flash (.vectors + .text + .rodata + .data) and RAM (.data + .bss) of the boot
#      stage, split molt / crypto / port / libc / other (bench/mps2_size.py: by object after
#      --gc-sections, by symbol after LTO), and the image's extent in flash, per
#      configuration, all in the product flavour (MEASURE=0: no instrumentation): ECDSA-P256
#      + swap with SHA-256 and p256-m called directly (ports/mps2/crypto_direct.c, no PSA),
#      SHA-256 unrolled, LTO - the port's default and the one meeting issue 17's targets;
#      the same without LTO, with the smaller SHA-256, and through PSA; + decryption
#      (ENC_EC256, AES-CTR); Ed25519 instead of ECDSA (libsodium's verify, cross-built from
#      the source scripts/deps.sh fetches; SODIUM=dir to name another); remap and overwrite
#      (size only).
#   2. 64-bit division: __aeabi_uldivmod / __aeabi_ldivmod in each boot-stage link map.
#   3. Instructions from reset to the jump for a 256 KiB image, at a boot with the boot record
#      in place (the first boot after provisioning also records the factory image: one more
#      verification, shown apart) (QEMU -icount shift=0: one
#      instruction = 1 ns of virtual time, read from CMSDK TIMER0), the painted stack peak,
#      and the heap, for the PSA and direct builds with both SHA-256 variants and the Ed25519
#      build; plus one encrypted 256 KiB activation (decrypting swap) with its heap. These
#      run the bench flavour (MEASURE=1: the same boot stage plus the timer, the stack
#      painting and their printing; the product flavour executes fewer instructions).
#   4. The same boot's instructions per origin (molt / crypto / port / libc) and the top
#      functions, from QEMU's translation-block trace (bench/mps2_profile.py), for the default
#      boot stage (boot-direct.elf).
set -uo pipefail
molt=${1:?usage: bench/mps2.sh MOLT_CLI OUT_DIR}
out=${2:?usage: bench/mps2.sh MOLT_CLI OUT_DIR}
top=$(cd "$(dirname "$0")/.." && pwd)
molt=$(cd "$(dirname "$molt")" && pwd)/$(basename "$molt")
mkdir -p "$out" && out=$(cd "$out" && pwd)
size=$top/bench/mps2_size.py
boards=${MPS2_BOARDS:-an385 an386 an505} # MPS2_BOARDS="an386" for one board
cpu() { case $1 in an385) echo M3;; an386) echo M4;; an505) echo M33;; esac; }

mk() { nice make -s -C "$top/ports/mps2" -j2 "$@" >/dev/null; }
for b in $boards; do
  for m in 0 1; do # the product flavour (sizes) and the bench flavour (instructions), same objects
    mk BOARD=$b O="$out/$b" MEASURE=$m || exit 2
    # Ed25519 (libsodium's verify) when its source is there (scripts/deps.sh, or SODIUM=dir).
    if [ -n "${SODIUM:-}" ] || compgen -G "$top/build/deps/src/libsodium-1.0.*" >/dev/null; then
      mk BOARD=$b O="$out/$b" MEASURE=$m ed25519 || exit 2
    fi
    mk BOARD=$b O="$out/$b" CRYPTO=enc MEASURE=$m || exit 2
    d=$out/$b-shasmall; [ $m = 1 ] && d=$d/measure
    mk BOARD=$b O="$out/$b-shasmall" SHA=small MEASURE=$m "$d/boot.elf" "$d/boot-direct.elf" || exit 2
  done
  mk BOARD=$b O="$out/$b-nolto" LTO=0 "$out/$b-nolto/boot-direct.elf" "$out/$b-nolto/boot.elf" || exit 2
done

echo "== boot stage, linked (arm-none-eabi-gcc 12 -Os, Mbed TLS 3.6 p256-m; product flavour), bytes =="
printf '%-46s %-4s %6s %6s %6s %5s %5s %6s %6s %5s\n' configuration core molt crypto port libc other flash image RAM
row() { # label board map
  local f r; f=$(python3 "$size" "$3" | sed -n 1p); r=$(python3 "$size" "$3" | sed -n 2p)
  get() { sed -E "s/.* $1=([0-9]+).*/\1/" <<<"$2"; }
  printf '%-46s %-4s %6s %6s %6s %5s %5s %6s %6s %5s\n' "$1" "$(cpu "$2")" "$(get molt "$f")" "$(get crypto "$f")" \
    "$(get port "$f")" "$(get libc "$f")" "$(get other "$f")" "$(get total "$f")" "$(get image "$f")" "$(get total "$r")"
}
for b in $boards; do
  row "ECDSA-P256 + swap, no PSA, SHA unrolled, LTO" $b "$out/$b/boot-direct.map"
  row "  the same without LTO" $b "$out/$b-nolto/boot-direct.map"
  row "  SHA-256 small (LTO)" $b "$out/$b-shasmall/boot-direct.map"
  row "  through PSA (LTO)" $b "$out/$b/boot.map"
  row "  through PSA, without LTO" $b "$out/$b-nolto/boot.map"
  row "  through PSA, SHA-256 small (LTO)" $b "$out/$b-shasmall/boot.map"
  row "  + decryption (ENC_EC256, AES-CTR; PSA)" $b "$out/$b/boot-enc.map"
  [ -f "$out/$b/boot-ed25519.map" ] && row "  Ed25519 instead of ECDSA (libsodium, no PSA)" $b "$out/$b/boot-ed25519.map"
  row "  remap (A/B) instead of swap (PSA)" $b "$out/$b/boot-remap.map"
  row "  overwrite instead of swap (PSA)" $b "$out/$b/boot-overwrite.map"
done
echo "(flash: the sum of the kept sections; image: first to last byte in flash, with padding. RAM"
echo " excludes the 8 KiB stack reserve; the painted peak is below. other: string literals and"
echo " padding LTO leaves unattributed. remap and overwrite are linked for their size only: the"
echo " demo runs swap. Ed25519 over the digest; PureEdDSA refused.)"
echo
echo "== 64-bit division on the boot path: __aeabi_uldivmod / __aeabi_ldivmod linked in (symbols) =="
for b in $boards; do
  for e in "$out/$b"/boot*.elf "$out/$b-shasmall"/boot*.elf "$out/$b-nolto"/boot*.elf; do
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
  for v in "" -shasmall; do for elf in boot-direct boot; do
    m=$out/$b$v/measure
    # The application padded to a 256 KiB payload (its vector table stays at the front).
    python3 -c 'import sys; d=open(sys.argv[1],"rb").read(); open(sys.argv[2],"wb").write(d+bytes(262144-len(d)))' \
      "$out/$b/app-v1.bin" "payload-$b.bin"
    "$molt" sign -k vendor.pem -v 1.0.0 -s 1 -H 0x200 --pad-header -S 0x48000 --align 8 "payload-$b.bin" v1-$b.img || exit 2
    python3 "$top/ports/mps2/mkflash.py" flash.bin --key vendor.der --primary v1-$b.img || exit 2
    first=$(qrun $b "$m/$elf.elf") # records the factory image (genesis: verified twice)
    line=$(qrun $b "$m/$elf.elf")
    if [ -z "$v" ] && [ $elf = boot-direct ]; then # where the instructions go (QEMU's block trace; 1 GB of log, deleted)
      qrun $b "$m/$elf.elf" -d in_asm,exec,nochain -D trace.log >/dev/null
      stop=0x20000; [ $b = an505 ] && stop=0x10020000 # PRIMARY: the jump into the application
      profiles+=("$(cpu $b): $(python3 "$top/bench/mps2_profile.py" trace.log "$m/$elf.elf" "$m/$elf.map" $stop)")
      rm -f trace.log
    fi
    label="$([ $elf = boot ] && echo PSA || echo no PSA), SHA-256 $([ -z "$v" ] && echo unrolled || echo small)"
    printf '%-4s %-34s %12s %12s %8s %6s  %s\n' "$(cpu $b)" "$label" "$(field insns "$line")" "$(field insns "$first")" \
      "$(field stack "$line")" 0 \
      "$(sed -E 's/ insns=.*//; s/^molt-boot: //' <<<"$line")"
  done; done
  if [ -f "$out/$b/boot-ed25519.elf" ]; then # the same payload signed with Ed25519 (over SHA-256)
    "$molt" sign -k ed.pem -v 1.0.0 -s 1 -H 0x200 --pad-header -S 0x48000 --align 8 "payload-$b.bin" ed-$b.img || exit 2
    python3 "$top/ports/mps2/mkflash.py" flash.bin --key ed.der --primary ed-$b.img || exit 2
    first=$(qrun $b "$out/$b/measure/boot-ed25519.elf")
    line=$(qrun $b "$out/$b/measure/boot-ed25519.elf")
    printf '%-4s %-34s %12s %12s %8s %6s  %s\n' "$(cpu $b)" "Ed25519 (libsodium), SHA unrolled" "$(field insns "$line")" \
      "$(field insns "$first")" "$(field stack "$line")" 0 "$(sed -E 's/ insns=.*//; s/^molt-boot: //' <<<"$line")"
  fi
  # An encrypted 256 KiB image staged for a trial: the boot stage verifies it (decrypting),
  # swaps it in (decrypting into PRIMARY, re-encrypting the old image on its way out), and
  # verifies PRIMARY before the jump.
  "$molt" sign -k vendor.pem -v 2.0.0 -s 2 -H 0x200 --pad-header -S 0x48000 --align 8 --pad -E device.pub \
    "payload-$b.bin" v2enc-$b.img || exit 2
  python3 "$top/ports/mps2/mkflash.py" flash.bin --key vendor.der --primary v1-$b.img --staged v2enc-$b.img \
    --device-key device.pem || exit 2
  line=$(qrun $b "$out/$b/measure/boot-enc.elf")
  printf '%-4s %-34s %12s %12s %8s %6s  %s\n' "$(cpu $b)" "encrypted upgrade (first boot, swap)" "$(field insns "$line")" \
    - "$(field stack "$line")" "$(field heap "$line")" "$(sed -E 's/ insns=.*//; s/^molt-boot: //' <<<"$line")"
done
echo
echo "== where the instructions of verify + boot (256 KiB, boot-direct.elf: no PSA, SHA-256 unrolled, LTO) go =="
printf '%s\n' "${profiles[@]}"
