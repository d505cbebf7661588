#!/usr/bin/env bash
# fuzz.sh - build and run molt's libFuzzer targets (fuzz/, docs/fuzzing.md).
#
#   scripts/fuzz.sh build                 clang + libFuzzer + ASan/UBSan build in build/fuzz
#   scripts/fuzz.sh run [SECONDS] [T...]  run each target (default: all) for SECONDS (default 60),
#                                         niced, one after the other; new inputs go to
#                                         build/fuzz/corpus/T, crashes to build/fuzz/findings/T,
#                                         the log with libFuzzer's final stats to build/fuzz/logs/T.log
#   scripts/fuzz.sh merge [T...]          minimise build/fuzz/corpus/T + fuzz/corpus/T into
#                                         fuzz/corpus/T (the corpus `make test` replays)
#   scripts/fuzz.sh coverage [T...]       clang source-based coverage of the corpora (build/cov):
#                                         per-file line and branch coverage, build/cov/T.txt
# Every target runs with -malloc_limit_mb=64 (no single allocation above 64 MiB: the
# attestation finding of issue 16) and -rss_limit_mb=2048, -timeout=10.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
all=(verify attest envelope fwu inspect moltd)
cmd=${1:-run}; shift || true

build() {
  CC=clang cmake -S . -B build/fuzz -DCMAKE_BUILD_TYPE=Debug -DMOLT_FUZZ=ON >/dev/null
  nice cmake --build build/fuzz -j2 --target fuzz_all
}

opts() { # per-target libFuzzer options
  local o=(-malloc_limit_mb=64 -rss_limit_mb=2048 -timeout=10 -print_final_stats=1)
  [ -f "fuzz/$1.dict" ] && o+=("-dict=fuzz/$1.dict")
  [ "$1" = moltd ] && o+=(-max_len=16384)
  [ "$1" = fwu ] && o+=(-max_len=512)
  [ "$1" = attest ] && o+=(-max_len=2048)
  printf '%s\n' "${o[@]}"
}

case $cmd in
build) build ;;
run)
  secs=${1:-60}; shift || true
  targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
  [ -x build/fuzz/fuzz/fuzz_verify ] || build
  for t in "${targets[@]}"; do
    mkdir -p "build/fuzz/corpus/$t" "build/fuzz/findings/$t" build/fuzz/logs
    mapfile -t o < <(opts "$t")
    echo "fuzz: $t for ${secs}s (log build/fuzz/logs/$t.log)"
    set +e
    FUZZ_MOLTD_ALLOW_OPEN=1 nice -n 19 "build/fuzz/fuzz/fuzz_$t" "${o[@]}" -max_total_time="$secs" \
      -artifact_prefix="build/fuzz/findings/$t/" "build/fuzz/corpus/$t" "fuzz/corpus/$t" \
      $( [ -d "fuzz/regress/$t" ] && echo "fuzz/regress/$t" ) > "build/fuzz/logs/$t.log" 2>&1
    rc=$?
    set -e
    grep -E '^stat::(number_of_executed_units|new_units_added|peak_rss_mb)|^#[0-9]+.*DONE' "build/fuzz/logs/$t.log" | tr '\n' ' '
    echo
    if [ $rc -ne 0 ]; then echo "fuzz: $t: FINDING (exit $rc), see build/fuzz/logs/$t.log and build/fuzz/findings/$t/"; fi
  done ;;
merge)
  targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
  for t in "${targets[@]}"; do
    tmp=$(mktemp -d)
    mapfile -t o < <(opts "$t")
    nice "build/fuzz/fuzz/fuzz_$t" "${o[@]}" -merge=1 "$tmp" "fuzz/corpus/$t" "build/fuzz/corpus/$t" >/dev/null 2>&1
    rm -rf "fuzz/corpus/$t"; mv "$tmp" "fuzz/corpus/$t"; chmod 755 "fuzz/corpus/$t"
    echo "fuzz: $t: $(ls "fuzz/corpus/$t" | wc -l) inputs, $(du -sk "fuzz/corpus/$t" | cut -f1) KiB"
  done ;;
coverage)
  targets=("$@"); [ ${#targets[@]} -gt 0 ] || targets=("${all[@]}")
  CC=clang cmake -S . -B build/cov -DCMAKE_BUILD_TYPE=Debug -DMOLT_COVERAGE=ON >/dev/null
  nice cmake --build build/cov -j2 --target fuzz_all >/dev/null
  for t in "${targets[@]}"; do
    rm -f build/cov/$t.profraw
    dirs=("fuzz/corpus/$t"); [ -d "build/fuzz/corpus/$t" ] && dirs+=("build/fuzz/corpus/$t")
    [ -d "fuzz/regress/$t" ] && dirs+=("fuzz/regress/$t")
    LLVM_PROFILE_FILE="build/cov/$t.profraw" nice "build/cov/fuzz/fuzz_${t}_replay" "${dirs[@]}" >/dev/null 2>&1 || true
    llvm-profdata merge -sparse "build/cov/$t.profraw" -o "build/cov/$t.profdata"
    llvm-cov report "build/cov/fuzz/fuzz_${t}_replay" -instr-profile="build/cov/$t.profdata" \
      -ignore-filename-regex='(/fuzz/[a-z_]+\.c$|/tests/|/build/deps/)' > "build/cov/$t.txt"
    echo "== $t"; cat "build/cov/$t.txt"
  done ;;
*) echo "usage: scripts/fuzz.sh build|run [SECONDS] [TARGET...]|merge [TARGET...]|coverage [TARGET...]" >&2; exit 2 ;;
esac
