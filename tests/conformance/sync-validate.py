#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""Copy upstream Envoy's protoc-gen-validate annotations onto our proto/ subset.

    sync-validate.py [--upstream UPSTREAM.desc] [--proto-dir DIR] [--check] [-v]

Reads the (validate.*) options of upstream's descriptor set (built by
fetch-upstream.sh, default ~/.cache/fsxds-conformance/upstream.desc) and
rewrites the annotations in our .proto files so that every field, oneof and
message carries exactly the validate options upstream has on the element of
the same full name:

    field    [(validate.rules).<kind> = {...}]    FieldOptions 1071
    oneof    option (validate.required) = true;   OneofOptions 1071
    message  option (validate.disabled) = true;   MessageOptions 1071
             option (validate.ignored) = true;    MessageOptions 1072

Only validate.* is copied (never udpa/envoy/xds annotations). Each rule is
decoded from the wire bytes upstream's protoc wrote and printed back in
protobuf text-format aggregate syntax using the schema of validate.proto (and
google/protobuf/duration.proto, timestamp.proto) found in the same
descriptor set; `refenc compare --validate` then checks that protoc
serialises ours to the same message. Existing validate annotations in our
files are removed first, so the script can be re-run. Files that end up with
validate annotations import "validate/validate.proto" (and files that no
longer need it lose the import).

--check changes nothing and exits 1 when a file would change.

Python 3 standard library only. Our .proto files are in a simple style (one
declaration per line, comments only in the header), which is what the line
parser below expects; anything it does not understand is an error.
"""

import argparse
import os
import re
import struct
import sys

FIELD_RULES = "validate.FieldRules"
VALIDATE_IMPORT = "validate/validate.proto"

# --- protobuf wire format ---------------------------------------------------


def varint(buf, pos):
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError("truncated varint")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7


def fields(buf):
    """yield (number, wire_type, value): int for 0/1/5, bytes for 2"""
    pos = 0
    while pos < len(buf):
        key, pos = varint(buf, pos)
        num, wt = key >> 3, key & 7
        if wt == 0:
            val, pos = varint(buf, pos)
        elif wt == 1:
            val = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wt == 5:
            val = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        elif wt == 2:
            n, pos = varint(buf, pos)
            val = bytes(buf[pos:pos + n])
            if len(val) != n:
                raise ValueError("truncated length-delimited field")
            pos += n
        else:
            raise ValueError("unsupported wire type %d" % wt)
        yield num, wt, val


# --- descriptor set ---------------------------------------------------------

# FieldDescriptorProto.Type
T_DOUBLE, T_FLOAT, T_INT64, T_UINT64, T_INT32, T_FIXED64, T_FIXED32, T_BOOL, \
    T_STRING, T_GROUP, T_MESSAGE, T_BYTES, T_UINT32, T_ENUM, T_SFIXED32, \
    T_SFIXED64, T_SINT32, T_SINT64 = range(1, 19)
LABEL_REPEATED = 3


class Field:
    def __init__(self, buf, parent):
        self.parent = parent
        self.name = ""
        self.number = 0
        self.label = 1
        self.type = 0
        self.type_name = ""
        self.options = []  # raw (number, wt, value) of FieldOptions
        for n, wt, v in fields(buf):
            if n == 1:
                self.name = v.decode()
            elif n == 3:
                self.number = v
            elif n == 4:
                self.label = v
            elif n == 5:
                self.type = v
            elif n == 6:
                self.type_name = v.decode().lstrip(".")
            elif n == 8:
                self.options = list(fields(v))


class Oneof:
    def __init__(self, buf):
        self.name = ""
        self.options = []
        for n, wt, v in fields(buf):
            if n == 1:
                self.name = v.decode()
            elif n == 2:
                self.options = list(fields(v))


class Message:
    def __init__(self, buf, scope, schema):
        self.fields = []
        self.oneofs = []
        self.options = []
        nested = []
        enums = []
        for n, wt, v in fields(buf):
            if n == 1:
                self.name = v.decode()
            elif n == 2:
                self.fields.append(Field(v, self))
            elif n == 3:
                nested.append(v)
            elif n == 4:
                enums.append(v)
            elif n == 7:
                self.options = list(fields(v))
            elif n == 8:
                self.oneofs.append(Oneof(v))
        self.full_name = scope + "." + self.name if scope else self.name
        self.by_number = {f.number: f for f in self.fields}
        self.by_name = {f.name: f for f in self.fields}
        schema.messages[self.full_name] = self
        for e in enums:
            schema.add_enum(e, self.full_name)
        for m in nested:
            Message(m, self.full_name, schema)


class Schema:
    def __init__(self, path):
        self.messages = {}
        self.enums = {}  # full name -> {number: name}
        with open(path, "rb") as f:
            data = f.read()
        for n, wt, v in fields(data):
            if n != 1:
                continue
            pkg = ""
            msgs, enums = [], []
            for fn, fwt, fv in fields(v):
                if fn == 2:
                    pkg = fv.decode()
                elif fn == 4:
                    msgs.append(fv)
                elif fn == 5:
                    enums.append(fv)
            for e in enums:
                self.add_enum(e, pkg)
            for m in msgs:
                Message(m, pkg, self)

    def add_enum(self, buf, scope):
        name, values = "", {}
        for n, wt, v in fields(buf):
            if n == 1:
                name = v.decode()
            elif n == 2:
                vname, vnum = "", 0
                for vn, vwt, vv in fields(v):
                    if vn == 1:
                        vname = vv.decode()
                    elif vn == 2:
                        vnum = vv
                values.setdefault(vnum, vname)
        self.enums[scope + "." + name if scope else name] = values


# --- text format ------------------------------------------------------------


def signed(v, bits):
    v &= (1 << bits) - 1
    return v - (1 << bits) if v >> (bits - 1) else v


def zigzag(v):
    return (v >> 1) ^ -(v & 1)


def fmt_float32(bits):
    x = struct.unpack("<f", struct.pack("<I", bits))[0]
    if x != x or x in (float("inf"), float("-inf")):
        return fmt_double_value(x)
    for p in range(1, 18):
        s = "%.*g" % (p, x)
        if struct.pack("<f", float(s)) == struct.pack("<I", bits):
            return s if any(c in s for c in ".en") else s + ".0"
    return repr(x)


def fmt_double_value(x):
    if x != x:
        return "nan"
    if x == float("inf"):
        return "inf"
    if x == float("-inf"):
        return "-inf"
    return repr(x)


def fmt_string(b):
    out = []
    for c in b:
        ch = chr(c)
        if ch == "\\":
            out.append("\\\\")
        elif ch == '"':
            out.append('\\"')
        elif ch == "\n":
            out.append("\\n")
        elif ch == "\r":
            out.append("\\r")
        elif ch == "\t":
            out.append("\\t")
        elif 0x20 <= c < 0x7F:
            out.append(ch)
        else:
            out.append("\\%03o" % c)
    return '"' + "".join(out) + '"'


PACKABLE = {T_DOUBLE, T_FLOAT, T_INT64, T_UINT64, T_INT32, T_FIXED64, T_FIXED32,
            T_BOOL, T_UINT32, T_ENUM, T_SFIXED32, T_SFIXED64, T_SINT32, T_SINT64}


def unpack(f, buf):
    """values of a packed repeated scalar field"""
    out, pos = [], 0
    while pos < len(buf):
        if f.type in (T_DOUBLE, T_FIXED64, T_SFIXED64):
            out.append(int.from_bytes(buf[pos:pos + 8], "little"))
            pos += 8
        elif f.type in (T_FLOAT, T_FIXED32, T_SFIXED32):
            out.append(int.from_bytes(buf[pos:pos + 4], "little"))
            pos += 4
        else:
            v, pos = varint(buf, pos)
            out.append(v)
    return out


class Printer:
    def __init__(self, schema):
        self.schema = schema

    def scalar(self, f, v):
        t = f.type
        if t == T_DOUBLE:
            return fmt_double_value(struct.unpack("<d", struct.pack("<Q", v))[0])
        if t == T_FLOAT:
            return fmt_float32(v)
        if t in (T_INT64, T_SFIXED64):
            return str(signed(v, 64))
        if t in (T_INT32, T_SFIXED32):
            return str(signed(v, 32))
        if t in (T_UINT64, T_FIXED64):
            return str(v & ((1 << 64) - 1))
        if t in (T_UINT32, T_FIXED32):
            return str(v & 0xFFFFFFFF)
        if t == T_SINT32 or t == T_SINT64:
            return str(zigzag(v))
        if t == T_BOOL:
            return "true" if v else "false"
        if t == T_ENUM:
            names = self.schema.enums.get(f.type_name, {})
            n = signed(v, 32)
            return names.get(n, str(n))
        if t in (T_STRING, T_BYTES):
            return fmt_string(v)
        raise ValueError("cannot print field %s of type %d" % (f.name, t))

    def values(self, msg_name, buf):
        """{number: (Field, [values])} in field-number order, merged the way a
        parser merges repeated occurrences of a field"""
        m = self.schema.messages.get(msg_name)
        if m is None:
            raise ValueError("message %s is not in the descriptor set" % msg_name)
        got = {}
        for n, wt, v in fields(buf):
            f = m.by_number.get(n)
            if f is None:
                raise ValueError("%s has no field %d (upstream validate.proto newer "
                                 "than its descriptor set?)" % (msg_name, n))
            vals = got.setdefault(n, (f, []))[1]
            if f.label == LABEL_REPEATED:
                if wt == 2 and f.type in PACKABLE:
                    vals.extend(unpack(f, v))
                else:
                    vals.append(v)
            elif f.type == T_MESSAGE:
                # singular message: repeated occurrences merge
                if vals:
                    vals[0] += v
                else:
                    vals.append(v)
            else:
                vals[:] = [v]  # last one wins
        return [got[n] for n in sorted(got)]

    def value(self, f, v, indent):
        if f.type == T_MESSAGE:
            return "{" + self.body(f.type_name, v, indent) + "}"
        return self.scalar(f, v)

    def body(self, msg_name, buf, indent):
        parts = []
        for f, vals in self.values(msg_name, buf):
            if f.label == LABEL_REPEATED and f.type != T_MESSAGE:
                items = [self.value(f, v, indent) for v in vals]
                parts.append("%s: [%s]" % (f.name, self.wrap(items, indent)))
            else:
                for v in vals:
                    parts.append("%s: %s" % (f.name, self.value(f, v, indent)))
        return " ".join(parts)

    @staticmethod
    def wrap(items, indent, width=80):
        """a list's items: inline when short, else one block of lines
        indented under the field, closed on a line of its own"""
        inline = ", ".join(items)
        if indent is None or len(inline) <= 48:
            return inline
        lines, cur = [], ""
        for it in items:
            cand = cur + ", " + it if cur else it
            if cur and len(indent) + 2 + len(cand) + 1 > width:
                lines.append(cur + ",")
                cur = it
            else:
                cur = cand
        lines.append(cur)
        return "\n" + "".join(indent + "  " + l + "\n" for l in lines) + indent

    def field_rules(self, buf, indent=None):
        """the option text for a FieldRules message, e.g.
        (validate.rules).uint32 = {lte: 65535}; long lists are wrapped under
        `indent` (the field's) when it is given"""
        top = self.values(FIELD_RULES, buf)
        if len(top) == 1 and top[0][0].type == T_MESSAGE:
            f, vals = top[0]
            return "(validate.rules).%s = %s" % (f.name, self.value(f, vals[0], indent))
        return "(validate.rules) = {%s}" % self.body(FIELD_RULES, buf, indent)


def ext_values(options, number):
    return [v for n, wt, v in options if n == number]


def ext_bool(options, number):
    vals = ext_values(options, number)
    if not vals:
        return None
    return "true" if vals[-1] else "false"


def ext_messages(options, number):
    """the occurrences of a message-typed extension: one per option statement
    protoc interpreted (upstream sometimes sets two parts of (validate.rules)
    in two statements; we keep them apart so that even the raw bytes match)"""
    vals = ext_values(options, number)
    if not all(isinstance(v, bytes) for v in vals):
        raise ValueError("extension %d is not a message" % number)
    return vals


# --- our .proto files -------------------------------------------------------

FIELD_RE = re.compile(
    r"^(?P<indent>\s*)(?P<label>(?:repeated|optional)\s+)?(?P<type>map<[^>]+>|[\w.]+)\s+"
    r"(?P<name>\w+)\s*=\s*(?P<number>\d+)\s*(?:\[(?P<opts>.*)\])?\s*;\s*$")
OPEN_RE = re.compile(r"^(?P<indent>\s*)(?P<kind>message|oneof|enum|service|extend)\s+"
                     r"(?P<name>[\w.]+)\s*\{\s*(?P<close>\})?\s*$")
VALIDATE_OPTION_LINE_RE = re.compile(r"^\s*option\s+\(validate\.\w+\)\s*=.*;\s*$")
IMPORT_RE = re.compile(r'^import\s+(?:public\s+|weak\s+)?"([^"]+)"\s*;\s*$')


def split_options(text):
    """split a field option list on top-level commas"""
    parts, depth, cur, quote, esc = [], 0, [], None, False
    for ch in text:
        if quote:
            cur.append(ch)
            if esc:
                esc = False
            elif ch == "\\":
                esc = True
            elif ch == quote:
                quote = None
            continue
        if ch in "\"'":
            quote = ch
        elif ch in "{[(":
            depth += 1
        elif ch in "}])":
            depth -= 1
        elif ch == "," and depth == 0:
            parts.append("".join(cur).strip())
            cur = []
            continue
        cur.append(ch)
    if "".join(cur).strip():
        parts.append("".join(cur).strip())
    return parts


class Stats:
    def __init__(self):
        self.fields = self.oneofs = self.messages = 0
        self.files = 0
        self.not_found = []


def rewrite(path, upstream, printer, stats):
    with open(path, encoding="utf-8") as f:
        lines = f.read().split("\n")
    pkg = ""
    for line in lines:
        m = re.match(r"^package\s+([\w.]+)\s*;", line)
        if m:
            pkg = m.group(1)
    out = []
    stack = []  # (kind, full name, indent)
    uses_validate = False

    def msg_scope():
        for kind, name, _ in reversed(stack):
            if kind == "message":
                return name
        return pkg

    def element_options(kind, full, indent):
        """option lines for a message/oneof just opened"""
        lines_ = []
        if kind == "message":
            um = upstream.messages.get(full)
            if um is None:
                stats.not_found.append(full)
                return lines_
            for ext, name in ((1071, "disabled"), (1072, "ignored")):
                v = ext_bool(um.options, ext)
                if v is not None:
                    lines_.append("%s  option (validate.%s) = %s;" % (indent, name, v))
            if lines_:
                stats.messages += 1
        elif kind == "oneof":
            parent = msg_scope()
            um = upstream.messages.get(parent)
            uo = None
            if um is not None:
                for o in um.oneofs:
                    if o.name == full.rsplit(".", 1)[1]:
                        uo = o
            if uo is None:
                stats.not_found.append(full)
                return lines_
            v = ext_bool(uo.options, 1071)
            if v is not None:
                lines_.append("%s  option (validate.required) = %s;" % (indent, v))
                stats.oneofs += 1
        return lines_

    i = 0
    while i < len(lines):
        line = lines[i]
        i += 1
        stripped = line.strip()
        if VALIDATE_OPTION_LINE_RE.match(line):
            continue  # re-derived below
        m = OPEN_RE.match(line)
        if m:
            kind, name, indent = m.group("kind"), m.group("name"), m.group("indent")
            if kind in ("message", "enum", "service", "extend"):
                full = (msg_scope() + "." + name) if msg_scope() else name
            else:
                full = msg_scope() + "." + name
            opts = element_options(kind, full, indent) if kind in ("message", "oneof") else []
            uses_validate = uses_validate or bool(opts)
            if m.group("close"):
                if opts:
                    out.append("%s%s %s {" % (indent, kind, name))
                    out.extend(opts)
                    out.append(indent + "}")
                else:
                    out.append(line)
                continue
            out.append(line)
            out.extend(opts)
            stack.append((kind, full, indent))
            continue
        if stripped == "}":
            if not stack:
                raise SystemExit("%s:%d: unbalanced }" % (path, i))
            stack.pop()
            out.append(line)
            continue
        if stack and stack[-1][0] in ("message", "oneof") and stripped and \
                not stripped.startswith("//") and not stripped.endswith((";", "{", "}")):
            # a declaration continued on the next lines (a wrapped list)
            while i < len(lines) and not line.rstrip().endswith(";"):
                line = line.rstrip() + " " + lines[i].strip()
                i += 1
            stripped = line.strip()
        fm = FIELD_RE.match(line)
        if fm and stack and stack[-1][0] in ("message", "oneof"):
            opts = split_options(fm.group("opts") or "")
            opts = [o for o in opts if not o.startswith("(validate.")]
            um = upstream.messages.get(msg_scope())
            uf = um.by_name.get(fm.group("name")) if um else None
            if uf is None:
                stats.not_found.append(msg_scope() + "." + fm.group("name"))
            else:
                rules = ext_messages(uf.options, 1071)
                if rules:
                    opts.extend(printer.field_rules(r, fm.group("indent")) for r in rules)
                    stats.fields += 1
                    uses_validate = True
            decl = fm.group("indent")
            if fm.group("label"):
                decl += fm.group("label").strip() + " "
            decl += "%s %s = %s" % (fm.group("type"), fm.group("name"), fm.group("number"))
            if opts:
                decl += " [" + ", ".join(opts) + "]"
            out.append(decl + ";")
            continue
        if stack and stack[-1][0] in ("message", "oneof") and stripped and \
                not stripped.startswith(("//", "reserved ", "option ", "extensions ")):
            raise SystemExit("%s:%d: cannot parse: %s" % (path, i, line))
        out.append(line)
    if stack:
        raise SystemExit("%s: unbalanced braces" % path)

    out = fix_imports(out, uses_validate)
    new = "\n".join(out)
    with open(path, encoding="utf-8") as f:
        old = f.read()
    if uses_validate:
        stats.files += 1
    return old, new


def fix_imports(lines, uses_validate):
    idx = [k for k, l in enumerate(lines) if IMPORT_RE.match(l)]
    imports = [IMPORT_RE.match(lines[k]).group(1) for k in idx]
    has = VALIDATE_IMPORT in imports
    if has == uses_validate:
        return lines
    if has:
        k = idx[imports.index(VALIDATE_IMPORT)]
        lines = lines[:k] + lines[k + 1:]
        # drop a blank line left doubled
        if k < len(lines) and k > 0 and lines[k] == "" and lines[k - 1] == "":
            del lines[k]
        return lines
    new = 'import "%s";' % VALIDATE_IMPORT
    if idx:
        # keep the imports sorted: insert before the first one that sorts after
        for k, name in zip(idx, imports):
            if name > VALIDATE_IMPORT:
                return lines[:k] + [new] + lines[k:]
        k = idx[-1] + 1
        return lines[:k] + [new] + lines[k:]
    for k, l in enumerate(lines):
        if re.match(r"^package\s", l):
            return lines[:k + 1] + ["", new] + lines[k + 1:]
    raise SystemExit("no package statement")


def main():
    here = os.path.dirname(os.path.abspath(__file__))
    root = os.path.dirname(os.path.dirname(here))
    cache = os.environ.get("FSXDS_CONFORMANCE_CACHE",
                           os.path.join(os.path.expanduser("~"), ".cache", "fsxds-conformance"))
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--upstream", default=os.path.join(cache, "upstream.desc"),
                    help="upstream descriptor set (fetch-upstream.sh)")
    ap.add_argument("--proto-dir", default=os.path.join(root, "proto"))
    ap.add_argument("--check", action="store_true",
                    help="change nothing; exit 1 if a file would change")
    ap.add_argument("-v", "--verbose", action="store_true")
    a = ap.parse_args()

    upstream = Schema(a.upstream)
    if FIELD_RULES not in upstream.messages:
        sys.exit("%s has no %s (was it built with --include_imports?)" % (a.upstream, FIELD_RULES))
    printer = Printer(upstream)
    stats = Stats()
    changed = []
    for dirpath, dirnames, filenames in os.walk(a.proto_dir):
        dirnames.sort()
        for fn in sorted(filenames):
            path = os.path.join(dirpath, fn)
            rel = os.path.relpath(path, a.proto_dir)
            if not fn.endswith(".proto") or rel == VALIDATE_IMPORT:
                continue
            old, new = rewrite(path, upstream, printer, stats)
            if old != new:
                changed.append(rel)
                if not a.check:
                    with open(path + ".tmp", "w", encoding="utf-8") as f:
                        f.write(new)
                    os.replace(path + ".tmp", path)
    verb = "would change" if a.check else "changed"
    for rel in changed:
        print("%s %s" % (verb, rel))
    print("annotated: %d fields, %d oneofs, %d messages in %d files"
          % (stats.fields, stats.oneofs, stats.messages, stats.files))
    if stats.not_found:
        print("not found upstream (left alone; schema-compare reports these): %d"
              % len(stats.not_found))
        if a.verbose:
            for n in stats.not_found:
                print("  " + n)
    return 1 if a.check and changed else 0


if __name__ == "__main__":
    sys.exit(main())
