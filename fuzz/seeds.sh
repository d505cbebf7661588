#!/usr/bin/env bash
# seeds.sh - (re)write every seed corpus in fuzz/corpus/ (docs/fuzzing.md).
#   verify, inspect: the imgtool vectors (tests/vectors/imgtool);
#   envelope: envelopes made by `molt envelope make` for the vectors' device keys;
#   attest, fwu, moltd: fuzz/seeds.py.
# Usage: fuzz/seeds.sh MOLT   (MOLT: the molt CLI binary, e.g. build/release/bin/molt)
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
molt=${1:?usage: fuzz/seeds.sh path/to/molt}
V=$top/tests/vectors/imgtool
C=$top/fuzz/corpus
mkdir -p "$C"/{verify,inspect,envelope}
cp "$V"/images/*.bin "$V"/negative/*.bin "$C/verify/"
for f in "$V"/images/p0[1-4]* "$V"/images/p1[0-2]* "$V"/images/p2[0-3]* "$V"/negative/n0*; do cp "$f" "$C/inspect/"; done
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
# key of image (MANIFEST.tsv aes_content_key), device key: one envelope each.
while IFS=$'\t' read -r file key dev; do
  python3 -c 'import sys; sys.stdout.buffer.write(bytes.fromhex(sys.argv[1]))' "$key" > "$tmp/k"
  "$molt" envelope make --content-key "$tmp/k" --device "$V/keys/$dev.pub.pem" --image "$V/$file" -o "$tmp/e" >/dev/null
  cp "$tmp/e" "$C/envelope/$(basename "$file" .bin)-$dev"
  { printf 'x'; cat "$tmp/e"; } > "$C/envelope/fixed-$(basename "$file" .bin)-$dev"  # binding from the fixed digest
done <<'LIST'
images/p12_ed25519_enc_x25519_aes128.bin	16f43ebedf0c92a18fa4be60e95e094d	enc-x25519
images/p13_ed25519_enc_x25519_aes256.bin	ca3dfc7f9b469e04d4cf9b80dbaecde089bffab9ffe8d026ca7b5bcdf81adb0e	enc-x25519
images/p14_ed25519_enc_x25519_hmacsha512_aes256.bin	6da4627cf748f05e90a346b81fef5e6a21273be5c8af8f059003c6747c810593	enc-ecdsa-p256
images/p15_ecdsa_p256_enc_ec256_aes128_pad.bin	7cba94fa05e0d57060cef761ef2ae4b7	enc-ecdsa-p256
LIST
python3 "$top/fuzz/seeds.py" "$C"
