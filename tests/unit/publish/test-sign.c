/* SPDX-License-Identifier: MIT */
/* sign: detached CMS signatures with a throwaway P-256 key and self-signed
 * certificate made by the openssl command line — loaded, signed, verified
 * against the certificate as CA, refused when the data or signature is
 * tampered with, when the key is readable by others, or when the pair does
 * not belong together. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <cmocka.h>
#include <ftw.h>
#include <sys/stat.h>
#include <time.h>

#include "sign.h"

static char root[64];
static char *key, *cert, *key2, *cert2;

static int rm_cb(const char *p, const struct stat *st, int flag, struct FTW *ftw) {
        return remove(p);
}

static int make_pair(const char *k, const char *c, const char *cn) {
        _cleanup_free_ char *cmd = xasprintf(
                "openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 2 "
                "-subj /CN=%s -addext keyUsage=critical,digitalSignature,keyCertSign "
                "-keyout '%s' -out '%s' 2>/dev/null", cn, k, c);
        if (system(cmd) != 0)
                return -1;
        return chmod(k, 0600);
}

static int group_setup(void **state) {
        snprintf(root, sizeof(root), "/tmp/fsxds-test-sign-XXXXXX");
        if (!mkdtemp(root))
                return -1;
        key = xasprintf("%s/key.pem", root);
        cert = xasprintf("%s/cert.pem", root);
        key2 = xasprintf("%s/key2.pem", root);
        cert2 = xasprintf("%s/cert2.pem", root);
        if (make_pair(key, cert, "fsxds-test") < 0 || make_pair(key2, cert2, "fsxds-other") < 0) {
                fprintf(stderr, "cannot make a key and certificate with openssl(1)\n");
                return -1;
        }
        return 0;
}

static int group_teardown(void **state) {
        nftw(root, rm_cb, 16, FTW_DEPTH | FTW_PHYS);
        free(key);
        free(cert);
        free(key2);
        free(cert2);
        return 0;
}

static Signer *load(const char *k, const char *c) {
        Signer *s = NULL;
        _cleanup_free_ char *error = NULL;
        int r = signer_load(k, c, NULL, &error, &s);
        if (r < 0)
                fail_msg("signer_load: %d %s", r, error);
        return s;
}

static const char data[] = "{\"files\": {\"lds/lds.pb\": \"0123\"}}\n";

static void test_load_subject_and_validity(void **state) {
        _cleanup_(signer_freep) Signer *s = load(key, cert);
        assert_string_equal(signer_subject(s), "CN=fsxds-test");
        int64_t now = (int64_t) time(NULL);
        /* -days 2 */
        assert_true(signer_not_after(s) > now + 86400);
        assert_true(signer_not_after(s) <= now + 2 * 86400 + 60);
}

static void test_sign_verify(void **state) {
        _cleanup_(signer_freep) Signer *s = load(key, cert);
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;
        assert_int_equal(signer_sign(s, data, strlen(data), &sig, &sig_len), 0);
        assert_true(sig_len > 0);
        assert_int_equal(sig[0], 0x30); /* a DER SEQUENCE */

        _cleanup_free_ char *signer = NULL, *error = NULL;
        assert_int_equal(signature_verify(data, strlen(data), sig, sig_len, cert, NULL, &signer, &error), 0);
        assert_null(error);
        assert_string_equal(signer, "CN=fsxds-test");
        /* ret_signer is optional */
        assert_int_equal(signature_verify(data, strlen(data), sig, sig_len, cert, NULL, NULL, &error), 0);
        /* the daemon recognising its own signature */
        assert_int_equal(signature_verify(data, strlen(data), sig, sig_len, NULL, s, NULL, &error), 0);
}

static void test_tampered_data_fails(void **state) {
        _cleanup_(signer_freep) Signer *s = load(key, cert);
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;
        assert_int_equal(signer_sign(s, data, strlen(data), &sig, &sig_len), 0);

        char tampered[sizeof data];
        memcpy(tampered, data, sizeof data);
        tampered[20] ^= 1;
        _cleanup_free_ char *signer = NULL, *error = NULL;
        assert_int_equal(signature_verify(tampered, strlen(tampered), sig, sig_len, cert, NULL, &signer, &error), -EBADMSG);
        assert_null(signer);
        assert_non_null(error);
        assert_true(startswith(error, "signature check failed"));
}

static void test_tampered_signature_fails(void **state) {
        _cleanup_(signer_freep) Signer *s = load(key, cert);
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;
        assert_int_equal(signer_sign(s, data, strlen(data), &sig, &sig_len), 0);

        _cleanup_free_ char *error = NULL;
        /* cut short: no longer one DER structure */
        assert_int_equal(signature_verify(data, strlen(data), sig, sig_len - 1, cert, NULL, NULL, &error), -EBADMSG);
        assert_string_equal(error, "the signature is not one DER-encoded CMS structure");
        /* the last byte of the signature value changed */
        sig[sig_len - 1] ^= 0x01;
        _cleanup_free_ char *error2 = NULL;
        assert_int_equal(signature_verify(data, strlen(data), sig, sig_len, cert, NULL, NULL, &error2), -EBADMSG);
        assert_true(startswith(error2, "signature check failed"));
}

static void test_other_ca_or_other_signer_fails(void **state) {
        _cleanup_(signer_freep) Signer *s = load(key, cert);
        _cleanup_(signer_freep) Signer *other = load(key2, cert2);
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;
        assert_int_equal(signer_sign(s, data, strlen(data), &sig, &sig_len), 0);

        _cleanup_free_ char *error = NULL;
        assert_int_equal(signature_verify(data, strlen(data), sig, sig_len, cert2, NULL, NULL, &error), -EBADMSG);
        assert_true(startswith(error, "signature check failed"));

        _cleanup_free_ char *error2 = NULL;
        assert_int_equal(signature_verify(data, strlen(data), sig, sig_len, NULL, other, NULL, &error2), -EBADMSG);
        assert_string_equal(error2, "signed by CN=fsxds-test, not by this daemon's certificate (CN=fsxds-other)");
}

static void test_same(void **state) {
        _cleanup_(signer_freep) Signer *a = load(key, cert);
        _cleanup_(signer_freep) Signer *b = load(key, cert);
        _cleanup_(signer_freep) Signer *c = load(key2, cert2);
        assert_true(signer_same(a, b));
        assert_false(signer_same(a, c));
}

static void test_group_readable_key_refused(void **state) {
        assert_int_equal(chmod(key, 0640), 0);
        Signer *s = NULL;
        _cleanup_free_ char *error = NULL;
        int r = signer_load(key, cert, NULL, &error, &s);
        assert_int_equal(chmod(key, 0600), 0);
        assert_int_equal(r, -EBADMSG);
        assert_null(s);
        _cleanup_free_ char *expected = xasprintf(
                "%s: private key is accessible by group or others (mode 0640); "
                "make it readable by its owner only (chmod 0600)", key);
        assert_string_equal(error, expected);
}

static void test_key_of_another_cert_refused(void **state) {
        Signer *s = NULL;
        _cleanup_free_ char *error = NULL;
        assert_int_equal(signer_load(key2, cert, NULL, &error, &s), -EBADMSG);
        assert_null(s);
        _cleanup_free_ char *expected = xasprintf("%s (CN=fsxds-test) does not belong to the private key %s", cert, key2);
        assert_string_equal(error, expected);
}

static void test_missing_key(void **state) {
        Signer *s = NULL;
        _cleanup_free_ char *error = NULL;
        _cleanup_free_ char *missing = xasprintf("%s/none.pem", root);
        assert_int_equal(signer_load(missing, cert, NULL, &error, &s), -ENOENT);
        assert_null(s);
        _cleanup_free_ char *expected = xasprintf("%s: %s", missing, strerror(ENOENT));
        assert_string_equal(error, expected);
}

static char *write_garbage(const char *name) {
        char *path = xasprintf("%s/%s", root, name);
        static const char text[] = "-----BEGIN CERTIFICATE-----\nbm90IGEgY2VydGlmaWNhdGU=\n-----END CERTIFICATE-----\n";
        assert_int_equal(write_file_atomic(path, text, sizeof(text) - 1, 0644), 0);
        return path;
}

static void test_cert_not_pem_refused(void **state) {
        _cleanup_free_ char *bad = write_garbage("bad-cert.pem");
        Signer *s = NULL;
        _cleanup_free_ char *error = NULL;
        assert_int_equal(signer_load(key, bad, NULL, &error, &s), -EBADMSG);
        assert_null(s);
        _cleanup_free_ char *prefix = xasprintf("%s: not a PEM certificate", bad);
        assert_true(startswith(error, prefix));
}

static void test_unloadable_ca_file(void **state) {
        _cleanup_(signer_freep) Signer *s = load(key, cert);
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;
        assert_int_equal(signer_sign(s, data, strlen(data), &sig, &sig_len), 0);
        _cleanup_free_ char *bad = write_garbage("bad-ca.pem");
        _cleanup_free_ char *signer = NULL, *error = NULL;
        assert_int_equal(signature_verify(data, strlen(data), sig, sig_len, bad, NULL, &signer, &error), -EBADMSG);
        assert_null(signer);
        _cleanup_free_ char *prefix = xasprintf("%s: cannot load CA certificates", bad);
        assert_true(startswith(error, prefix));
}

int main(void) {
        const struct CMUnitTest tests[] = {
                cmocka_unit_test(test_load_subject_and_validity),
                cmocka_unit_test(test_sign_verify),
                cmocka_unit_test(test_tampered_data_fails),
                cmocka_unit_test(test_tampered_signature_fails),
                cmocka_unit_test(test_other_ca_or_other_signer_fails),
                cmocka_unit_test(test_same),
                cmocka_unit_test(test_group_readable_key_refused),
                cmocka_unit_test(test_key_of_another_cert_refused),
                cmocka_unit_test(test_missing_key),
                cmocka_unit_test(test_cert_not_pem_refused),
                cmocka_unit_test(test_unloadable_ca_file),
        };
        return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
