#!/usr/bin/env bash
# moltd_swu.sh - SWUpdate packages in moltd (issue 19): device class kinds and
# their refusals (exact bodies), certificates as signers, swu uploads verified on
# upload (cpio newc/crc, the CMS signature of sw-description against the class's
# certificates, each image's sha256, R-DEPLOY-VERSION) with nothing stored on a
# refusal, then Debian's SWUpdate suricatta (hawkBit mode) against moltd on
# loopback: poll -> deploymentBase -> download -> install into a scratch
# directory -> feedback -> closed/success, the next poll offers nothing; and the
# three bad packages (untrusted signer, tampered sw-description, wrong payload
# hash), refused at upload and, served by the test-only bypass, refused by
# suricatta with closed/failure and nothing installed; 300 random byte changes
# (fixed seeds) answered as an independent cpio reader and openssl cms predict;
# collections (every selection's images checked) and the parser's refusals by line.
# The packages are made here with openssl (cms -sign) and cpio (-H crc).
set -uo pipefail
: "${MOLTD:?}"
here=$(cd "$(dirname "$0")" && pwd)
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
spid=
mpid=
at_exit '[ -n "$mpid" ] && kill_wait "$mpid"'
at_exit '[ -n "$spid" ] && { kill -TERM -- "-$spid" 2>/dev/null; wait "$spid" 2>/dev/null; }'
need_cmd openssl cpio jq sqlite3

moltd_setup sqlite
ART=$work/artifacts
start() { moltd_start --poll-sleep 10 --max-package 262144 "$@"; }   # start [extra options]
A="Bearer $ADMIN"

# --- keys: a CA and the signer it certifies; a rogue CA and its signer
cd "$work" || exit 1
ossl() { openssl "$@" 2>/dev/null || bad "openssl $1"; }
printf 'keyUsage=digitalSignature\nextendedKeyUsage=emailProtection,codeSigning\n' > ext
for who in ca rogue-ca; do
  ossl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout $who.key -out $who.crt -subj "/CN=$who" -days 30
done
mksigner() {  # mksigner NAME CA
  ossl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$1.key" -out "$1.csr" -subj "/CN=$1"
  ossl x509 -req -in "$1.csr" -CA "$2.crt" -CAkey "$2.key" -CAcreateserial -out "$1.crt" -days 30 -extfile ext
}
mksigner signer ca; mksigner rogue rogue-ca
ossl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:4096 -out rsa4096.key
ossl pkey -in rsa4096.key -pubout -out rsa4096.pub
ossl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out dev.key
ossl pkey -in dev.key -pubout -out dev.pub
mkdir -p inst

# mkswu OUT VERSION [SIGNER] [tamper|badhash|nosig|plain]: a .swu whose one image
# (rawfile) is installed by SWUpdate to inst/<OUT>.bin
mkswu() {
  local out=$1 ver=$2 signer=${3:-signer} how=${4:-} d=$work/pkg.$1
  mkdir -p "$d"; head -c 3000 /dev/urandom > "$d/payload.bin"
  local h; h=$(sha256sum < "$d/payload.bin" | cut -d' ' -f1)
  [ "$how" = badhash ] && h=$(printf 'other' | sha256sum | cut -d' ' -f1)
  cat > "$d/sw-description" <<EOF
software =
{
	version = "$ver";
	description = "moltd test package"; # a comment
	hardware-compatibility: [ "1.0" ];
	images: (
		{
			filename = "payload.bin";
			type = "rawfile";
			path = "$work/inst/$out.bin";
			sha256 = "$h";
		}
	);
}
EOF
  (cd "$d" && openssl cms -sign -in sw-description -out sw-description.sig -signer "$work/$signer.crt" \
     -inkey "$work/$signer.key" -outform DER -nosmimecap -binary) || bad "cms sign $out"
  [ "$how" = tamper ] && sed -i 's/moltd test package/moltd test packagE/' "$d/sw-description"
  local members='sw-description\nsw-description.sig\npayload.bin\n'
  [ "$how" = nosig ] && members='sw-description\npayload.bin\n'
  local fmt=crc; [ "$how" = plain ] && fmt=newc
  (cd "$d" && printf "$members" | cpio -o -H $fmt --quiet > "$work/$out.swu") || bad "cpio $out"
}
mkswu good 1.0.0
mkswu good2 1.1.0
mkswu newc 1.2.0 signer plain
mkswu older 0.9.0
mkswu untrusted 2.0.0 rogue
mkswu tampered 2.0.1 signer tamper
mkswu badhash 2.0.2 signer badhash
mkswu nosig 2.0.3 signer nosig
mkswu badver 1.x signer
printf 'not an archive at all' > junk.swu

start
eq "$(sql 'SELECT version FROM schema_version')" 7 "schema_version"

# --- signers: a certificate as well as a public key
pem() { jq -n --arg name "$1" --rawfile pem "$2" '{name:$name,pem:$pem}'; }
call 201 POST "$U/signers" "$A" -d "$(pem vendor-ca ca.crt)"; body '{"name": "vendor-ca", "type": "ecdsa-p256", "certificate": "/CN=ca"}' "signer cert"
call 201 POST "$U/signers" "$A" -d "$(pem rogue-ca rogue-ca.crt)"
call 201 POST "$U/signers" "$A" -d "$(pem big-rsa rsa4096.pub)"; body '{"name": "big-rsa", "type": "rsa"}' "rsa-4096 signer"
call 400 POST "$U/signers" "$A" -d '{"name":"junk","pem":"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"}'
body '{"error": "pem: not a readable X.509 certificate"}' "junk certificate"

# --- classes: kind, unknown and contradictory fields refused by name (400, nothing made)
n_audit=$(sql 'SELECT COUNT(*) FROM audit')
call 400 POST "$U/classes" "$A" -d '{"name":"gw","signers":["vendor-ca"],"kinds":"swu"}'
body '{"error": "kinds: unknown field (a class has name, signers, kind)"}' "unknown field"
call 400 POST "$U/classes" "$A" -d '{"name":"gw","signers":["vendor-ca"],"kind":"rpm"}'
body '{"error": "kind: mcuboot or swu"}' "unknown kind"
call 400 POST "$U/classes" "$A" -d '{"name":"gw","signers":["vendor-ca"],"kind":7}'
body '{"error": "kind: mcuboot or swu"}' "kind not a string"
call 400 POST "$U/classes" "$A" -d '{"name":"mcu","signers":["big-rsa"],"kind":"mcuboot"}'
body '{"error": "signers: big-rsa is an rsa key, which no MCUboot image can carry (kind mcuboot)"}' "contradictory"
call 400 POST "$U/classes" "$A" -d '{"name":"mcu","signers":["big-rsa"]}'
body '{"error": "signers: big-rsa is an rsa key, which no MCUboot image can carry (kind mcuboot)"}' "default kind is mcuboot"
eq "$(sql 'SELECT COUNT(*) FROM audit') $(sql 'SELECT COUNT(*) FROM device_classes')" "$n_audit 0" "refusals changed nothing"
call 201 POST "$U/classes" "$A" -d '{"name":"gw","signers":["vendor-ca"],"kind":"swu"}'
body '{"name": "gw", "signers": ["vendor-ca"], "kind": "swu"}' "swu class"
call 201 POST "$U/classes" "$A" -d '{"name":"gw-rsa","signers":["big-rsa"],"kind":"swu"}'
call 201 POST "$U/classes" "$A" -d '{"name":"mcu","signers":["vendor-ca"]}'
body '{"name": "mcu", "signers": ["vendor-ca"], "kind": "mcuboot"}' "mcuboot class, the default"
call 200 GET "$U/classes" "$A"
eq "$(js 'map(.class + ":" + .kind) | join(",")')" "gw:swu,gw-rsa:swu,mcu:mcuboot" "class list with kinds"

# --- swu uploads
up() { call "$1" POST "$U/packages?class=$2${4:+&filename=$4}" "$A" --data-binary "@$work/$3" -H 'Content-Type: application/octet-stream'; }
state() { echo "$(sql 'SELECT COUNT(*) FROM packages') $(sql 'SELECT COUNT(*) FROM audit') $(find "$ART" -type f | wc -l)"; }
s0=$(state)
up 422 gw untrusted.swu
eq "$(js .reason)" KEY_UNTRUSTED "untrusted reason"
eq "$(js .error)" "sw-description is signed by /CN=rogue, which no signer of this class vouches for" "untrusted message"
up 422 gw tampered.swu; eq "$(js .reason)" SIGNATURE_INVALID "tampered reason"
up 422 gw badhash.swu; eq "$(js .reason)" HASH_MISMATCH "bad hash reason"
eq "$(js .error)" "payload.bin: sha256 is $(sha256sum < pkg.badhash/payload.bin | cut -d' ' -f1), sw-description says $(printf other | sha256sum | cut -d' ' -f1)" "bad hash message"
up 422 gw nosig.swu; body '{"error": "the second member of the archive is payload.bin, not sw-description.sig", "reason": "SWU_UNSIGNED"}' "unsigned"
up 422 gw junk.swu; body '{"error": "cpio: no newc header (070701/070702) at offset 0", "reason": "CPIO_MAGIC"}' "not cpio"
up 422 gw badver.swu; body '{"error": "sw-description: software.version \"1.x\" is not 1 to 4 dotted numbers below 65536", "reason": "SWU_VERSION"}' "bad version"
up 422 gw-rsa good.swu; eq "$(js .reason)" KEY_UNTRUSTED "a class whose key did not sign it"
up 422 mcu good.swu; eq "$(js .reason)" MAGIC "an swu package in an mcuboot class"
up 400 gw good.swu good.bin; body '{"error": "filename: a package of an swu class is named *.swu"}' "filename"
eq "$(state)" "$s0" "refused uploads stored nothing"
up 201 gw good.swu
eq "$(js '.version + " " + .filename + " " + .signer + " " + (.security_counter|tostring)')" "1.0.0 gw-1.0.0.swu vendor-ca 0" "swu package facts"
eq "$(js .sha256)" "$(sha256sum < good.swu | cut -d' ' -f1)" "swu sha256"
GOOD_ID=$(js .id)
cmp -s "$ART/$(js .sha256)" good.swu && ok || bad "stored as uploaded"
up 200 gw good.swu; eq "$(js .id)" "$GOOD_ID" "same bytes, same package"
up 409 gw older.swu; body '{"error": "version is not above the latest of this class", "detail": "1.0.0"}' "R-DEPLOY-VERSION"
up 201 gw newc.swu newc-1.2.0.swu; eq "$(js .filename)" newc-1.2.0.swu "070701 archive, filename kept"; NEWC_ID=$(js .id)
eq "$(sql "SELECT what || ' ' || version_before || ' ' || version_after FROM audit WHERE what = 'package.upload' ORDER BY id DESC LIMIT 1")" \
   "package.upload 1.0.0 1.2.0" "upload audited"
# sw-description forms SWUpdate uses beyond the flat one: collections (software = { stable =
# { main = {...}; alt = {...}; }; }) — every image of every selection is checked — and the
# parser's refusals, each with its line
mkdesc() {  # mkdesc OUT: sw-description from stdin, signed, archived with payload.bin and alt.bin
  local d=$work/pkg.$1; mkdir -p "$d"; cat > "$d/sw-description"
  cp pkg.good/payload.bin "$d/"; printf 'alternative image' > "$d/alt.bin"
  (cd "$d" && openssl cms -sign -in sw-description -out sw-description.sig -signer "$work/signer.crt" \
     -inkey "$work/signer.key" -outform DER -nosmimecap -binary \
   && printf 'sw-description\nsw-description.sig\npayload.bin\nalt.bin\n' | cpio -o -H crc --quiet > "$work/$1.swu")
}
H1=$(sha256sum < pkg.good/payload.bin | cut -d' ' -f1); H2=$(printf 'alternative image' | sha256sum | cut -d' ' -f1)
coll() {  # coll VERSION ALT-HASH
  printf 'software =\n{\n  version = "%s";\n  hardware-compatibility = [ "1.0", "1.1" ];\n  stable = {\n    main = { images: ( { filename = "payload.bin"; type = "raw"; device = "/dev/null"; sha256 = "%s"; } ); };\n    alt = { files: ( { filename = "alt.bin"; path = "/tmp/x"; sha256 = "%s"; } ); };\n  };\n}\n' "$1" "$H1" "$2"
}
coll 1.3.0 "$(printf x | sha256sum | cut -d' ' -f1)" | mkdesc coll-bad
up 422 gw coll-bad.swu; eq "$(js .reason) $(js .error | cut -d: -f1)" "HASH_MISMATCH alt.bin" "collections: the alternative selection's file is checked too"
coll 1.3.0 "$H2" | mkdesc coll
up 201 gw coll.swu; eq "$(js .version)" 1.3.0 "collections accepted"
printf 'software = {\n  version = "1.4.0";\n  @include "other.cfg"\n}\n' | mkdesc inc
up 422 gw inc.swu; body '{"error": "sw-description line 3: @include is not accepted", "reason": "SWU_DESCRIPTION"}' "@include refused"
printf 'software = {\n  version = "1.4.0";\n  version = "1.5.0";\n  images: ( { filename = "payload.bin"; sha256 = "%s"; } );\n}\n' "$H1" | mkdesc dup
up 422 gw dup.swu; body '{"error": "sw-description line 3: setting version appears twice", "reason": "SWU_DESCRIPTION"}' "a setting twice refused"
printf 'software = {\n  version = "1.4.0";\n  images: ( { filename = "payload.bin"; } );\n}\n' | mkdesc nohash
up 422 gw nohash.swu; body '{"error": "sw-description line 3: payload.bin has no sha256 (64 hex digits)", "reason": "SWU_NO_HASH"}' "an image without sha256 refused"
printf 'software = {\n  version = "1.4.0";\n  images: ( { filename = "missing.bin"; sha256 = "%s"; } );\n}\n' "$H1" | mkdesc missing
up 422 gw missing.swu; body '{"error": "missing.bin is listed in sw-description, not in the archive", "reason": "SWU_MISSING_IMAGE"}' "a listed image missing from the archive"
printf 'software = {\n  version = "1.4.0";\n  images: ( { filename = "payload.bin"; sha256 = "%s" } \n}\n' "$H1" | mkdesc unclosed
up 422 gw unclosed.swu; eq "$(js .reason) $(js .error | cut -d: -f1)" "SWU_DESCRIPTION sw-description line 4" "an unclosed list refused with its line"

# --- attacker: 300 random byte changes (fixed seed) in the two stored archives. An
# independent reader (Python, below) decides what each mutant is: the same members
# (names and bytes, checksums valid) as the original -> moltd must answer 409 (its
# version is not above the stored one); anything else -> 422, nothing stored. A
# changed sw-description.sig with everything else the same is "same" exactly when
# the openssl command (cms -verify against the CA) still accepts it: CMS has
# unsigned fields (the signature algorithm identifier of an EC signer is one).
cat > mutate.py <<'PY'
import random, subprocess, sys
def cms_ok(desc, sig):
    open("m.desc", "wb").write(desc); open("m.sig", "wb").write(sig)
    return subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", "m.sig", "-content",
                           "m.desc", "-CAfile", "ca.crt", "-purpose", "any", "-out", "/dev/null"],
                          stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode == 0
def same(m, want):
    if m is None or len(m) != len(want) or [n for n, _ in m] != [n for n, _ in want]: return False
    if all(a == b for a, b in zip(m, want)): return True
    diff = [i for i in range(len(m)) if m[i] != want[i]]
    return diff == [1] and m[1][0] == b"sw-description.sig\0" and cms_ok(m[0][1], m[1][1])
def members(b):
    out, off = [], 0
    while True:
        if len(b) - off < 110: return None
        h = b[off:off + 110]
        if h[:6] not in (b"070701", b"070702"): return None
        try: f = [int(h[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
        except ValueError: return None
        if any(c not in b"0123456789abcdefABCDEF" for c in h[6:110]): return None
        size, nsize, chk = f[6], f[11], f[12]
        name_off = off + 110; data_off = (name_off + nsize + 3) & ~3
        if nsize < 2 or name_off + nsize > len(b): return None
        name = b[name_off:name_off + nsize]
        if name[-1] != 0 or 0 in name[:-1]: return None
        if data_off + size > len(b): return None
        data = b[data_off:data_off + size]
        if name == b"TRAILER!!!\0":
            return out if not any(b[data_off + size:]) else None
        if h[:6] == b"070701" and chk != 0: return None
        if h[:6] == b"070702" and sum(data) & 0xffffffff != chk: return None
        if any(n == name for n, _ in out): return None
        out.append((name, data))
        off = min(data_off + size + 3 & ~3, len(b))
src, n, seed, first, outdir = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4]), sys.argv[5]
orig = open(src, "rb").read(); want = members(orig); assert want
rnd = random.Random(seed)
for i in range(first, first + n):
    b = bytearray(orig); pos = rnd.randrange(len(b))
    b[pos] = (b[pos] + rnd.randrange(1, 256)) & 0xff
    open("%s/%d.swu" % (outdir, i), "wb").write(b)
    print(i, pos, "same" if same(members(bytes(b)), want) else "other")
PY
mkdir -p mut
{ python3 mutate.py good.swu 150 19 0 mut && python3 mutate.py newc.swu 150 1919 150 mut; } > mut.list || bad "mutate.py"
s0=$(state); nsame=0; nother=0; mbad=0
while read -r i pos kind; do
  code=$(curl -s -o mbody -w '%{http_code}' -H "Authorization: $A" --data-binary "@mut/$i.swu" "$U/packages?class=gw")
  if [ "$kind" = same ]; then nsame=$((nsame + 1)); want=409; else nother=$((nother + 1)); want=422; fi
  [ "$code" = "$want" ] || { mbad=$((mbad + 1)); [ $mbad -le 5 ] && echo "mutant $i (byte $pos, $kind): $code $(cat mbody)"; }
done < mut.list
eq "$mbad" 0 "every mutant answered as the independent reader predicts ($nsame same content, $nother other)"
[ "$nother" -ge 250 ] && ok || bad "too few real changes among the mutants: $nother"
eq "$(state)" "$s0" "no mutant stored"
kill -0 "$pid" 2>/dev/null && ok || bad "moltd died under the mutants"

# --- Debian's SWUpdate suricatta (hawkBit mode) against moltd on loopback
if ! command -v swupdate >/dev/null; then
  bad "swupdate is required (Debian package swupdate; scripts/deps.sh installs it)"
else
  swupdate -h > "$work/swupdate.help" 2>&1
  grep -q -- '--suricatta' "$work/swupdate.help" || bad "this swupdate has no suricatta"
  grep -q -- '--ca-path' "$work/swupdate.help" || bad "this swupdate has no CMS signature check"
  dev() { jq -n --arg id "$1" --rawfile ak dev.pub --arg t "$1-token-0123456789abcdef" '{id:$id,class:"gw",attestation_key:$ak,token:$t}'; }
  # suricatta DEV [extra suricatta options]: in its own session (killed as a group), its own TMPDIR
  suricatta() {
    mkdir -p "$work/tmp.$1"
    TMPDIR=$work/tmp.$1 setsid swupdate -v -k "$work/ca.crt" -H test:1.0 -M -m \
      -u "-t DEFAULT -u http://127.0.0.1:$port -i $1 -k $1-token-0123456789abcdef -p 1 -r 2 -w 1 ${2:-}" \
      > "$work/suricatta.$1.log" 2>&1 &
    spid=$!
  }
  sstop() { kill -TERM -- "-$spid" 2>/dev/null; wait "$spid" 2>/dev/null; spid=; }
  # until SQL VALUE SECONDS: wait for a query to answer VALUE
  until_sql() { for _ in $(seq $(($3 * 10))); do [ "$(sql "$1")" == "$2" ] && return 0; sleep 0.1; done; return 1; }
  act() { sql "SELECT state || '|' || COALESCE(detail, '') FROM actions WHERE device_id = '$1' ORDER BY id DESC LIMIT 1"; }
  for d in dev1 dev-resume dev-untrusted dev-tampered dev-badhash; do call 201 POST "$U/devices" "$A" -d "$(dev $d)"; done
  call 201 POST "$U/campaigns" "$A" -d "{\"name\":\"swu\",\"package\":$GOOD_ID,\"filter\":{\"ids\":[\"dev1\"]}}"
  suricatta dev1
  # the install: poll, deploymentBase, download, CMS check, rawfile into inst/, proceeding feedback
  until_sql "SELECT state || '|' || COALESCE(detail, '') FROM actions WHERE device_id = 'dev1'" "running|All Chunks Installed." 60 \
    || bad "suricatta did not install: $(act dev1); $(grep -E 'ERROR|WARN' "$work/suricatta.dev1.log" | grep -v mtd | tail -5)"
  sstop
  cmp -s inst/good.bin pkg.good/payload.bin && ok || bad "the image was installed into the scratch directory"
  # "after the reboot": SWUpdate confirms the installed update (-c 2 = success) -> closed/success
  suricatta dev1 "-c 2"
  until_sql "SELECT state || '|' || COALESCE(detail, '') FROM actions WHERE device_id = 'dev1'" "success|Update Installed." 30 \
    || bad "no closed/success: $(act dev1)"
  until_sql "SELECT COUNT(*) FROM devices WHERE id = 'dev1' AND version = '1.0.0'" 1 5 || bad "device version after success"
  sleep 1.5; sstop
  eq "$(sql "SELECT what FROM audit WHERE object = 'dev1' AND what LIKE 'update.%' ORDER BY id" | paste -sd, -)" \
     "update.running,update.success" "the device's audit trail"
  grep -q "No pending action on server" "$work/suricatta.dev1.log" && ok || bad "the next poll offered something"
  call 200 GET "$D/dev1" "TargetToken dev1-token-0123456789abcdef"
  eq "$(js '._links | has("deploymentBase")') $(js '._links.installedBase.href')" "false $D/dev1/installedBase/1" "next poll: nothing to deploy"

  # a dropped download resumes: a mirror (--artifact-base-url) closes the first connection
  # after 1500 bytes; suricatta retries with a Range request and installs
  python3 "$here/swu_flaky_mirror.py" mport "$ART" 1500 mirror.log > mirror.out 2>&1 & mpid=$!
  for _ in $(seq 100); do [ -s mport ] && break; sleep 0.05; done
  moltd_stop; start --artifact-base-url "http://127.0.0.1:$(cat mport)"
  call 201 POST "$U/campaigns" "$A" -d "{\"name\":\"resume\",\"package\":$NEWC_ID,\"filter\":{\"ids\":[\"dev-resume\"]}}"
  suricatta dev-resume
  until_sql "SELECT state || '|' || COALESCE(detail, '') FROM actions WHERE device_id = 'dev-resume'" "running|All Chunks Installed." 60 \
    || bad "no install after the dropped download: $(act dev-resume); $(grep -E 'ERROR|WARN' "$work/suricatta.dev-resume.log" | grep -v mtd | tail -5)"
  sstop; kill "$mpid"; wait "$mpid" 2>/dev/null
  NEWC_SHA=$(sha256sum < newc.swu | cut -d' ' -f1); NEWC_SIZE=$(stat -c %s newc.swu)
  eq "$(cat mirror.log)" "/$NEWC_SHA - 200 1500
/$NEWC_SHA bytes=1500- 206 $((NEWC_SIZE - 1500))" "dropped at 1500 bytes, resumed with a Range request"
  cmp -s inst/newc.bin pkg.newc/payload.bin && ok || bad "the resumed download installed the image"

  # the three bad packages, stored through the test-only bypass, each refused by suricatta
  moltd_stop; start --test-accept-unverified-swu
  grep -q "^moltd: TEST MODE: swu uploads are stored without their signature and hash checks$" "$work/err" && ok || bad "test mode warns"
  for b in untrusted tampered badhash; do
    rm -rf "$work/tmp.dev-$b"
    up 201 gw $b.swu; id=$(js .id)
    eq "$(js .signer)" "(unverified: test mode)" "bypassed upload of $b is marked"
    call 201 POST "$U/campaigns" "$A" -d "{\"name\":\"$b\",\"package\":$id,\"filter\":{\"ids\":[\"dev-$b\"]}}"
    suricatta dev-$b
    until_sql "SELECT state FROM actions WHERE device_id = 'dev-$b'" failure 60 || bad "suricatta did not refuse $b: $(act dev-$b)"
    sstop
    [ ! -e inst/$b.bin ] && ok || bad "$b: nothing may be installed"
    eq "$(sql "SELECT COUNT(*) FROM audit WHERE object = 'dev-$b' AND what = 'update.failure'")" 1 "$b: update.failure audited"
  done
  grep -q "ERROR : Authentication of all signatures failed" "$work/suricatta.dev-untrusted.log" && ok || bad "untrusted: suricatta's reason"
  grep -q "ERROR : Signature verification failed" "$work/suricatta.dev-tampered.log" && ok || bad "tampered: suricatta's reason"
  grep -q "ERROR : HASH mismatch : $(printf other | sha256sum | cut -d' ' -f1) <--> $(sha256sum < pkg.badhash/payload.bin | cut -d' ' -f1)" "$work/suricatta.dev-badhash.log" && ok || bad "badhash: suricatta's reason"
fi

summary
