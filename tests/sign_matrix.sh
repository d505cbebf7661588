#!/usr/bin/env bash
# sign_matrix.sh - `molt sign` across key types x imgtool options.
#
# For each signing key type (the vector keys sign-ecdsa-p256, sign-ecdsa-p384,
# sign-ed25519, sign-rsa-2048, plus an rsa-3072 key made with `molt keygen`)
# and a set of option combinations covering every `molt sign` option, sign a
# payload and check that:
#   (a) `molt verify -k <its public key>` exits 0;
#   (b) tests/refcheck.py (an independent checker) says OK, with the version,
#       security counter, flags, load address and trailer the options imply;
#   (c) `molt verify -k <another trusted key>` exits 1.
# Then check that bad requests are refused with exit 2 and a one-line message.
#
# Environment: MOLT (the molt binary), VECTORS (tests/vectors/imgtool),
# MOLT_SRC (repository root); optional PYTHON (interpreter for refcheck.py).
# Prints "sign matrix: N/N as expected" and exits non-zero on any failure.
set -euo pipefail

: "${MOLT:?MOLT must name the molt binary}"
: "${VECTORS:?VECTORS must name tests/vectors/imgtool}"
: "${MOLT_SRC:?MOLT_SRC must name the repository root}"

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT

# refcheck.py needs python3 with python3-cryptography. PYTHON overrides; else
# prefer the system interpreter (Debian's package), which also starts fastest.
if [[ -z ${PYTHON:-} ]]; then
    PYTHON=python3
    if /usr/bin/python3 -c 'import cryptography' 2>/dev/null; then PYTHON=/usr/bin/python3; fi
fi
REFCHECK=("$PYTHON" "$MOLT_SRC/tests/refcheck.py")
total=0
good=0

declare -A PRIV PUB OTHER
for k in ecdsa-p256 ecdsa-p384 ed25519 rsa-2048; do
    PRIV[$k]=$VECTORS/keys/sign-$k.pem
    PUB[$k]=$VECTORS/keys/sign-$k.pub.pem
done
"$MOLT" keygen -t rsa-3072 -k "$T/rsa-3072.pem"
"$MOLT" getpub -k "$T/rsa-3072.pem" -e pem >"$T/rsa-3072.pub.pem"
PRIV[rsa-3072]=$T/rsa-3072.pem
PUB[rsa-3072]=$T/rsa-3072.pub.pem
# A different trusted key for check (c).
OTHER=([ecdsa-p256]=ed25519 [ecdsa-p384]=ecdsa-p256 [ed25519]=ecdsa-p256
       [rsa-2048]=ecdsa-p256 [rsa-3072]=rsa-2048)

A=$VECTORS/payloads/payload_A_1000.bin
B=$VECTORS/payloads/payload_B_4113.bin
C=$VECTORS/payloads/payload_C_65536.bin
# Inputs that already start with the zeroed header area (no --pad-header).
Z32=$T/zero32_A.bin
Z512=$T/zero512_B.bin
{ head -c 32 /dev/zero; cat "$A"; } >"$Z32"
{ head -c 512 /dev/zero; cat "$B"; } >"$Z512"

bad() {
    echo "FAIL [$total]: $*" >&2
}

# expect_for SIGN-OPTIONS...: the refcheck options these sign options imply
# (into the array EXP). imgtool's rules: -s auto = maj<<24 | min<<16 | rev;
# --load-addr sets RAM_LOAD (0x20), -F sets ROM_FIXED (0x100), --non-bootable
# 0x10; --confirm implies --pad; with --overwrite-only only the magic is written.
expect_for() {
    local ver="" sc=none flags=0 load=0 slot="" pad=0 confirm=0 ow=0 align=1 maxalign=""
    while (($#)); do
        case $1 in
            -v|--version) ver=$2; shift ;;
            -s|--security-counter) sc=$2; shift ;;
            --load-addr) load=$2; flags=$((flags | 0x20)); shift ;;
            -F|--rom-fixed) load=$2; flags=$((flags | 0x100)); shift ;;
            --non-bootable) flags=$((flags | 0x10)) ;;
            -S|--slot-size) slot=$2; shift ;;
            --pad) pad=1 ;;
            --confirm) confirm=1; pad=1 ;;
            --overwrite-only) ow=1 ;;
            --align) align=$2; shift ;;
            --max-align) maxalign=$2; shift ;;
            --custom-tlv) shift 2 ;;
            -H|--header-size|--sha|--public-key-format|-d|--dependencies|--boot-record|--vid|--cid|-M|--max-sectors) shift ;;
        esac
        shift
    done
    if [[ $sc == auto ]]; then
        local main=${ver%%+*} maj min rev
        IFS=. read -r maj min rev <<<"$main"
        sc=$(((maj << 24) + (${min:-0} << 16) + ${rev:-0}))
    fi
    EXP=(--expect-version "$ver" --expect-seccnt "$sc"
         --expect-flags "$(printf '0x%x' "$flags")" --expect-load-addr "$load")
    if [[ -n $slot ]]; then
        local tr=none
        if ((pad)); then
            if ((ow)); then tr=overwrite-only; elif ((confirm)); then tr=perm; else tr=test; fi
        fi
        EXP+=(--slot-size "$slot" --expect-trailer "$tr" --align "$align")
        [[ -n $maxalign ]] && EXP+=(--max-align "$maxalign")
    fi
    return 0
}

# with_slot SIGN-OPTIONS...: the options, plus -S 0x20000 unless -S is given
# (imgtool requires a slot size; it is used for the overflow check). Into ARGS.
with_slot() {
    ARGS=("$@")
    local a
    for a in "$@"; do
        [[ $a == -S || $a == --slot-size ]] && return 0
    done
    ARGS+=(-S 0x20000)
}

# sc KEY INPUT SIGN-OPTIONS...: one signing, checks (a), (b), (c).
sc() {
    local key=$1 in=$2
    shift 2
    with_slot "$@"
    set -- "${ARGS[@]}"
    total=$((total + 1))
    local out=$T/img$total.bin err rc ref
    rc=0
    err=$("$MOLT" sign -k "${PRIV[$key]}" "$@" "$in" "$out" 2>&1) || rc=$?
    if ((rc != 0)); then
        bad "$key sign $* -> exit $rc: $err"
        return 0
    fi
    rc=0
    err=$("$MOLT" verify -k "${PUB[$key]}" "$out" 2>&1) || rc=$?
    if ((rc != 0)); then
        bad "$key $* : molt verify (own key) exit $rc, want 0: $err"
        return 0
    fi
    expect_for "$@"
    rc=0
    ref=$("${REFCHECK[@]}" --key "${PUB[$key]}" "${EXP[@]}" "$out" 2>&1) || rc=$?
    if ((rc != 0)) || [[ $ref != OK ]]; then
        bad "$key $* : refcheck ${EXP[*]}: $ref"
        return 0
    fi
    rc=0
    err=$("$MOLT" verify -k "${PUB[${OTHER[$key]}]}" "$out" 2>&1) || rc=$?
    if ((rc != 1)); then
        bad "$key $* : molt verify (other key ${OTHER[$key]}) exit $rc, want 1: $err"
        return 0
    fi
    good=$((good + 1))
}

# refuse KEY INPUT SIGN-OPTIONS...: must exit 2 with one line on stderr, no output.
refuse() {
    local key=$1 in=$2
    shift 2
    with_slot "$@"
    set -- "${ARGS[@]}"
    total=$((total + 1))
    local out=$T/refused$total.bin err rc=0
    err=$("$MOLT" sign -k "${PRIV[$key]}" "$@" "$in" "$out" 2>&1 >/dev/null) || rc=$?
    if ((rc != 2)); then
        bad "$key sign $* : exit $rc, want 2 (refused): $err"
    elif [[ -z $err || $(printf '%s\n' "$err" | wc -l) -ne 1 ]]; then
        bad "$key sign $* : want a one-line message, got: $err"
    elif [[ -e $out ]]; then
        bad "$key sign $* : refused but wrote $out"
    else
        good=$((good + 1))
    fi
}

H=(-H 0x200 --pad-header)
VID_RAW=2c4e5d1a-7b3f-4c8e-9a10-5f6e7d8c9b0a
CID_RAW=0f1e2d3c-4b5a-4968-8776-a5b4c3d2e1f0

for k in ecdsa-p256 ecdsa-p384 ed25519 rsa-2048 rsa-3072; do
    # version, security counter, header
    sc $k "$A" -v 0.0.0 -H 0x20 --pad-header
    sc $k "$B" -v 1.2.3+4 "${H[@]}" -S 0x20000
    sc $k "$A" -v 255.255.65535+4294967295 -s 4294967295 "${H[@]}"
    sc $k "$C" -v 2.1.7+9 -s auto "${H[@]}"
    # padding and trailer, every alignment
    sc $k "$A" -v 1.0.0 "${H[@]}" -S 0x20000 --pad --align 1
    sc $k "$B" -v 1.0.0+1 -s 2 "${H[@]}" -S 0x10000 --pad --align 2
    sc $k "$A" -v 1.0.0 "${H[@]}" -S 0x20000 --pad --align 4
    sc $k "$A" -v 1.0.0 "${H[@]}" -S 0x20000 --confirm --align 8
    sc $k "$B" -v 1.0.0 "${H[@]}" -S 0x20000 --confirm --align 16
    sc $k "$A" -v 1.0.0 "${H[@]}" -S 0x20000 --pad --align 32
    sc $k "$A" -v 1.0.0 "${H[@]}" -S 0x20000 --overwrite-only --confirm --align 8
    # key format, protected TLVs, RAM load
    sc $k "$B" -v 2.0.0 -s 3 "${H[@]}" --public-key-format full
    sc $k "$A" -v 1.5.0+2 -s 8 "${H[@]}" --public-key-format hash -d '(1, 1.2.3+0)' \
        --boot-record APPFW --custom-tlv 0xa5 0x00112233
    sc $k "$A" -v 1.5.0 "${H[@]}" --vid example.com --cid sensor-node-v1
    sc $k "$A" -v 3.0.0 "${H[@]}" --load-addr 0x20000000
done

# Combinations spread over the key types (one or two keys each).
sc ecdsa-p256 "$Z32" -v 1.0.0 -s 0 -H 0x20
sc rsa-2048 "$Z512" -v 1.0.0 -s 1 -H 0x200
sc ed25519 "$Z512" -v 1.0.0 -H 0x200 -S 0x20000 --pad --align 8
sc ecdsa-p384 "$C" -v 1.0.0 "${H[@]}" -S 0x40000 --confirm --align 32
sc rsa-3072 "$A" -v 1.0.0 "${H[@]}" -S 0x20000 --confirm --align 2
sc ecdsa-p256 "$B" -v 1.0.0 "${H[@]}" -S 0x20000 --confirm --align 1
sc ecdsa-p384 "$A" -v 1.0.0 "${H[@]}" -S 0x20000 --overwrite-only --pad --align 16
sc rsa-2048 "$A" -v 1.0.0 "${H[@]}" -S 0x20000 --overwrite-only --confirm --align 4
sc ed25519 "$A" -v 1.0.0 "${H[@]}" -S 0x20000 -M 32 --pad --align 4
sc ecdsa-p256 "$A" -v 1.0.0 "${H[@]}" -S 0x20000 --max-align 16 --align 8 --confirm
sc ecdsa-p256 "$A" -v 4.3.2+1 -s 7 "${H[@]}" -d '(0, 0.9.0), (2, 1.2.3+77)' \
    --custom-tlv 0x12a0 0xdeadbeef --custom-tlv 0xff hello
sc ecdsa-p384 "$B" -v 1.4.0 -s 1 "${H[@]}" --boot-record ABCDEFGHIJKL --vid "$VID_RAW" --cid "$CID_RAW"
sc rsa-3072 "$A" -v 1.4.0 "${H[@]}" --boot-record BL2 --public-key-format full -d '(3, 0.0.1)'
sc ed25519 "$B" -v 0.1.0 "${H[@]}" --non-bootable
sc rsa-2048 "$A" -v 0.1.0 "${H[@]}" -F 0x8000
sc ecdsa-p256 "$A" -v 6.0.0 -s auto "${H[@]}" -S 0x20000 --confirm --align 4 \
    --load-addr 0x20008000 --boot-record FW --vid example.com --custom-tlv 0x01ff 0x00

# --sha, per key type
sc ecdsa-p256 "$A" -v 1.0.0 "${H[@]}" --sha 256
sc ecdsa-p384 "$A" -v 1.0.0 "${H[@]}" --sha 384 --public-key-format full
sc rsa-2048 "$A" -v 1.0.0 "${H[@]}" --sha 256
sc rsa-3072 "$B" -v 1.0.0 "${H[@]}" --sha 256 -S 0x20000 --pad --align 8
sc ed25519 "$A" -v 1.0.0 "${H[@]}" --sha 256
sc ed25519 "$A" -v 1.0.0 "${H[@]}" --sha 512
sc ed25519 "$B" -v 1.0.0 -s 5 "${H[@]}" --sha 512 --public-key-format full --boot-record APP512
# --pure (Ed25519 only): the signature covers the whole hashed region
sc ed25519 "$A" -v 2.0.0 "${H[@]}" --pure
sc ed25519 "$B" -v 2.0.0 -s 9 "${H[@]}" --pure --sha 512 -d '(1, 2.0.0)' --boot-record PURE \
    --custom-tlv 0xa0 0x01
sc ed25519 "$C" -v 2.0.0 "${H[@]}" --pure --public-key-format full -S 0x20000 --confirm --align 16

# Refusals: exit 2, one line, no output file.
refuse ecdsa-p256 "$A" -v 256.0.0 "${H[@]}"
refuse ecdsa-p256 "$A" -v 1.0.0 -s 4294967296 "${H[@]}"
refuse ecdsa-p256 "$A" -v 1.0.0 "${H[@]}" -S 0x400
refuse ed25519 "$C" -v 1.0.0 "${H[@]}" -S 0x10000 --pad
refuse ecdsa-p256 "$A" -v 1.0.0 "${H[@]}" --custom-tlv 0x90 0x00
refuse ecdsa-p256 "$A" -v 1.0.0 "${H[@]}" --custom-tlv 0x50 0x01000000
refuse ecdsa-p256 "$A" -v 1.0.0 "${H[@]}" --sha 384
refuse rsa-2048 "$A" -v 1.0.0 "${H[@]}" --pure

echo "sign matrix: $good/$total as expected"
((good == total))
