#!/usr/bin/env bash
# deps.sh - install what molt's build and tests need, and build Mbed TLS 3.6 once.
#
# Idempotent: a second run changes nothing and takes a second or two.
#   1. Debian binary packages (apt-get), only those not installed yet.
#   2. The npm packages of the dashboard's browser test (tests/web/package.json, puppeteer-core,
#      which drives Debian's chromium), into build/node (git-ignored), once per version.
#   3. Mbed TLS 3.6 from Debian's source archive (the trixie `mbedtls` source package;
#      bookworm ships only 2.28). The archive URI is read from this machine's own apt
#      configuration, never written here. It is unpacked and built into
#      $MOLT_DEPS (default: build/deps) with a stamp file, so it is built once.
#
# Usage: scripts/deps.sh [--no-apt]     MOLT_DEPS=dir to choose where Mbed TLS goes.
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
deps=${MOLT_DEPS:-$top/build/deps}
mbedtls_series=3.6
suite=trixie

packages=(
  build-essential cmake pkg-config ca-certificates bzip2 xz-utils python3
  libssl-dev openssl libsodium-dev libjansson-dev libcbor-dev
  gcc-arm-none-eabi libnewlib-arm-none-eabi binutils-arm-none-eabi qemu-system-arm
  clang libclang-rt-14-dev llvm valgrind
  python3-cryptography python3-cbor2 python3-pytest
  libmicrohttpd-dev libsqlite3-dev sqlite3 libpq-dev postgresql curl jq
  libcurl4-openssl-dev swupdate cpio haproxy
  chromium nodejs
)

log() { printf 'deps: %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_packages() {
  local missing=()
  for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
  done
  # npm: Debian's package, unless a node.js that brings its own npm is installed already
  command -v npm >/dev/null 2>&1 || dpkg-query -W -f='${Status}' npm 2>/dev/null | grep -q 'install ok installed' ||
    missing+=(npm)
  [ ${#missing[@]} -eq 0 ] && { log "Debian packages present"; return; }
  log "installing: ${missing[*]}"
  as_root apt-get update -qq
  as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# The Debian archive URI this machine already uses (deb822 or one-line format).
archive_uri() {
  local f uri=""
  for f in /etc/apt/sources.list.d/*.sources; do
    [ -r "$f" ] || continue
    uri=$(awk '/^URIs:/ { for (i = 2; i <= NF; i++) if ($i !~ /security/) { print $i; exit } }' "$f")
    [ -n "$uri" ] && break
  done
  if [ -z "$uri" ]; then
    for f in /etc/apt/sources.list /etc/apt/sources.list.d/*.list; do
      [ -r "$f" ] || continue
      uri=$(awk '$1 == "deb" && $0 !~ /security/ { for (i = 2; i <= NF; i++) if ($i ~ /:\/\//) { print $i; exit } }' "$f")
      [ -n "$uri" ] && break
    done
  fi
  [ -n "$uri" ] || { log "no Debian archive URI in the apt configuration"; exit 1; }
  printf '%s\n' "$uri"
}

# fetch_source PKG SERIES PRESENT: unpack Debian's source package PKG (version SERIES.x) into
# $deps/src, unless a file matching the glob PRESENT (relative to $deps/src) is there already.
fetch_source() {
  local pkg=$1 series=$2 present=$3 src="$deps/src"
  if compgen -G "$src/$present" >/dev/null; then
    return
  fi
  mkdir -p "$src" "$deps/apt/lists/partial"
  local uri; uri=$(archive_uri)
  echo "deb-src $uri $suite main" > "$deps/apt/sources.list"
  local opts=(-o Dir::Etc::SourceList="$deps/apt/sources.list" -o Dir::Etc::SourceParts=/dev/null
              -o Dir::State::Lists="$deps/apt/lists" -o APT::Sandbox::User=root)
  log "fetching the $pkg source package ($suite)"
  apt-get "${opts[@]}" update -qq
  (cd "$src" && apt-get "${opts[@]}" source --download-only -qq "$pkg")
  local tarball; tarball=$(ls "$src/${pkg}_$series".*.orig.tar.* 2>/dev/null | sort -V | tail -n 1)
  [ -n "$tarball" ] || { log "no $pkg $series.x orig tarball in $suite"; exit 1; }
  tar -C "$src" -xf "$tarball"
}

# Mbed TLS 3.6 for the host and the Cortex-M port (bookworm ships only 2.28).
fetch_mbedtls() { fetch_source mbedtls "$mbedtls_series" "mbedtls-$mbedtls_series.*/include/mbedtls/build_info.h"; }

# libsodium's source, for the Cortex-M boot stage's Ed25519 verify (ports/mps2 cross-builds
# its verify side; the host uses the libsodium-dev package).
fetch_libsodium() { fetch_source libsodium 1.0 "libsodium-1.0.*/src/libsodium/include/sodium/version.h.in"; }

build_mbedtls() {
  local srcdir; srcdir=$(ls -d "$deps"/src/mbedtls-"$mbedtls_series".* | sort -V | tail -n 1)
  local prefix="$deps/mbedtls" stamp="$deps/mbedtls/.built-$(basename "$srcdir")"
  [ -f "$stamp" ] && { log "Mbed TLS present ($(basename "$srcdir"))"; return; }
  log "building $(basename "$srcdir") (once)"
  cmake -S "$srcdir" -B "$deps/mbedtls-build" -DCMAKE_BUILD_TYPE=Release \
        -DENABLE_TESTING=OFF -DENABLE_PROGRAMS=OFF -DMBEDTLS_FATAL_WARNINGS=OFF \
        -DCMAKE_POSITION_INDEPENDENT_CODE=ON -DCMAKE_INSTALL_PREFIX="$prefix" >/dev/null
  cmake --build "$deps/mbedtls-build" -j"$(nproc)" >/dev/null
  cmake --install "$deps/mbedtls-build" >/dev/null
  touch "$stamp"
}

# puppeteer-core for tests/web.sh and the dashboard bench, from the npm registry (the
# client's own configuration names it), into build/node; no browser download (puppeteer-core
# never fetches one: the tests launch /usr/bin/chromium).
install_node_modules() {
  local dir=$top/build/node want have
  want=$(sed -n 's/.*"puppeteer-core": *"\([^"]*\)".*/\1/p' "$top/tests/web/package.json")
  have=""
  if [ -r "$dir/node_modules/puppeteer-core/package.json" ]; then
    have=$(sed -n 's/^ *"version": *"\([^"]*\)".*/\1/p' "$dir/node_modules/puppeteer-core/package.json" | head -n 1)
  fi
  [ -n "$want" ] && [ "$have" = "$want" ] && { log "puppeteer-core $have present"; return; }
  log "installing puppeteer-core $want into build/node"
  mkdir -p "$dir"
  cp "$top/tests/web/package.json" "$dir/package.json"
  (cd "$dir" && npm install --no-package-lock --no-audit --no-fund --loglevel=error >/dev/null)
}

[ "${1:-}" = "--no-apt" ] || install_packages
install_node_modules
fetch_mbedtls
fetch_libsodium
build_mbedtls
log "ok: Mbed TLS in $deps/mbedtls"
