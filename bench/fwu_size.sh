#!/usr/bin/env bash
# bench/fwu_size.sh - code size of the update API (lib/fwu.c) and of its A/B stage-1 component
# (lib/fwu_remap.c, molt_fwu_add_remap; docs/boot-chain.md), Cortex-M33 -Os with
# arm-none-eabi-gcc: each object's text, then a partial link with --gc-sections from an
# application that uses the API with SWAP components only, and from one that also adds the
# stage-1 component. Crypto and the port are left unresolved and not counted. Prints figures;
# never passes or fails.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mb=$(ls -d "$top"/build/deps/src/mbedtls-3.6.* 2>/dev/null | sort -V | tail -n 1)
[ -n "$mb" ] || mb=$top/build/deps/mbedtls
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/inc" "$work/o" && ln -s "$(pkg-config --variable=includedir libsodium)/sodium" "$work/inc/sodium"
cc=(arm-none-eabi-gcc -mcpu=cortex-m33 -mthumb -mfloat-abi=soft -ffreestanding -Os -ffunction-sections
    -fdata-sections -std=c11 -I"$top/include" -I"$top/lib" -I"$mb/include" -I"$work/inc")
cat >"$work/app.c" <<'C'
#include "molt/fwu.h"
extern const molt_port_t g_app, g_s0;
extern const molt_boot_cfg_t g_app_cfg, g_s0_cfg;
extern molt_fwu_t g_fwu;
void app_main(void);
void app_main(void)
{
    (void)molt_fwu_init(&g_fwu, &g_app, &g_app_cfg, 0);
#ifdef WITH_STAGE1
    (void)molt_fwu_add_remap(&g_fwu, 1, &g_s0, &g_s0_cfg, 0);
#endif
    molt_fwu_bind(&g_fwu);
    psa_fwu_component_info_t i;
    (void)psa_fwu_query(0, &i);
    (void)psa_fwu_start(0, 0, 0);
    (void)psa_fwu_write(0, 0, &i, 1);
    (void)psa_fwu_finish(0);
    (void)psa_fwu_cancel(0);
    (void)psa_fwu_clean(0);
    (void)psa_fwu_install();
    (void)psa_fwu_accept();
    (void)psa_fwu_reject(0);
}
C
for f in "$top"/lib/*.c; do "${cc[@]}" -c "$f" -o "$work/o/$(basename "$f" .c).o"; done
"${cc[@]}" -c "$work/app.c" -o "$work/app.o"
"${cc[@]}" -DWITH_STAGE1 -c "$work/app.c" -o "$work/app1.o"
text() { arm-none-eabi-size "$1" | awk 'NR == 2 { print $1 }'; }
link() { arm-none-eabi-ld --gc-sections -e app_main --unresolved-symbols=ignore-all -o "$work/a.elf" "$@"
         arm-none-eabi-size -A "$work/a.elf" | awk '$1 ~ /^\.(text|rodata|data)/ { s += $2 } END { print s }'; }
echo "== the update API, Cortex-M33 -Os ($(arm-none-eabi-gcc -dumpversion)), bytes =="
printf '%-62s %6s\n' "lib/fwu.c, object text" "$(text "$work/o/fwu.o")"
printf '%-62s %6s\n' "lib/fwu_remap.c (the A/B stage-1 component), object text" "$(text "$work/o/fwu_remap.o")"
printf '%-62s %6s\n' "linked lib/, SWAP components only (no molt_fwu_add_remap)" "$(link "$work/app.o" "$work"/o/*.o)"
printf '%-62s %6s\n' "linked lib/, with the stage-1 component" "$(link "$work/app1.o" "$work"/o/*.o)"
