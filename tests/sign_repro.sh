#!/usr/bin/env bash
# sign_repro.sh - `molt sign` reproduces imgtool's images from the vector set.
#
# For every image in MANIFEST.tsv that is not encrypted, run `molt sign` with the
# manifest's imgtool_options (paths relative to $VECTORS, payload from payloads/):
#   - Ed25519 and unsigned images are deterministic: the output must be
#     byte-identical to imgtool's (cmp).
#   - ECDSA and RSA-PSS signatures are randomized: everything else must match
#     byte for byte - header, payload, protected TLVs, every unprotected TLV but
#     the signature, padding and trailer - and the signature must verify over
#     the image digest with `openssl pkeyutl` and the signer's public key.
#
# Environment: MOLT (the molt binary), VECTORS (tests/vectors/imgtool).
# Prints "reproduced: N/N byte-identical" and "layout: N/N ..."; exits 1 on
# any difference.
set -euo pipefail

: "${MOLT:?MOLT must name the molt binary}"
: "${VECTORS:?VECTORS must name tests/vectors/imgtool}"
case $MOLT in /*) ;; */*) MOLT=$PWD/$MOLT ;; esac   # molt runs from inside $VECTORS
VECTORS=$(cd "$VECTORS" && pwd)

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }

# Little-endian integers and byte ranges of a file.
u16() { local b; read -ra b < <(od -An -tu1 -j "$2" -N2 "$1"); echo $((b[0] | b[1] << 8)); }
u32() {
    local b; read -ra b < <(od -An -tu1 -j "$2" -N4 "$1")
    echo $((b[0] | b[1] << 8 | b[2] << 16 | b[3] << 24))
}
bytes() { tail -c +$(($2 + 1)) "$1" | head -c "$3"; }   # file offset length

# Print "type offset length" for each unprotected TLV of an image.
unprot_tlvs() {
    local f=$1 un tot off end type len
    un=$(($(u16 "$f" 8) + $(u32 "$f" 12) + $(u16 "$f" 10)))
    [ "$(u16 "$f" "$un")" -eq $((0x6907)) ] || { echo "bad"; return; }
    tot=$(u16 "$f" $((un + 2)))
    off=$((un + 4)); end=$((un + tot))
    while [ "$off" -lt "$end" ]; do
        type=$(u16 "$f" "$off"); len=$(u16 "$f" $((off + 2)))
        echo "$type $((off + 4)) $len"
        off=$((off + 4 + len))
    done
    echo "end $end 0"
}

# Check an ECDSA/RSA signature over the digest with openssl.
openssl_verify() {   # type pubkey.pem digest.bin sig.bin
    local opts=()
    if [ "$1" -eq $((0x20)) ] || [ "$1" -eq $((0x23)) ]; then
        opts=(-pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:32
              -pkeyopt digest:sha256 -pkeyopt rsa_mgf1_md:sha256)
    fi
    openssl pkeyutl -verify -pubin -inkey "$2" -in "$3" -sigfile "$4" "${opts[@]}" </dev/null >/dev/null 2>&1
}

# Compare got with want, except the signature TLV value; verify the signature.
same_but_signature() {   # got want pubkey.pem
    local got=$1 want=$2 pub=$3 hashed a b i
    hashed=$(($(u16 "$want" 8) + $(u32 "$want" 12) + $(u16 "$want" 10)))
    cmp -s -n "$hashed" "$got" "$want" || { echo "header/payload/protected TLVs differ"; return 1; }
    mapfile -t a < <(unprot_tlvs "$got")
    mapfile -t b < <(unprot_tlvs "$want")
    [ "${a[0]}" != bad ] || { echo "no unprotected TLV area"; return 1; }
    [ "${#a[@]}" -eq "${#b[@]}" ] || { echo "unprotected TLV count differs"; return 1; }
    local digest_tlv="" sig_tlv=""
    for ((i = 0; i < ${#a[@]}; i++)); do
        read -r ta oa la <<<"${a[i]}"; read -r tb ob lb <<<"${b[i]}"
        [ "$ta" = "$tb" ] || { echo "TLV $i: type $ta, imgtool has $tb"; return 1; }
        case $ta in
        end) ;;
        32 | 34 | 35 | 36) sig_tlv="$ta $oa $la" ;;   # 0x20 0x22 0x23 0x24: compare by verifying
        *)  [ "$la" = "$lb" ] && cmp -s <(bytes "$got" "$oa" "$la") <(bytes "$want" "$ob" "$lb") ||
                { echo "TLV type $ta differs"; return 1; }
            case $ta in 16 | 17 | 18) digest_tlv="$oa $la" ;; esac ;;
        esac
    done
    [ -n "$sig_tlv" ] && [ -n "$digest_tlv" ] || { echo "no signature or hash TLV"; return 1; }
    # Whatever follows the TLVs (padding, trailer) must match, aligned to the end.
    local size got_size end_a end_b tail_n
    size=$(stat -c %s "$want"); got_size=$(stat -c %s "$got")
    read -r _ end_a _ <<<"${a[-1]}"; read -r _ end_b _ <<<"${b[-1]}"
    if [ "$size" -gt "$end_b" ]; then
        [ "$got_size" -eq "$size" ] || { echo "padded size $got_size, imgtool's is $size"; return 1; }
        tail_n=$((size - (end_a > end_b ? end_a : end_b)))
        cmp -s <(tail -c "$tail_n" "$got") <(tail -c "$tail_n" "$want") ||
            { echo "padding/trailer differs"; return 1; }
        # The few bytes before that (a shorter signature) must be erased padding.
        [ -z "$(bytes "$got" "$end_a" $((size - tail_n - end_a)) | tr -d '\377')" ] ||
            { echo "padding after the TLVs is not 0xff"; return 1; }
    else
        [ "$got_size" -eq "$end_a" ] || { echo "bytes after the TLVs"; return 1; }
    fi
    read -r st so sl <<<"$sig_tlv"; read -r doff dlen <<<"$digest_tlv"
    bytes "$got" "$doff" "$dlen" >"$T/digest.bin"
    bytes "$got" "$so" "$sl" >"$T/sig.bin"
    openssl_verify "$st" "$pub" "$T/digest.bin" "$T/sig.bin" ||
        { echo "signature does not verify"; return 1; }
}

exact_total=0 exact_ok=0 layout_total=0 layout_ok=0
while IFS=$'\t' read -r file _ _ _ sig_key enc_key options payload _; do
    [[ $file == images/* ]] && [ "$enc_key" = "-" ] || continue
    eval "opts=($options)"   # the manifest quotes arguments like a shell would
    got=$T/$(basename "$file")
    if ! (cd "$VECTORS" && "$MOLT" sign "${opts[@]}" "payloads/$payload" "$got" </dev/null); then
        bad "$file: molt sign failed (options: $options)"
        [[ $sig_key == *ed25519* || $sig_key == - ]] && exact_total=$((exact_total + 1)) ||
            layout_total=$((layout_total + 1))
        continue
    fi
    if [[ $sig_key == *ed25519* || $sig_key == - ]]; then
        exact_total=$((exact_total + 1))
        if cmp -s "$got" "$VECTORS/$file"; then
            exact_ok=$((exact_ok + 1))
        else
            bad "$file: not byte-identical"
        fi
    else
        layout_total=$((layout_total + 1))
        if why=$(same_but_signature "$got" "$VECTORS/$file" "$VECTORS/keys/$sig_key.pub.pem"); then
            layout_ok=$((layout_ok + 1))
        else
            bad "$file: $why"
        fi
    fi
done <"$VECTORS/MANIFEST.tsv"

echo "reproduced: $exact_ok/$exact_total byte-identical"
echo "layout: $layout_ok/$layout_total identical except the ECDSA/RSA signature, which verifies with openssl"
[ "$exact_total" -gt 0 ] && [ "$layout_total" -gt 0 ] || bad "no vectors found in $VECTORS/MANIFEST.tsv"
exit "$fail"
