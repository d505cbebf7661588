#!/usr/bin/env bash
# portability.sh - lib/ is freestanding C11 and builds warning-free everywhere.
#
# Compiles every lib/*.c with gcc and clang (host, -std=c11 -pedantic) and with
# arm-none-eabi-gcc for Cortex-M33 (-ffreestanding), all with -Werror, then checks
# the Cortex-M33 objects' undefined symbols against an allow-list: PSA Crypto,
# libsodium, the four mem* functions and compiler helpers. Anything else
# (malloc, printf, stdio, time, ...) fails the test.
set -euo pipefail
src=${MOLT_SRC:?}; deps=${MOLT_DEPS:?}
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT

# Only the sodium headers, not the whole host include tree, for the cross build.
mkdir -p "$work/inc"
ln -s "$(pkg-config --variable=includedir libsodium)/sodium" "$work/inc/sodium"

warn=(-Wall -Wextra -Werror -Wshadow -Wstrict-prototypes -Wmissing-prototypes -Wconversion
      -Wno-sign-conversion -Wundef -Wcast-align)
inc=(-I"$src/include" -I"$src/lib" -I"$deps/mbedtls/include" -I"$work/inc")
fail=0; n=0

build() { # name compiler flags...
  local name=$1 cc=$2; shift 2
  mkdir -p "$work/$name"
  for f in "$src"/lib/*.c; do
    n=$((n + 1))
    if ! "$cc" -std=c11 "${warn[@]}" "${inc[@]}" "$@" -c "$f" -o "$work/$name/$(basename "$f" .c).o" 2>"$work/err"; then
      echo "FAIL $name: $(basename "$f")"; cat "$work/err"; fail=$((fail + 1))
    fi
  done
}

build gcc gcc -pedantic -O2
build clang clang -pedantic -O2
build m33 arm-none-eabi-gcc -mcpu=cortex-m33 -mthumb -mfloat-abi=soft -ffreestanding -Os \
      -ffunction-sections -fdata-sections

# Undefined symbols of lib/ as a whole (one relocatable object, as a linker sees it).
arm-none-eabi-ld -r -o "$work/libmolt-m33.o" "$work"/m33/*.o
allowed='^(psa_[a-z0-9_]+|crypto_[a-z0-9_]+|sodium_[a-z0-9_]+|memcpy|memset|memcmp|memmove|__aeabi_[a-z0-9_]+)$'
undef=$(arm-none-eabi-nm -u "$work/libmolt-m33.o" | awk 'NF == 2 { print $2 }' | sort -u)
bad=$(grep -Ev "$allowed" <<<"$undef" || true)
n=$((n + 1))
if [ -n "$bad" ]; then
  echo "FAIL m33: undefined symbols outside the allow-list:"; echo "$bad"; fail=$((fail + 1))
fi
for sym in malloc calloc realloc free printf puts fopen abort; do
  n=$((n + 1))
  if grep -qx "$sym" <<<"$undef"; then echo "FAIL m33: lib/ references $sym"; fail=$((fail + 1)); fi
done
echo "Cortex-M33 undefined symbols: $(wc -l <<<"$undef") ($(grep -c '^psa_' <<<"$undef") psa_*, $(grep -c '^crypto_' <<<"$undef") crypto_*, others: $(grep -Ev '^(psa_|crypto_)' <<<"$undef" | tr '\n' ' '))"
arm-none-eabi-size -t "$work"/m33/*.o | tail -n 1 | awk '{ printf "Cortex-M33 lib/ size (-Os, before gc): text %d, data %d, bss %d bytes\n", $1, $2, $3 }'
echo "$((n - fail)) passed, $fail failed"
[ "$fail" -eq 0 ]
