/* SPDX-License-Identifier: MIT */
/* sign and verify: a source tree's signed MANIFEST written, and a node
 * directory or a source tree checked against its signed MANIFEST. */
#include <fcntl.h>
#include <inttypes.h>
#include <sys/stat.h>
#include <time.h>

#include "cli.h"
#include "manifest.h"
#include "sign.h"

const char usage_verify[] =
        "Usage: fsxds verify [--ca CA.pem] DIR\n"
        "\n"
        "Checks DIR, a node directory fsxdsd published or a source tree signed\n"
        "with 'fsxds sign', against its MANIFEST and MANIFEST.sig:\n"
        "  - the signature is over MANIFEST's bytes and its signer's chain leads to\n"
        "    a CA of CA.pem (without --ca: OpenSSL's default trusted certificates,\n"
        "    as 'openssl cms -verify' does), any extended key usage, valid now;\n"
        "  - MANIFEST is canonical JSON of a known format and, for a node, names\n"
        "    the directory's node;\n"
        "  - every file listed exists with the listed size and sha256, and no\n"
        "    other live .pb (node) or source file (tree) is present;\n"
        "  - in watched_directory mode, every type directory's \"..data\" points to\n"
        "    the generation directory listed.\n"
        "Prints every problem, file by file. A node being published right now is\n"
        "read again once its MANIFEST has been replaced.\n"
        "\n"
        "Options:\n"
        "      --ca FILE       trusted CA certificates (PEM)\n"
        "  -h, --help          show this help\n"
        "\n"
        "Exit status: 0 when everything holds, 1 when something does not, 2 on\n"
        "usage errors or when DIR cannot be read.\n";

const char usage_sign[] =
        "Usage: fsxds sign --key KEY --cert CERT [--chain CHAIN] SRC_DIR\n"
        "\n"
        "Writes SRC_DIR/MANIFEST, canonical JSON listing every source file fsxdsd\n"
        "would read (*.yaml, *.yml, *.json) with its size and sha256, and\n"
        "SRC_DIR/MANIFEST.sig, a detached CMS signature of it (DER) made with KEY\n"
        "and CERT (PEM), CHAIN's certificates included. fsxdsd configured with\n"
        "require_signed_sources compiles the tree only while this signature\n"
        "verifies against its CA and the files are exactly the ones listed.\n"
        "KEY must be readable by its owner only; CERT must belong to it, be valid\n"
        "now and allow digitalSignature.\n"
        "\n"
        "Options:\n"
        "      --key FILE      private key (RSA, ECDSA)\n"
        "      --cert FILE     its certificate\n"
        "      --chain FILE    intermediate certificates to include\n"
        "  -h, --help          show this help\n";

typedef struct VerifyProblems {
        const char *dir;
        Buf text;
        size_t n;
} VerifyProblems;

static void verify_problem(void *userdata, const char *path, const char *message) {
        VerifyProblems *v = userdata;
        buf_printf(&v->text, "%s/%s: %s\n", v->dir, path, message);
        v->n++;
}

/* One pass over DIR; what it found goes to v, what was verified to
 * ret_summary. Returns 0, or -errno when DIR or its MANIFEST cannot be
 * read at all. */
static int verify_once(const char *dir, const char *ca, VerifyProblems *v, char **ret_summary, ino_t *ret_ino) {
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
        if (fd < 0)
                return -errno;
        _cleanup_free_ char *data = NULL, *signer = NULL, *error = NULL;
        _cleanup_free_ uint8_t *sig = NULL;
        size_t len = 0, sig_len = 0;
        int r = manifest_read_pair(fd, &data, &len, &sig, &sig_len);
        if (r < 0)
                return r;
        struct stat st;
        *ret_ino = fstatat(fd, MANIFEST_NAME, &st, 0) == 0 ? st.st_ino : 0;
        if (!sig)
                verify_problem(v, MANIFEST_SIG_NAME, "missing");
        else if (signature_verify(data, len, sig, sig_len, ca, NULL, &signer, &error) < 0) {
                if (error && startswith(error, ca ? ca : "\x01"))
                        return -EIO; /* the CA file itself */
                verify_problem(v, MANIFEST_SIG_NAME, error);
        }
        Manifest listed = {}, scanned = {};
        free(error);
        error = NULL;
        if (manifest_parse(data, len, &listed, &error) < 0) {
                verify_problem(v, MANIFEST_NAME, error);
                return 0;
        }
        if (listed.kind == MANIFEST_KIND_NODE) {
                _cleanup_free_ char *abs = realpath(dir, NULL);
                const char *base = abs ? strrchr(abs, '/') : NULL;
                if (base && !streq(base + 1, listed.node)) {
                        _cleanup_free_ char *m = xasprintf("lists node %s's files, but the directory is %s", listed.node,
                                                           base + 1);
                        verify_problem(v, MANIFEST_NAME, m);
                }
                r = manifest_scan_node(fd, NULL, verify_problem, v, &scanned);
        } else
                r = manifest_scan_sources(dir, verify_problem, v, &scanned);
        if (r >= 0)
                manifest_compare(&listed, &scanned, verify_problem, v);
        if (listed.kind == MANIFEST_KIND_NODE)
                *ret_summary = xasprintf("node %s, generation %" PRIu64 ", %zu files, signed by %s", listed.node,
                                         listed.generation, listed.n_files, signer ? signer : "?");
        else
                *ret_summary = xasprintf("source tree, %zu files, signed by %s", listed.n_files, signer ? signer : "?");
        manifest_done(&listed);
        manifest_done(&scanned);
        return r;
}

int verb_verify(int argc, char **argv, const Options *o) {
        char *dir = argv[0];
        const char *ca = o->ca;
        /* "dir/" would resolve a symlink at dir */
        for (size_t n = strlen(dir); n > 1 && dir[n - 1] == '/'; n--)
                dir[n - 1] = 0;
        struct stat st;
        if (lstat(dir, &st) < 0) {
                fprintf(stderr, "fsxds: %s: %m\n", dir);
                return EXIT_USAGE;
        }
        /* a node directory replaced by a symlink would read another's MANIFEST */
        if (S_ISLNK(st.st_mode)) {
                fprintf(stderr, "fsxds: %s: is a symlink, not followed (give the directory itself)\n", dir);
                return EXIT_USAGE;
        }
        if (!S_ISDIR(st.st_mode)) {
                fprintf(stderr, "fsxds: %s: not a directory\n", dir);
                return EXIT_USAGE;
        }
        for (unsigned attempt = 0;; attempt++) {
                VerifyProblems v = { .dir = dir };
                _cleanup_free_ char *summary = NULL;
                ino_t ino = 0;
                int r = verify_once(dir, ca, &v, &summary, &ino);
                if (r < 0) {
                        buf_free(&v.text);
                        if (r == -ENOENT)
                                fprintf(stderr, "fsxds: %s/%s: missing\n", dir, MANIFEST_NAME);
                        else if (r == -EIO)
                                fprintf(stderr, "fsxds: %s: cannot load the CA certificates\n", ca);
                        else
                                fprintf(stderr, "fsxds: %s: %s\n", dir, strerror(-r));
                        return r == -ENOENT ? EXIT_BAD_INPUT : EXIT_USAGE;
                }
                /* fsxdsd writes MANIFEST after a generation's files: a
                 * mismatch while it publishes is read again once MANIFEST
                 * has been replaced */
                if (v.n > 0 && attempt < 5) {
                        struct timespec ts = { 0, 300 * 1000 * 1000 };
                        nanosleep(&ts, NULL);
                        _cleanup_free_ char *p = path_join(dir, MANIFEST_NAME);
                        if (stat(p, &st) == 0 && st.st_ino != ino) {
                                buf_free(&v.text);
                                continue;
                        }
                }
                if (v.n > 0) {
                        fwrite(v.text.data, 1, v.text.len, stdout);
                        printf("%s: verification FAILED (%zu problem%s)\n", dir, v.n, v.n == 1 ? "" : "s");
                } else
                        printf("%s: verified: %s\n", dir, summary);
                buf_free(&v.text);
                return v.n > 0 ? EXIT_BAD_INPUT : EXIT_OK;
        }
}

typedef struct SignScan {
        const char *dir;
        bool failed;
} SignScan;

static void sign_problem(void *userdata, const char *path, const char *message) {
        SignScan *s = userdata;
        fprintf(stderr, "fsxds: %s/%s: %s\n", s->dir, path, message);
        s->failed = true;
}

int verb_sign(int argc, char **argv, const Options *o) {
        const char *dir = argv[0];
        _cleanup_free_ char *error = NULL;
        _cleanup_(signer_freep) Signer *signer = NULL;
        int r = signer_load(o->key, o->cert, o->chain, &error, &signer);
        if (r < 0) {
                fprintf(stderr, "fsxds: %s\n", error ? error : strerror(-r));
                return r == -EBADMSG ? EXIT_BAD_INPUT : EXIT_USAGE;
        }
        _cleanup_close_ int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (fd < 0) {
                fprintf(stderr, "fsxds: %s: %m\n", dir);
                return EXIT_USAGE;
        }
        SignScan ctx = { dir, false };
        Manifest m = { .kind = MANIFEST_KIND_SOURCE };
        r = manifest_scan_sources(dir, sign_problem, &ctx, &m);
        if (r < 0 || ctx.failed) {
                if (r < 0)
                        fprintf(stderr, "fsxds: %s: %s\n", dir, strerror(-r));
                manifest_done(&m);
                return EXIT_USAGE;
        }
        struct timespec now;
        clock_gettime(CLOCK_REALTIME, &now);
        m.created_usec = (uint64_t) now.tv_sec * 1000000 + (uint64_t) now.tv_nsec / 1000;
        Buf b = {};
        manifest_format(&m, &b);
        _cleanup_free_ uint8_t *sig = NULL;
        size_t sig_len = 0;
        r = signer_sign(signer, b.data, b.len, &sig, &sig_len);
        if (r >= 0)
                r = manifest_write_pair(fd, b.data, b.len, sig, sig_len, 0644, (gid_t) -1, true);
        buf_free(&b);
        if (r < 0) {
                fprintf(stderr, "fsxds: cannot write %s/%s: %s\n", dir, MANIFEST_NAME, strerror(-r));
                manifest_done(&m);
                return EXIT_USAGE;
        }
        printf("%s: signed %zu source files as %s\n", dir, m.n_files, signer_subject(signer));
        manifest_done(&m);
        return EXIT_OK;
}
