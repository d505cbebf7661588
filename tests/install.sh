#!/usr/bin/env bash
# install.sh - molt installs like a library firmware teams already use (docs/install.md).
#
#   1. `cmake --install` of this build into a temporary prefix puts every file where
#      docs/install.md says, and nothing installed names this source or build tree;
#   2. a project outside the tree (tests/sample, copied to the temporary directory) builds
#      against the installed libmolt twice, with find_package(molt) and with
#      `pkg-config --cflags --libs molt`; both programs verify every imgtool vector under
#      the signed/upload policy and must print exactly the verdicts of EXPECTED.tsv (with
#      MANIFEST.tsv's version for the accepted ones): the oracle is the vector set, not
#      libmolt;
#   3. the man pages render without a warning (man -l, or groff; with neither, only their
#      roff is checked), molt(1) has a section for every command `molt --help` lists and
#      moltd(8) every option `moltd --help` has;
#   4. moltd.service: `systemd-analyze verify` accepts it and `systemd-analyze security`
#      rates its exposure at most 2.0 ("OK"), when systemd-analyze exists; else a check of
#      the settings that make it unprivileged, confined and loopback-only.
#
# Environment: MOLT_BUILD (the build tree), MOLT_SRC, VECTORS. Exit 1 on any failure.
set -euo pipefail

: "${MOLT_BUILD:?MOLT_BUILD must name the build tree}"
: "${MOLT_SRC:?MOLT_SRC must name the source tree}"
: "${VECTORS:?VECTORS must name tests/vectors/imgtool}"
MOLT_BUILD=$(cd "$MOLT_BUILD" && pwd)
MOLT_SRC=$(cd "$MOLT_SRC" && pwd)
VECTORS=$(cd "$VECTORS" && pwd)

T=$(mktemp -d)
trap 'rm -rf "$T"' EXIT
P=$T/prefix
fail=0
bad() { echo "FAIL: $*" >&2; fail=1; }
die() { echo "FAIL: $*" >&2; exit 1; }

# The compiler the library was built with (a sanitized libmolt.a needs the same runtime).
cc=$(sed -n 's/^CMAKE_C_COMPILER:[A-Z]*=//p' "$MOLT_BUILD/CMakeCache.txt")
[ -x "$cc" ] || die "no CMAKE_C_COMPILER in $MOLT_BUILD/CMakeCache.txt"

# --- 1. the layout ----------------------------------------------------------------------
cmake --install "$MOLT_BUILD" --prefix "$P" >"$T/install.log" 2>&1 || { cat "$T/install.log" >&2; die "cmake --install failed"; }
for f in bin/molt bin/moltd bin/molt-agent lib/libmolt.a lib/molt/libmbedcrypto.a \
         include/molt/verify.h include/molt/fwu.h include/psa/update.h lib/pkgconfig/molt.pc \
         lib/cmake/molt/moltConfig.cmake lib/cmake/molt/moltConfigVersion.cmake \
         share/man/man1/molt.1 share/man/man8/moltd.8 share/man/man8/molt-agent.8 \
         lib/systemd/system/moltd.service share/doc/molt/mbedtls/LICENSE; do
    [ -s "$P/$f" ] || bad "$f is not installed"
done
[ -x "$P/bin/molt" ] && [ -x "$P/bin/moltd" ] && [ -x "$P/bin/molt-agent" ] || bad "a program is not executable"
for h in "$MOLT_SRC"/include/molt/*.h; do
    cmp -s "$h" "$P/include/molt/$(basename "$h")" || bad "include/molt/$(basename "$h") differs from the source"
done
# Relocatable: the package files find the prefix from their own place.
if grep -rlF -e "$MOLT_SRC" -e "$MOLT_BUILD" "$P/lib/pkgconfig" "$P/lib/cmake" "$P/include" "$P/share/man" >"$T/leak"; then
    bad "installed files name the source or build tree: $(tr '\n' ' ' <"$T/leak")"
fi
"$P/bin/molt" --version >"$T/v" || bad "the installed molt does not run"
grep -qx "molt $(sed -n 's/^Version: //p' "$P/lib/pkgconfig/molt.pc")" "$T/v" || bad "molt --version ($(cat "$T/v")) is not molt.pc's version"

# --- 2. the sample project, built outside the tree -----------------------------------
cp -r "$MOLT_SRC/tests/sample" "$T/sample"
keys=()
for k in sign-ecdsa-p256 sign-ecdsa-p384 sign-ed25519 sign-rsa-2048; do keys+=(-k "keys/$k.pub.der"); done
# The expected lines: EXPECTED.tsv's signed/upload rows; an accepted image with its version.
awk -F'\t' 'NR == FNR { if (FNR > 1) { v = $10; if (v !~ /\+/) v = v "+0"; ver[$1] = v }; next }
            FNR > 1 && $2 == "signed" && $3 == "upload" { print $1, $4 == "OK" ? "OK " ver[$1] : $4 }' \
    "$VECTORS/MANIFEST.tsv" "$VECTORS/EXPECTED.tsv" >"$T/expected"
mapfile -t images < <(awk '{ print $1 }' "$T/expected")
[ "${#images[@]}" -ge 60 ] || die "only ${#images[@]} signed/upload rows in EXPECTED.tsv"
grep -q ' OK ' "$T/expected" && grep -qv ' OK ' "$T/expected" || die "EXPECTED.tsv has no accepted or no refused row"

run_sample() { # run_sample HOW BINARY
    local rc=0
    (cd "$VECTORS" && "$2" "${keys[@]}" "${images[@]}") >"$T/$1.out" 2>"$T/$1.err" || rc=$?
    [ "$rc" -eq 0 ] || { bad "$1: the sample exited $rc: $(head -n 1 "$T/$1.err")"; return; }
    if ! diff -u "$T/expected" "$T/$1.out" >"$T/$1.diff"; then
        bad "$1: the sample's verdicts differ from EXPECTED.tsv:"
        head -n 20 "$T/$1.diff" >&2
    fi
}

cmake -S "$T/sample" -B "$T/sample/build-cmake" -DCMAKE_C_COMPILER="$cc" -DCMAKE_PREFIX_PATH="$P" \
      -DCMAKE_EXPORT_COMPILE_COMMANDS=ON >"$T/cmake.log" 2>&1 || { cat "$T/cmake.log" >&2; die "find_package(molt): configure failed"; }
cmake --build "$T/sample/build-cmake" >>"$T/cmake.log" 2>&1 || { cat "$T/cmake.log" >&2; die "find_package(molt): build failed"; }
grep -qF -e "$MOLT_SRC" "$T/sample/build-cmake/compile_commands.json" && bad "find_package(molt): the sample compiles with the source tree's headers"
run_sample find_package "$T/sample/build-cmake/molt-sample"

flags=$(PKG_CONFIG_PATH="$P/lib/pkgconfig" pkg-config --cflags --libs molt) || die "pkg-config does not find molt"
case $flags in *"$MOLT_SRC"* | *"$MOLT_BUILD"*) bad "pkg-config: the flags name the source or build tree: $flags" ;; esac
mkdir -p "$T/sample/build-pc"
# shellcheck disable=SC2086 # the flags are words
"$cc" -std=c11 -Wall -Wextra -Werror "$T/sample/main.c" -o "$T/sample/build-pc/molt-sample" $flags 2>"$T/pc.log" ||
    { cat "$T/pc.log" >&2; die "pkg-config: the sample does not build"; }
run_sample pkg-config "$T/sample/build-pc/molt-sample"

# A usage error of the sample itself: exit 2.
rc=0; "$T/sample/build-pc/molt-sample" >/dev/null 2>&1 || rc=$?
[ "$rc" -eq 2 ] || bad "the sample without arguments exited $rc, want 2"

# --- 3. the man pages ------------------------------------------------------------------
render() { # render PAGE -> text on stdout, warnings on stderr
    if command -v man >/dev/null; then
        MANWIDTH=80 MAN_KEEP_STDERR=1 man --warnings=w -l "$1"
    else
        groff -man -Tutf8 -ww "$1"
    fi
}
for page in man1/molt.1 man8/moltd.8 man8/molt-agent.8; do
    # The roff itself: a title line, no directive of the generator left unexpanded.
    head -n 5 "$P/share/man/$page" | grep -q '^\.TH ' || bad "$page has no .TH line"
    grep -q '^\.\\" @' "$P/share/man/$page" && bad "$page still has a generator directive"
done
if ! command -v man >/dev/null && ! command -v groff >/dev/null; then
    echo "install: neither man nor groff: the man pages' roff checked, not rendered"
    pages=()
else
    pages=(man1/molt.1 man8/moltd.8 man8/molt-agent.8)
fi
for page in "${pages[@]}"; do
    name=$(basename "$page"); name=${name%.*}
    render "$P/share/man/$page" >"$T/page.txt" 2>"$T/page.err" || bad "$page does not render"
    [ -s "$T/page.err" ] && bad "$page: warnings: $(head -n 2 "$T/page.err" | tr '\n' ' ')"
    for sect in NAME DESCRIPTION "SEE ALSO"; do
        grep -q "^$sect" "$T/page.txt" || bad "$page has no $sect section"
    done
    grep -qE "^ +$name +- " "$T/page.txt" || bad "$page: the NAME line does not name $name"
    grep -q "usage: $name" "$T/page.txt" || bad "$page does not carry $name's usage"
done
if [ "${#pages[@]}" -gt 0 ]; then
    # molt(1) has a subsection per command, from `molt --help` itself.
    render "$P/share/man/man1/molt.1" >"$T/molt.txt" 2>/dev/null
    n=0
    while read -r c; do
        n=$((n + 1))
        grep -q "^   molt $c\$" "$T/molt.txt" || bad "molt(1) has no section for 'molt $c'"
    done < <("$P/bin/molt" --help | awk '/^commands:/ { on = 1; next } /^$/ { on = 0 } on && /^  [a-z]/ { print $1 }')
    [ "$n" -ge 1 ] || bad "molt --help lists no commands"
    # moltd(8) documents every option moltd's help has (the page is made from it).
    render "$P/share/man/man8/moltd.8" >"$T/moltd.txt" 2>/dev/null
    for o in $("$P/bin/moltd" --help | grep -oE '^  --[a-z-]+'); do
        grep -q -- "^       $o" "$T/moltd.txt" || bad "moltd(8) does not document $o"
    done
fi

# --- 4. the systemd unit ---------------------------------------------------------------
unit=$P/lib/systemd/system/moltd.service
grep -qx "ExecStart=$P/bin/moltd .*" "$unit" || bad "moltd.service: ExecStart does not name the installed moltd"
for want in 'DynamicUser=yes' 'StateDirectory=moltd' 'NoNewPrivileges=yes' 'ProtectSystem=strict' \
            'ProtectHome=yes' 'PrivateTmp=yes' 'CapabilityBoundingSet='; do
    grep -qx "$want" "$unit" || bad "moltd.service: no '$want'"
done
grep -q '^ExecStart=.* --listen 127\.0\.0\.1 ' "$unit" || bad "moltd.service: moltd is not bound to loopback"
grep -qE '^(User|Group)=(root|0)$' "$unit" && bad "moltd.service runs as root"
if command -v systemd-analyze >/dev/null; then
    # verify also runs `man moltd` for Documentation=man:moltd(8): the installed page must be found.
    # A bad value is only a warning (exit 0): any word from verify is a failure.
    rc=0
    MANPATH=$P/share/man systemd-analyze verify "$unit" >"$T/verify.log" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] && [ ! -s "$T/verify.log" ] ||
        bad "systemd-analyze verify: exit $rc: $(head -n 3 "$T/verify.log" | tr '\n' ' ')"
    rc=0
    systemd-analyze security --offline=yes --threshold=20 "$unit" >"$T/security.log" 2>&1 || rc=$?
    [ "$rc" -eq 0 ] || bad "moltd.service: exposure above 2.0: $(grep -i 'overall exposure' "$T/security.log")"
    grep -i 'overall exposure' "$T/security.log" || true
else
    echo "install: no systemd-analyze; checked the unit's settings only"
fi

echo "install: $(find "$P" -type f | wc -l) files installed; the sample ran ${#images[@]} vectors with find_package and with pkg-config"
exit $fail
