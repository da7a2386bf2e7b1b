/* SPDX-License-Identifier: MIT */
/* Detached CMS signatures with OpenSSL 3: loading and checking the signing
 * pair, signing, and verifying against a CA as `openssl cms -verify
 * -purpose any` does. */
#include <fcntl.h>
#include <inttypes.h>
#include <openssl/bio.h>
#include <openssl/cms.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>
#include <sys/stat.h>

#include "logging.h"
#include "sign.h"

/* what a key, certificate or chain file may weigh */
#define PEM_FILE_MAX (1u << 20)

struct Signer {
        EVP_PKEY *key;
        X509 *cert;
        STACK_OF(X509) *chain;
        char *subject;
        int64_t not_after;
};

DEFINE_TRIVIAL_CLEANUP_FUNC(BIO *, BIO_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(X509_STORE *, X509_STORE_free);
DEFINE_TRIVIAL_CLEANUP_FUNC(CMS_ContentInfo *, CMS_ContentInfo_free);

char *openssl_errors(const char *what) {
        Buf b = {};
        buf_printf(&b, "%s", what);
        unsigned long e;
        const char *data;
        int flags;
        while ((e = ERR_get_error_all(NULL, NULL, NULL, &data, &flags)) != 0) {
                const char *reason = ERR_reason_error_string(e);
                buf_printf(&b, ": %s", reason ? reason : "unknown error");
                if (data && *data && (flags & ERR_TXT_STRING))
                        buf_printf(&b, " (%s)", data);
        }
        return buf_steal_str(&b);
}

static char *name_string(const X509_NAME *n) {
        _cleanup_(BIO_freep) BIO *b = BIO_new(BIO_s_mem());
        if (!b || X509_NAME_print_ex(b, n, 0, XN_FLAG_RFC2253) < 0)
                return xstrdup("?");
        char *p;
        long len = BIO_get_mem_data(b, &p);
        return xstrndup(p, (size_t) MAX(len, 0));
}

/* A PEM file's bytes; a secret one (the private key) is cleansed before
 * it is freed. */
typedef struct PemFile {
        uint8_t *data;
        size_t len;
        bool secret;
        BIO *bio; /* reads data in place: no copy of it is made */
} PemFile;

static void pem_file_done(PemFile *f) {
        BIO_free(f->bio);
        if (f->data && f->secret)
                OPENSSL_cleanse(f->data, f->len);
        free(f->data);
        *f = (PemFile) {};
}

static int read_pem_file(const char *path, bool secret, char **ret_error, PemFile *ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY);
        if (fd < 0) {
                int r = -errno;
                *ret_error = xasprintf("%s: %s", path, strerror(-r));
                return r;
        }
        struct stat st;
        if (fstat(fd, &st) < 0)
                return -errno;
        if (secret && (st.st_mode & 0077)) {
                *ret_error = xasprintf("%s: private key is accessible by group or others (mode %04o); "
                                       "make it readable by its owner only (chmod 0600)",
                                       path, (unsigned) (st.st_mode & 07777));
                return -EBADMSG;
        }
        /* one allocation of the file's size: nothing to cleanse elsewhere */
        PemFile f = { .secret = secret };
        int r = read_regular_fd(fd, PEM_FILE_MAX, &f.data, &f.len);
        if (r < 0) {
                char limit[FORMAT_BYTES_MAX];
                *ret_error = xasprintf("%s: not a regular file of at most %s", path, format_bytes(PEM_FILE_MAX, limit));
                return -EBADMSG;
        }
        f.bio = BIO_new_mem_buf(f.data, (int) f.len);
        if (!f.bio) {
                pem_file_done(&f);
                return -ENOMEM;
        }
        *ret = f;
        return 0;
}

static int no_passphrase(char *buf, int size, int rwflag, void *u) {
        return -1;
}

Signer *signer_free(Signer *s) {
        if (!s)
                return NULL;
        EVP_PKEY_free(s->key);
        X509_free(s->cert);
        if (s->chain)
                sk_X509_pop_free(s->chain, X509_free);
        free(s->subject);
        free(s);
        return NULL;
}

/* "2026-12-26 13:05:38 UTC" */
static char *asn1_time_string(const ASN1_TIME *t) {
        struct tm tm = {};
        char buf[64];
        if (!t || ASN1_TIME_to_tm(t, &tm) != 1 || strftime(buf, sizeof buf, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
                return xstrdup("?");
        return xstrdup(buf);
}

static int64_t asn1_time_unix(const ASN1_TIME *t) {
        struct tm tm = {};
        if (!t || ASN1_TIME_to_tm(t, &tm) != 1)
                return 0;
        return (int64_t) timegm(&tm);
}

int signer_load(const char *key, const char *cert, const char *chain, char **ret_error, Signer **ret) {
        _cleanup_(signer_freep) Signer *s = xcalloc(1, sizeof(Signer));
        _cleanup_(pem_file_done) PemFile kf = {}, cf = {}, chf = {};
        int r = read_pem_file(key, true, ret_error, &kf);
        if (r < 0)
                return r;
        s->key = PEM_read_bio_PrivateKey(kf.bio, NULL, no_passphrase, NULL);
        pem_file_done(&kf); /* the key lives in s->key only from here on */
        if (!s->key) {
                ERR_clear_error(); /* the reasons may quote the file */
                *ret_error = xasprintf("%s: not an unencrypted PEM private key", key);
                return -EBADMSG;
        }
        int id = EVP_PKEY_get_base_id(s->key);
        if (id != EVP_PKEY_RSA && id != EVP_PKEY_EC && id != EVP_PKEY_ED25519) {
                *ret_error = xasprintf("%s: key type %s is not supported (RSA, ECDSA or Ed25519)", key,
                                       OBJ_nid2sn(id));
                return -EBADMSG;
        }
        r = read_pem_file(cert, false, ret_error, &cf);
        if (r < 0)
                return r;
        s->cert = PEM_read_bio_X509(cf.bio, NULL, no_passphrase, NULL);
        if (!s->cert) {
                _cleanup_free_ char *what = xasprintf("%s: not a PEM certificate", cert);
                *ret_error = openssl_errors(what);
                return -EBADMSG;
        }
        s->subject = name_string(X509_get_subject_name(s->cert));
        s->not_after = asn1_time_unix(X509_get0_notAfter(s->cert));
        if (X509_check_private_key(s->cert, s->key) != 1) {
                ERR_clear_error();
                *ret_error = xasprintf("%s (%s) does not belong to the private key %s", cert, s->subject, key);
                return -EBADMSG;
        }
        if (X509_cmp_current_time(X509_get0_notAfter(s->cert)) <= 0) {
                _cleanup_free_ char *when = asn1_time_string(X509_get0_notAfter(s->cert));
                *ret_error = xasprintf("%s (%s) expired on %s", cert, s->subject, when);
                return -EBADMSG;
        }
        if (X509_cmp_current_time(X509_get0_notBefore(s->cert)) >= 0) {
                _cleanup_free_ char *when = asn1_time_string(X509_get0_notBefore(s->cert));
                *ret_error = xasprintf("%s (%s) is not valid before %s", cert, s->subject, when);
                return -EBADMSG;
        }
        if ((X509_get_extension_flags(s->cert) & EXFLAG_KUSAGE) &&
            !(X509_get_key_usage(s->cert) & KU_DIGITAL_SIGNATURE)) {
                *ret_error = xasprintf("%s (%s): keyUsage lacks digitalSignature", cert, s->subject);
                return -EBADMSG;
        }
        s->chain = sk_X509_new_null();
        if (!s->chain)
                return -ENOMEM;
        if (chain) {
                r = read_pem_file(chain, false, ret_error, &chf);
                if (r < 0)
                        return r;
                X509 *x;
                while ((x = PEM_read_bio_X509(chf.bio, NULL, no_passphrase, NULL)))
                        if (!sk_X509_push(s->chain, x)) {
                                X509_free(x);
                                return -ENOMEM;
                        }
                ERR_clear_error(); /* the end of the file */
                if (sk_X509_num(s->chain) == 0) {
                        *ret_error = xasprintf("%s: no PEM certificate in the chain file", chain);
                        return -EBADMSG;
                }
        }
        /* OpenSSL 3.0 cannot make (or check) CMS signatures with Ed25519
         * keys (openssl/openssl#13523): find out now, not at the first
         * generation */
        uint8_t *probe;
        size_t probe_len;
        if (signer_sign(s, "", 0, &probe, &probe_len) < 0) {
                *ret_error = xasprintf("%s: %s cannot make CMS signatures with %s keys; use an ECDSA (P-256, P-384) "
                                       "or RSA key", key, OpenSSL_version(OPENSSL_VERSION), OBJ_nid2sn(id));
                return -EBADMSG;
        }
        free(probe);
        *ret = TAKE_PTR(s);
        return 0;
}

int signer_sign(const Signer *s, const void *data, size_t len, uint8_t **ret, size_t *ret_len) {
        _cleanup_(BIO_freep) BIO *in = BIO_new_mem_buf(data, (int) len);
        if (!in || len > INT32_MAX)
                return -EIO;
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms =
                CMS_sign(s->cert, s->key, s->chain, in, CMS_DETACHED | CMS_BINARY | CMS_NOSMIMECAP);
        if (!cms) {
                _cleanup_free_ char *e = openssl_errors("CMS_sign");
                log_debug(NULL, "%s", e);
                return -EIO;
        }
        unsigned char *der = NULL;
        int n = i2d_CMS_ContentInfo(cms, &der);
        if (n <= 0) {
                ERR_clear_error();
                return -EIO;
        }
        *ret = xmalloc((size_t) n);
        memcpy(*ret, der, (size_t) n);
        OPENSSL_free(der);
        *ret_len = (size_t) n;
        return 0;
}

const char *signer_subject(const Signer *s) {
        return s->subject;
}

int64_t signer_not_after(const Signer *s) {
        return s->not_after;
}

static bool in_stack(STACK_OF(X509) *certs, X509 *x) {
        for (int i = 0; i < sk_X509_num(certs); i++)
                if (X509_cmp(sk_X509_value(certs, i), x) == 0)
                        return true;
        return false;
}

/* The certificates a signature made by s carries: its certificate and
 * chain, no other. */
static bool carries_exactly(const Signer *s, STACK_OF(X509) *certs) {
        if (!certs || sk_X509_num(certs) != 1 + sk_X509_num(s->chain) || !in_stack(certs, s->cert))
                return false;
        for (int i = 0; i < sk_X509_num(s->chain); i++)
                if (!in_stack(certs, sk_X509_value(s->chain, i)))
                        return false;
        return true;
}

bool signer_same(const Signer *a, const Signer *b) {
        if (!a || !b || X509_cmp(a->cert, b->cert) != 0 || sk_X509_num(a->chain) != sk_X509_num(b->chain))
                return false;
        for (int i = 0; i < sk_X509_num(a->chain); i++)
                if (!in_stack(b->chain, sk_X509_value(a->chain, i)))
                        return false;
        return true;
}

int signature_verify(const void *data, size_t len, const void *sig, size_t sig_len, const char *ca_file,
                     const Signer *own, char **ret_signer, char **ret_error) {
        if (len > INT32_MAX || sig_len > INT32_MAX) {
                *ret_error = xstrdup("too large");
                return -EBADMSG;
        }
        const unsigned char *p = sig;
        _cleanup_(CMS_ContentInfo_freep) CMS_ContentInfo *cms = d2i_CMS_ContentInfo(NULL, &p, (long) sig_len);
        if (!cms || p != (const unsigned char *) sig + sig_len) {
                ERR_clear_error();
                *ret_error = xstrdup("the signature is not one DER-encoded CMS structure");
                return -EBADMSG;
        }
        _cleanup_(X509_STORE_freep) X509_STORE *store = X509_STORE_new();
        if (!store)
                return -ENOMEM;
        unsigned flags = CMS_BINARY;
        if (own)
                flags |= CMS_NO_SIGNER_CERT_VERIFY;
        else if (ca_file) {
                if (access(ca_file, R_OK) < 0) {
                        int r = -errno;
                        *ret_error = xasprintf("%s: %s", ca_file, strerror(-r));
                        return r;
                }
                if (X509_STORE_load_file(store, ca_file) != 1) {
                        _cleanup_free_ char *what = xasprintf("%s: cannot load CA certificates", ca_file);
                        *ret_error = openssl_errors(what);
                        return -EBADMSG;
                }
        } else if (X509_STORE_set_default_paths(store) != 1) {
                *ret_error = openssl_errors("cannot load the default trusted certificates");
                return -EBADMSG;
        }
        X509_STORE_set_purpose(store, X509_PURPOSE_ANY);
        _cleanup_(BIO_freep) BIO *content = BIO_new_mem_buf(data, (int) len);
        if (!content)
                return -ENOMEM;
        if (CMS_verify(cms, NULL, store, content, NULL, flags) != 1) {
                *ret_error = openssl_errors("signature check failed");
                return -EBADMSG;
        }
        STACK_OF(X509) *signers = CMS_get0_signers(cms);
        X509 *signer = signers && sk_X509_num(signers) > 0 ? sk_X509_value(signers, 0) : NULL;
        bool ok = signer && sk_X509_num(signers) == 1 && (!own || X509_cmp(signer, own->cert) == 0);
        _cleanup_free_ char *subject = signer ? name_string(X509_get_subject_name(signer)) : xstrdup("?");
        sk_X509_free(signers);
        if (!ok) {
                *ret_error = own ? xasprintf("signed by %s, not by this daemon's certificate (%s)", subject, own->subject)
                                 : xstrdup("expected exactly one signer");
                return -EBADMSG;
        }
        if (own) {
                /* a signature carrying another chain than the configured
                 * one is stale too: verifiers build the path from it */
                STACK_OF(X509) *certs = CMS_get1_certs(cms);
                ok = carries_exactly(own, certs);
                if (certs)
                        sk_X509_pop_free(certs, X509_free);
                if (!ok) {
                        *ret_error = xstrdup("made with another certificate chain than the configured one");
                        return -EBADMSG;
                }
        }
        if (ret_signer)
                *ret_signer = TAKE_PTR(subject);
        return 0;
}
