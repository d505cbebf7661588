/*
 * test_vectors.c - every shared imgtool vector gets exactly the verdict expected.
 *
 * R-AUTH, R-SECBOOT: the verifier a device runs (lib/verify.c) is driven over the
 * imgtool vectors in tests/vectors/imgtool. EXPECTED.tsv names, per file, policy
 * and role, the exact outcome (OK or a molt_err_t name); MANIFEST.tsv's verdict
 * class is cross-checked against it, and for accepted images the version,
 * security counter and hash must equal MANIFEST's columns. R-CONF: under the
 * signed+keys policy the device holds the ECIES and RSA-OAEP decryption keys,
 * and encrypted uploads are decrypted before hashing (their hash is MANIFEST's
 * plaintext hash).
 * Prints "vectors: N/N as expected". MOLT_VECTORS_PRINT=1 prints every verdict.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "check.h"
#include "molt/enc.h"
#include "harness.h"
#include "sim_keystore.h"
#include "molt/verify.h"
#include "slurp.h"

#define MAX_ROWS 256
#define MAX_COLS 24

static const char *trusted[] = {"sign-ecdsa-p256", "sign-ed25519", "sign-rsa-2048", "sign-ecdsa-p384"};

typedef struct {
    char file[128], expected[32], version[48], seccnt[32], hash[160];
    int seen_ok_signed, seen;
} manifest_row_t;

static manifest_row_t manifest[MAX_ROWS];
static int manifest_n;

static void load_manifest(const char *dir)
{
    char path[1024], line[8192], *c[MAX_COLS];
    snprintf(path, sizeof path, "%s/MANIFEST.tsv", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f)
        return;
    char *hdr[MAX_COLS];
    char header[8192];
    if (!fgets(header, sizeof header, f)) {
        fclose(f);
        return;
    }
    int hn = harness_split(header, hdr, MAX_COLS), ci_file = -1, ci_exp = -1, ci_ver = -1, ci_sc = -1, ci_hash = -1;
    for (int i = 0; i < hn; i++) {
        if (!strcmp(hdr[i], "file")) ci_file = i;
        if (!strcmp(hdr[i], "expected")) ci_exp = i;
        if (!strcmp(hdr[i], "version")) ci_ver = i;
        if (!strcmp(hdr[i], "security_counter")) ci_sc = i;
        if (!strcmp(hdr[i], "hash_hex")) ci_hash = i;
    }
    while (fgets(line, sizeof line, f) && manifest_n < MAX_ROWS) {
        int n = harness_split(line, c, MAX_COLS);
        if (n <= ci_hash || ci_file < 0)
            continue;
        manifest_row_t *m = &manifest[manifest_n++];
        snprintf(m->file, sizeof m->file, "%s", c[ci_file]);
        snprintf(m->expected, sizeof m->expected, "%s", c[ci_exp]);
        snprintf(m->version, sizeof m->version, "%s", c[ci_ver]);
        snprintf(m->seccnt, sizeof m->seccnt, "%s", c[ci_sc]);
        snprintf(m->hash, sizeof m->hash, "%s", c[ci_hash]);
    }
    fclose(f);
}

static manifest_row_t *find_manifest(const char *file)
{
    for (int i = 0; i < manifest_n; i++)
        if (!strcmp(manifest[i].file, file))
            return &manifest[i];
    return NULL;
}

static void hex(const uint8_t *p, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", p[i]);
    out[2 * n] = '\0';
}

/* Accepted image: version, counter and hash agree with MANIFEST. */
static void check_facts(const manifest_row_t *m, const molt_verify_result_t *r, bool encrypted_installed)
{
    char ver[48], h[160];
    const molt_version_t *v = &r->image.version;
    snprintf(ver, sizeof ver, "%u.%u.%u+%u", v->major, v->minor, v->revision, v->build);
    /* MANIFEST writes versions as given to imgtool: "2.0.0" means build 0. */
    char want[64];
    snprintf(want, sizeof want, "%s%s", m->version, strchr(m->version, '+') ? "" : "+0");
    CHECK(!strcmp(ver, want), "%s: version %s, MANIFEST says %s", m->file, ver, m->version);
    if (!strcmp(m->seccnt, "-")) {
        CHECK(!r->image.has_sec_cnt, "%s: unexpected security counter", m->file);
    } else {
        const char *eq = strchr(m->seccnt, '=');
        unsigned long want_sc = strtoul(eq ? eq + 1 : m->seccnt, NULL, 10);
        CHECK(r->image.has_sec_cnt && r->image.sec_cnt == want_sc, "%s: security counter %u, want %lu", m->file,
              r->image.sec_cnt, want_sc);
    }
    if (!encrypted_installed && strcmp(m->hash, "-")) {
        hex(r->hash, r->hash_len, h);
        CHECK(!strcmp(h, m->hash), "%s: hash %s, MANIFEST says %s", m->file, h, m->hash);
    }
}

int main(void)
{
    const char *dir = getenv("VECTORS") ? getenv("VECTORS") : MOLT_VECTORS;
    bool print = getenv("MOLT_VECTORS_PRINT") != NULL;
    molt_key_t keys[4];
    uint8_t *der[4];
    char name[256], path[1024], line[1024], *c[MAX_COLS];

    for (int i = 0; i < 4; i++) {
        size_t len = 0;
        snprintf(name, sizeof name, "keys/%s.pub.der", trusted[i]);
        der[i] = slurp(dir, name, &len);
        CHECK(der[i] != NULL, "missing %s", name);
        if (!der[i])
            return check_done();
        keys[i] = (molt_key_t){der[i], len};
    }
    molt_keyring_t ring = {keys, 4};
    sim_keystore_t ks = {0};
    CHECK(harness_add_pem(&ks, dir, "keys/enc-x25519.pem") && harness_add_pem(&ks, dir, "keys/enc-ecdsa-p256.pem") &&
              harness_add_pem(&ks, dir, "keys/enc-rsa-2048.pem"),
          "device decryption keys");
    molt_decrypt_t dec = {sim_keystore_ecdh, &ks, NULL, 0, sim_keystore_rsa_unwrap};
    load_manifest(dir);
    CHECK(manifest_n >= 60, "MANIFEST.tsv has %d rows", manifest_n);

    snprintf(path, sizeof path, "%s/EXPECTED.tsv", dir);
    FILE *f = fopen(path, "r");
    CHECK(f != NULL, "cannot open %s", path);
    if (!f)
        return check_done();
    int total = 0, good = 0;
    while (fgets(line, sizeof line, f)) {
        if (line[0] == '#' || !strncmp(line, "file\t", 5))
            continue;
        if (harness_split(line, c, MAX_COLS) < 4)
            continue;
        const char *file = c[0], *policy = c[1], *role = c[2], *expect = c[3];
        size_t len = 0;
        uint8_t *img = slurp(dir, file, &len);
        CHECK(img != NULL, "missing vector %s", file);
        if (!img)
            continue;
        molt_policy_t pol;
        molt_policy_default(&pol);
        pol.require_signature = strcmp(policy, "hash-only") != 0;
        pol.role = strcmp(role, "installed") ? MOLT_ROLE_UPLOAD : MOLT_ROLE_INSTALLED;
        if (!strcmp(policy, "signed+keys"))
            pol.dec = &dec;
        molt_source_t src;
        molt_mem_source_t mem;
        molt_verify_result_t res;
        molt_source_from_mem(&src, &mem, img, (uint32_t)len);
        molt_err_t err = molt_verify(&src, &ring, &pol, &res);
        const char *got = molt_err_name(err);
        total++;
        if (print)
            printf("%s\t%s\t%s\t%s\n", file, policy, role, got);
        bool ok = !strcmp(got, expect);
        good += ok;
        CHECK(ok, "%s (%s, %s): got %s, expected %s", file, policy, role, got, expect);

        manifest_row_t *m = find_manifest(file);
        CHECK(m != NULL, "%s is not in MANIFEST.tsv", file);
        if (m) {
            m->seen++;
            /* The class in MANIFEST must agree with what EXPECTED asks. */
            bool accepted = !strcmp(expect, "OK");
            if (!strcmp(m->expected, "invalid"))
                CHECK(!accepted || !strcmp(role, "installed") || !pol.require_signature,
                      "%s: MANIFEST says invalid, EXPECTED accepts", file);
            if (!strcmp(m->expected, "valid") && pol.require_signature && pol.role == MOLT_ROLE_UPLOAD &&
                accepted)
                m->seen_ok_signed++;
            if (!strcmp(m->expected, "valid-hash-only") && pol.require_signature)
                CHECK(!accepted, "%s: hash-only image accepted under a signature policy", file);
            if (err == MOLT_OK && strcmp(m->version, "-"))
                check_facts(m, &res, pol.role == MOLT_ROLE_INSTALLED && (res.image.flags & MOLT_IMAGE_F_ENCRYPTED));
            if (pol.dec && err == MOLT_OK && (res.image.flags & MOLT_IMAGE_F_ENCRYPTED) &&
                pol.role == MOLT_ROLE_UPLOAD)
                CHECK(res.decrypted, "%s: accepted as an upload without decryption", file);
        }
        free(img);
    }
    fclose(f);
    /* Every vector is covered; every plain "valid" one is accepted when signed. */
    for (int i = 0; i < manifest_n; i++) {
        manifest_row_t *m = &manifest[i];
        CHECK(m->seen > 0, "%s has no row in EXPECTED.tsv", m->file);
        /* Encrypted ones too (RSA-OAEP p18 included), with the device's keys. */
        if (!strcmp(m->expected, "valid"))
            CHECK(m->seen_ok_signed > 0, "%s: valid in MANIFEST but never accepted", m->file);
    }
    printf("vectors: %d/%d as expected\n", good, total);
    sim_keystore_free(&ks);
    for (int i = 0; i < 4; i++)
        free(der[i]);
    return check_done();
}
