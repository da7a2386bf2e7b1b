# SPDX-License-Identifier: MIT
"""Real X.509 test PKIs made with the `openssl` command-line tool (python3
stdlib only; written against OpenSSL 3.0).

    import pki
    p = pki.make(tmpdir, "p256")          # tmpdir/test/{ca,int,leaf,...}.{key,pem}
    key, cert = pki.new_leaf(p, "rotated")

A PKI is a self-signed root CA, an intermediate CA (pathlen:0) signed by it,
and leaves signed by the intermediate, all of one key type (KEY_TYPES). The
leaves are meant for detached CMS signatures that are checked with

    openssl cms -verify -binary -inform DER -content DATA -in SIG \\
        -CAfile ca.pem -purpose any

(`-purpose any` because the leaves carry extendedKeyUsage codeSigning,
which the default smimesign purpose would refuse).

Every certificate is issued with `openssl ca` from a small CA database kept
under DIR/NAME/openssl-ca/ (root/ and int/), because OpenSSL 3.0's
`openssl x509` and `openssl req -x509` cannot set a notBefore in the past:
leaves start a day ago (so a clock that lags a little does not matter) and
the expired leaf lives entirely in 2020. The root and the intermediate are
valid from 2019-01-01 for ten years from now, so the expired leaf was
issued inside its issuer's validity and fails only because of its own
dates (it verifies with `-attime` inside 2020-01-01..02).

Private keys are mode 0600, certificates 0644. An openssl failure raises
OpensslError with openssl's stderr.

Also here: sign() and verify() (detached DER CMS with `openssl cms`, as
above), verify_cert() (`openssl verify -purpose any`) and cms_supported().
Ed25519: the certificates are fine, but OpenSSL 3.0's CMS code has no
Ed25519 (RFC 8419) at all: `openssl cms -sign`, and CMS_sign(), fail with
"no default digest"; with -md sha512 signing, and verifying even a
well-formed RFC 8419 signature, fail in eddsa_digest_signverify_init with
"invalid digest". cms_supported("ed25519") probes this once; tests skip
Ed25519 CMS signing when it is False.

`python3 pki.py` runs a self-test over every key type.
"""
import datetime
import os
import subprocess
import sys
import tempfile
import time

KEY_TYPES = ("rsa", "p256", "p384", "ed25519")

OPENSSL = os.environ.get("FSXDS_TEST_OPENSSL", "openssl")

LEAF_CN = "fsxds-test-leaf"

# the validity of the root and the intermediate starts here (before the
# expired leaf's), and of the expired leaf: openssl ca -startdate/-enddate
CA_START = datetime.datetime(2019, 1, 1, tzinfo=datetime.timezone.utc)
CA_DAYS = 3650
EXPIRED_START = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
EXPIRED_END = datetime.datetime(2020, 1, 2, tzinfo=datetime.timezone.utc)

_GENPKEY = {
    "rsa": ["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
    "p256": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
    "p384": ["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-384"],
    "ed25519": ["-algorithm", "ED25519"],
}

# v3 extension sections, used with `openssl ca -extfile EXT -extensions S`
_EXTENSIONS = """\
[root]
basicConstraints = critical,CA:true
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash

[int]
basicConstraints = critical,CA:true,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[leaf]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[server]
basicConstraints = critical,CA:false
keyUsage = critical,digitalSignature
extendedKeyUsage = serverAuth
subjectAltName = IP:127.0.0.1,DNS:localhost
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always

[nosign]
basicConstraints = critical,CA:false
keyUsage = critical,keyEncipherment
extendedKeyUsage = codeSigning
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
"""

# a config of its own for `openssl req` and `openssl ca`, so that nothing
# depends on the system's openssl.cnf (its req/ca defaults and extensions)
_CA_CONFIG = """\
[ca]
default_ca = CA_default

[CA_default]
dir = {dir}
database = $dir/index.txt
new_certs_dir = $dir/newcerts
serial = $dir/serial
default_md = {md}
policy = policy_any
unique_subject = no
copy_extensions = none
email_in_dn = no
preserve = no

[policy_any]
commonName = supplied
organizationName = optional
organizationalUnitName = optional

[req]
distinguished_name = req_dn
prompt = no
utf8 = yes

[req_dn]
CN = unused
"""


class OpensslError(RuntimeError):
    pass


class Pki:
    """A test PKI; every attribute but key_type is an absolute path."""

    def __init__(self, dir, key_type):
        self.dir = dir
        self.key_type = key_type
        j = lambda f: os.path.join(dir, f)  # noqa: E731
        self.ca_key, self.ca_cert = j("ca.key"), j("ca.pem")
        self.int_key, self.int_cert = j("int.key"), j("int.pem")
        self.leaf_key, self.leaf_cert = j("leaf.key"), j("leaf.pem")
        self.chain = j("chain.pem")
        self.expired_key, self.expired_cert = j("expired.key"), j("expired.pem")
        self.no_sign_key, self.no_sign_cert = j("nosign.key"), j("nosign.pem")
        self._ca_dir = j("openssl-ca")

    def __repr__(self):
        return "Pki(%r, %r)" % (self.dir, self.key_type)


def run(*args, **kw):
    """Runs openssl with ARGS; raises OpensslError (with its stderr) unless
    it exits 0. Returns the CompletedProcess."""
    cmd = [OPENSSL] + [str(a) for a in args]
    try:
        return subprocess.run(cmd, check=True, capture_output=True, stdin=subprocess.DEVNULL, **kw)
    except subprocess.CalledProcessError as e:
        raise OpensslError("%s failed (exit %d):\n%s%s" % (
            " ".join(cmd), e.returncode, e.stderr.decode("utf-8", "replace"),
            e.stdout.decode("utf-8", "replace"))) from None
    except FileNotFoundError:
        raise OpensslError("%s: the openssl command-line tool is not installed" % OPENSSL) from None


def _asn1_time(t):
    # GeneralizedTime form; openssl ca stores it as UTCTime when it fits
    return t.astimezone(datetime.timezone.utc).strftime("%Y%m%d%H%M%SZ")


def _write(path, text, mode=0o644):
    with open(path, "w") as f:
        f.write(text)
    os.chmod(path, mode)


def _genkey(key_type, path):
    # created 0600 before openssl opens it (fopen keeps an existing file's
    # mode), and chmod'ed again afterwards in case openssl replaced it
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.close(fd)
    os.chmod(path, 0o600)
    run("genpkey", *_GENPKEY[key_type], "-out", path)
    os.chmod(path, 0o600)


def _genkeys(key_type, paths):
    """_genkey for several keys at once (RSA key generation dominates the
    time of a PKI; in parallel it costs about one key's time)."""
    procs = []
    for path in paths:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        os.close(fd)
        os.chmod(path, 0o600)
        cmd = [OPENSSL, "genpkey", *_GENPKEY[key_type], "-out", path]
        procs.append((cmd, subprocess.Popen(cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                            stderr=subprocess.PIPE)))
    errors = []
    for cmd, proc in procs:
        out, err = proc.communicate()
        if proc.returncode != 0:
            errors.append("%s failed (exit %d):\n%s%s" % (" ".join(cmd), proc.returncode,
                                                          err.decode("utf-8", "replace"),
                                                          out.decode("utf-8", "replace")))
    for path in paths:
        os.chmod(path, 0o600)
    if errors:
        raise OpensslError("\n".join(errors))


def _md(key_type):
    # Ed25519 has no separate digest; "default" lets openssl pick none (3.0.22
    # also ignores sha256 there, but older 3.0 releases may not)
    return "default" if key_type == "ed25519" else "sha256"


def _new_ca_db(path, key_type):
    os.makedirs(os.path.join(path, "newcerts"), exist_ok=True)
    _write(os.path.join(path, "index.txt"), "")
    # random serials, so that certificates of different PKIs never share one
    _write(os.path.join(path, "serial"), "%032X\n" % (int.from_bytes(os.urandom(15), "big") | (1 << 119)))
    _write(os.path.join(path, "openssl.cnf"), _CA_CONFIG.format(dir=path, md=_md(key_type)))
    return os.path.join(path, "openssl.cnf")


def _issue(pki, issuer, key, cert, cn, ext, start, end):
    """Makes a CSR for KEY and has ISSUER ("root" or "int"; "self" for the
    root itself) sign it into CERT with extension section EXT, valid from
    START to END (datetimes)."""
    ca = os.path.join(pki._ca_dir, "root" if issuer in ("root", "self") else "int")
    config = os.path.join(ca, "openssl.cnf")
    csr = os.path.join(ca, os.path.basename(cert) + ".csr")
    md = [] if pki.key_type == "ed25519" else ["-sha256"]
    run("req", "-new", "-config", config, "-key", key, "-subj", "/CN=" + cn, *md, "-out", csr)
    args = ["ca", "-batch", "-notext", "-config", config, "-in", csr, "-out", cert,
            "-subj", "/CN=" + cn,
            "-extfile", os.path.join(pki._ca_dir, "extensions.cnf"), "-extensions", ext,
            "-startdate", _asn1_time(start), "-enddate", _asn1_time(end)]
    if issuer == "self":
        args += ["-selfsign", "-keyfile", key]
    elif issuer == "root":
        args += ["-cert", pki.ca_cert, "-keyfile", pki.ca_key]
    else:
        args += ["-cert", pki.int_cert, "-keyfile", pki.int_key]
    run(*args)
    os.chmod(cert, 0o644)


def _leaf(pki, key, cert, cn, ext="leaf", start=None, end=None, days=30, have_key=False):
    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    if not have_key:
        _genkey(pki.key_type, key)
    _issue(pki, "int", key, cert, cn, ext,
           start or now - datetime.timedelta(days=1),
           end or now + datetime.timedelta(days=days))


def make(dir, key_type="p256", name="test"):
    """Creates DIR/NAME/ with a whole PKI of KEY_TYPE and returns its Pki."""
    if key_type not in KEY_TYPES:
        raise ValueError("key_type %r is not one of %s" % (key_type, ", ".join(KEY_TYPES)))
    base = os.path.abspath(os.path.join(dir, name))
    os.makedirs(base, exist_ok=True)
    p = Pki(base, key_type)
    os.makedirs(p._ca_dir, exist_ok=True)
    _write(os.path.join(p._ca_dir, "extensions.cnf"), _EXTENSIONS)
    _new_ca_db(os.path.join(p._ca_dir, "root"), key_type)
    _new_ca_db(os.path.join(p._ca_dir, "int"), key_type)

    now = datetime.datetime.now(datetime.timezone.utc).replace(microsecond=0)
    ca_end = now + datetime.timedelta(days=CA_DAYS)
    _genkeys(key_type, [p.ca_key, p.int_key, p.leaf_key, p.expired_key, p.no_sign_key])
    _issue(p, "self", p.ca_key, p.ca_cert, "fsxds-test-root-%s-%s" % (name, key_type), "root", CA_START, ca_end)
    _issue(p, "root", p.int_key, p.int_cert, "fsxds-test-int-%s-%s" % (name, key_type), "int", CA_START, ca_end)
    with open(p.int_cert) as f:
        _write(p.chain, f.read())

    _leaf(p, p.leaf_key, p.leaf_cert, LEAF_CN, have_key=True)
    _leaf(p, p.expired_key, p.expired_cert, "fsxds-test-expired", start=EXPIRED_START, end=EXPIRED_END,
          have_key=True)
    _leaf(p, p.no_sign_key, p.no_sign_cert, "fsxds-test-nosign", ext="nosign", have_key=True)
    return p


_RESERVED = ("ca", "int", "leaf", "chain", "expired", "nosign", "openssl-ca")


def new_leaf(pki, name, days=30, end=None, ext="leaf"):
    """Another valid leaf (CN=fsxds-test-leaf-NAME) from PKI's intermediate,
    valid from a day ago for DAYS days (or until END, a datetime), with
    the extensions of section EXT ("leaf": code signing, "server": a TLS
    server for 127.0.0.1 and localhost): PKI.dir/NAME.key and NAME.pem.
    Returns (key_path, cert_path)."""
    if not name or "/" in name or name.startswith(".") or name in _RESERVED:
        raise ValueError("new_leaf name %r: not a plain name, or one make() uses" % name)
    key = os.path.join(pki.dir, name + ".key")
    cert = os.path.join(pki.dir, name + ".pem")
    _leaf(pki, key, cert, "%s-%s" % (LEAF_CN, name), ext=ext, days=days, end=end)
    return key, cert


# ---------------------------------------------------------------- CMS helpers


def sign(data, sig, key, cert, chain=None, *extra):
    """A detached DER CMS signature of DATA into SIG, as a signer makes it
    (`openssl cms -sign` is detached unless given -nodetach). Raises
    OpensslError; with an Ed25519 key on OpenSSL 3.0 it always does (see
    cms_supported)."""
    args = ["cms", "-sign", "-binary", "-outform", "DER", "-signer", cert, "-inkey", key,
            "-in", data, "-out", sig]
    if chain:
        args += ["-certfile", chain]
    run(*args, *extra)


def verify(data, sig, ca, *extra):
    """True if SIG is a valid detached signature of DATA under CA, as
    `openssl cms -verify ... -purpose any` judges it."""
    try:
        run("cms", "-verify", "-binary", "-inform", "DER", "-content", data, "-in", sig,
            "-CAfile", ca, "-purpose", "any", "-out", os.devnull, *extra)
        return True
    except OpensslError:
        return False


def verify_cert(cert, ca, chain=None, *extra):
    """True if `openssl verify -purpose any` accepts CERT under CA (with
    CHAIN as untrusted intermediates)."""
    args = ["verify", "-purpose", "any", "-CAfile", ca]
    if chain:
        args += ["-untrusted", chain]
    try:
        run(*args, *extra, cert)
        return True
    except OpensslError:
        return False


# the errors of an OpenSSL whose CMS code has no Ed25519 (RFC 8419): 3.0
# signs with "no default digest" (CMS_add1_signer), with -md sha512 it and
# verification fail in eddsa_digest_signverify_init ("invalid digest")
_CMS_NO_EDDSA = ("no default digest", "invalid digest")
_cms_supported = {}


def cms_supported(key_type):
    """Whether this openssl can make and check CMS signatures with KEY_TYPE
    keys. Always True for rsa/p256/p384; probed once for ed25519, which
    OpenSSL 3.0 cannot do (CMS_sign fails: "no default digest"), so tests
    should skip ed25519 signing when this is False."""
    if key_type != "ed25519":
        return True
    if key_type not in _cms_supported:
        with tempfile.TemporaryDirectory(prefix="fsxds-pki-probe-") as tmp:
            key, cert = os.path.join(tmp, "k"), os.path.join(tmp, "c")
            data, sig = os.path.join(tmp, "d"), os.path.join(tmp, "s")
            _genkey(key_type, key)
            run("req", "-x509", "-new", "-config", _probe_config(tmp), "-key", key,
                "-subj", "/CN=probe", "-days", "1", "-out", cert)
            with open(data, "wb") as f:
                f.write(b"probe\n")
            try:
                sign(data, sig, key, cert)
                _cms_supported[key_type] = verify(data, sig, cert, "-partial_chain")
            except OpensslError as e:
                if not any(m in str(e) for m in _CMS_NO_EDDSA):
                    raise
                _cms_supported[key_type] = False
    return _cms_supported[key_type]


def _probe_config(tmp):
    path = os.path.join(tmp, "req.cnf")
    _write(path, "[req]\ndistinguished_name = dn\nprompt = no\nx509_extensions = ext\n[dn]\nCN = probe\n"
           "[ext]\nbasicConstraints = critical,CA:true\nkeyUsage = critical,digitalSignature,keyCertSign\n")
    return path


# ---------------------------------------------------------------- self-test


def _self_test():
    bad = 0
    ver = run("version").stdout.decode().strip()
    print(ver)
    with tempfile.TemporaryDirectory(prefix="fsxds-pki-") as tmp:
        data = os.path.join(tmp, "data")
        with open(data, "wb") as f:
            f.write(b"fsxds pki self-test\n\x00\r\n\xff binary bytes\n")
        tdata = os.path.join(tmp, "tampered")
        with open(tdata, "wb") as f:
            f.write(b"fsxds pki self-test\n\x00\r\n\xff binary bytes\nx")
        pkis, took = {}, {}
        for kt in KEY_TYPES:
            t0 = time.monotonic()
            pkis[kt] = make(tmp, kt, "pki-" + kt)
            took[kt] = time.monotonic() - t0
        in_2020 = str(int(datetime.datetime(2020, 1, 1, 12, tzinfo=datetime.timezone.utc).timestamp()))
        for i, kt in enumerate(KEY_TYPES):
            p = pkis[kt]
            other = pkis[KEY_TYPES[(i + 1) % len(KEY_TYPES)]]
            other_same = make(tmp, kt, "other-" + kt)  # another PKI of the same type
            results = []

            def check(what, got, want=True):
                nonlocal bad
                results.append("%s=%s" % (what, "ok" if got == want else "UNEXPECTED(%s)" % (got,)))
                if got != want:
                    bad += 1

            modes = {os.path.basename(f): os.stat(f).st_mode & 0o777 for f in (
                p.ca_key, p.int_key, p.leaf_key, p.expired_key, p.no_sign_key, p.ca_cert, p.int_cert,
                p.leaf_cert, p.chain, p.expired_cert, p.no_sign_cert)}
            check("modes", all(m == (0o600 if f.endswith(".key") else 0o644) for f, m in modes.items()))
            subj = run("x509", "-in", p.leaf_cert, "-noout", "-subject").stdout.decode().strip()
            check("leaf-cn", subj == "subject=CN = " + LEAF_CN)
            ku = run("x509", "-in", p.no_sign_cert, "-noout", "-ext", "keyUsage").stdout.decode()
            check("nosign-ku", "Digital Signature" not in ku and "Key Encipherment" in ku)

            # the certificates themselves (openssl verify; any key type)
            check("x509:leaf", verify_cert(p.leaf_cert, p.ca_cert, p.chain))
            check("x509:expired", verify_cert(p.expired_cert, p.ca_cert, p.chain), False)
            check("x509:expired@2020", verify_cert(p.expired_cert, p.ca_cert, p.chain, "-attime", in_2020))
            check("x509:other-ca", verify_cert(p.leaf_cert, other_same.ca_cert, p.chain), False)
            check("x509:no-chain", verify_cert(p.leaf_cert, p.ca_cert), False)
            k2, c2 = new_leaf(p, "rotated", days=7)
            check("x509:new_leaf", verify_cert(c2, p.ca_cert, p.chain))

            if not cms_supported(kt):
                # the known gap: make sure it is that and nothing else
                try:
                    sign(data, os.path.join(tmp, kt + ".sig"), p.leaf_key, p.leaf_cert, p.chain)
                    check("cms-sign-fails", False)
                except OpensslError as e:
                    check("cms-sign-fails", any(m in str(e) for m in _CMS_NO_EDDSA))
                results.append("CMS:UNSUPPORTED-by-this-openssl")
            else:
                sig = os.path.join(tmp, kt + ".leaf.sig")
                sign(data, sig, p.leaf_key, p.leaf_cert, p.chain)
                check("cms:leaf", verify(data, sig, p.ca_cert))
                try:  # detached: without -content there is nothing to verify
                    run("cms", "-verify", "-binary", "-inform", "DER", "-in", sig, "-CAfile", p.ca_cert,
                        "-purpose", "any", "-out", os.devnull)
                    check("cms:detached", False)
                except OpensslError:
                    check("cms:detached", True)
                check("cms:tampered", verify(tdata, sig, p.ca_cert), False)
                check("cms:other-ca", verify(data, sig, other.ca_cert), False)
                check("cms:other-ca-same-type", verify(data, sig, other_same.ca_cert), False)
                nochain = os.path.join(tmp, kt + ".nochain.sig")
                sign(data, nochain, p.leaf_key, p.leaf_cert)
                check("cms:no-chain", verify(data, nochain, p.ca_cert), False)
                esig = os.path.join(tmp, kt + ".expired.sig")
                sign(data, esig, p.expired_key, p.expired_cert, p.chain)  # cms -sign does not check dates
                check("cms:expired", verify(data, esig, p.ca_cert), False)
                check("cms:expired@2020", verify(data, esig, p.ca_cert, "-attime", in_2020))
                rsig = os.path.join(tmp, kt + ".rotated.sig")
                sign(data, rsig, k2, c2, p.chain)
                check("cms:new_leaf", verify(data, rsig, p.ca_cert))
                # the no-digitalSignature leaf: only reported (openssl does
                # not look at keyUsage here; a verifier of its own may)
                nsig = os.path.join(tmp, kt + ".nosign.sig")
                sign(data, nsig, p.no_sign_key, p.no_sign_cert, p.chain)
                results.append("cms:nosign(openssl %s it)" % (
                    "accepts" if verify(data, nsig, p.ca_cert) else "rejects"))

            ok = not any("UNEXPECTED" in r for r in results)
            print("%-8s %s  make %.2fs  %s" % (kt, "PASS" if ok else "FAIL", took[kt], " ".join(results)))
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(_self_test())
