/*
 * enc_ops.c - molt_enc_ops (molt/enc.h, lib/enc_ops.h): the one object that names
 * the decryption code. A port that decrypts points molt_port_t.enc_ops here; a
 * boot stage that does not links none of what this table reaches.
 */
#include "enc_ops.h"
#include "keystore.h"

const molt_enc_ops_t molt_enc_ops = {molt_enc_content_key, molt_enc_kcv,        molt_ctr_start,
                                     molt_ctr_xor,         molt_ctr_end,        molt_port_decrypt,
                                     molt_decrypt_key,     molt_area_copy_ctr,  molt_swap_keys,
                                     molt_swap_keys_end};
