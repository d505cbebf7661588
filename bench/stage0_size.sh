#!/usr/bin/env bash
# bench/stage0_size.sh - projected code size of lib/'s part of a stage 0 (docs/boot-chain.md):
# molt_boot_go in REMAP mode with cfg.stage = MOLT_STAGE_1, the SWAP and OVERWRITE modes and
# (second row) decryption replaced by stubs, linked with --gc-sections from one call of
# molt_boot_go. Crypto (Mbed TLS / PSA, libsodium) and the port are left unresolved and not
# counted: add the crypto column of docs/bench.md. A projection by partial link, not a bootable
# stage 0 (none is built yet). Prints figures; never passes or fails.
set -euo pipefail
top=$(cd "$(dirname "$0")/.." && pwd)
mb=$(ls -d "$top"/build/deps/src/mbedtls-3.6.* 2>/dev/null | sort -V | tail -n 1)
[ -n "$mb" ] || mb=$top/build/deps/mbedtls
work=$(mktemp -d); trap 'rm -rf "$work"' EXIT
mkdir -p "$work/inc" && ln -s "$(pkg-config --variable=includedir libsodium)/sodium" "$work/inc/sodium"
cat >"$work/stage0.c" <<'C'
#include "boot_int.h"
#include "keystore.h"
molt_err_t molt_boot_swap(const molt_port_t *p, const molt_boot_cfg_t *c, uint32_t nv, molt_boot_result_t *r)
{ (void)p; (void)c; (void)nv; (void)r; return MOLT_E_ARG; }
molt_err_t molt_boot_overwrite(const molt_port_t *p, const molt_boot_cfg_t *c, uint32_t nv, molt_boot_result_t *r)
{ (void)p; (void)c; (void)nv; (void)r; return MOLT_E_ARG; }
bool molt_port_can_decrypt(const molt_port_t *port) { (void)port; return false; }
void molt_port_decrypt(const molt_port_t *port, const molt_source_t *src, molt_decrypt_t *dec, uint8_t digest[64],
                       size_t *dlen) { (void)port; (void)src; (void)dec; (void)digest; *dlen = 0; }
extern const molt_port_t g_port;
extern molt_boot_result_t g_res;
void stage0_main(void);
void stage0_main(void)
{
    static const molt_boot_cfg_t cfg = {.mode = MOLT_MODE_REMAP, .stage = MOLT_STAGE_1};
    (void)molt_boot_go(&g_port, &cfg, &g_res);
}
C
cat >"$work/noenc.c" <<'C'
#include "molt/enc.h"
molt_err_t molt_enc_content_key(const molt_source_t *src, const molt_image_t *img, const molt_decrypt_t *dec,
                                const uint8_t *digest, size_t digest_len, uint8_t key[MOLT_ENC_KEY_MAX], size_t *key_len)
{ (void)src; (void)img; (void)dec; (void)digest; (void)digest_len; (void)key; (void)key_len; return MOLT_E_ENC_NO_KEY; }
molt_err_t molt_enc_kcv(const uint8_t *key, size_t key_len, uint8_t kcv[MOLT_ENC_KCV_LEN])
{ (void)key; (void)key_len; (void)kcv; return MOLT_E_ENC_NO_KEY; }
molt_err_t molt_ctr_start(molt_ctr_t *c, const uint8_t *key, size_t key_len)
{ (void)c; (void)key; (void)key_len; return MOLT_E_ENC_NO_KEY; }
molt_err_t molt_ctr_xor(molt_ctr_t *c, uint32_t off, uint8_t *buf, size_t len)
{ (void)c; (void)off; (void)buf; (void)len; return MOLT_E_ENC_NO_KEY; }
void molt_ctr_end(molt_ctr_t *c) { (void)c; }
C
echo "== stage 0 (projection): lib/ code reachable from molt_boot_go in REMAP, -Os, bytes =="
printf '%-4s %-52s %6s\n' core configuration text
for cpu in cortex-m4 cortex-m33; do
  cc=(arm-none-eabi-gcc -mcpu=$cpu -mthumb -mfloat-abi=soft -ffreestanding -Os -ffunction-sections -fdata-sections
      -std=c11 -I"$top/include" -I"$top/lib" -I"$mb/include" -I"$work/inc")
  rm -rf "$work/o" && mkdir -p "$work/o"
  for f in "$top"/lib/*.c; do
    b=$(basename "$f" .c)
    case $b in boot_swap|boot_overwrite|keystore) continue;; esac
    "${cc[@]}" -c "$f" -o "$work/o/$b.o"
  done
  "${cc[@]}" -c "$work/stage0.c" -o "$work/o/stage0.o"
  "${cc[@]}" -c "$work/noenc.c" -o "$work/noenc.o"
  link() { arm-none-eabi-ld --gc-sections -e stage0_main --unresolved-symbols=ignore-all -o "$work/s0.elf" "$@"
           arm-none-eabi-size -A "$work/s0.elf" | awk '$1 ~ /^\.(text|rodata|data)/ { s += $2 } END { print s }'; }
  name=${cpu#cortex-}; name=${name^^}
  printf '%-4s %-52s %6s\n' "$name" "REMAP + verify (decryption still linked)" "$(link "$work"/o/*.o)"
  rm "$work/o/enc.o"
  printf '%-4s %-52s %6s\n' "$name" "REMAP + verify, decryption stubbed" "$(link "$work"/o/*.o "$work/noenc.o")"
done
