#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Runs protoc-c on google/protobuf/descriptor.proto and places the generated
# pair directly in OUTDIR (protoc-c mirrors the import path otherwise).
import os, shutil, subprocess, sys, tempfile

protoc_c, wkt_dir, outdir = sys.argv[1:4]
with tempfile.TemporaryDirectory() as tmp:
    subprocess.check_call([protoc_c, '-I' + wkt_dir, '--c_out=' + tmp,
                           'google/protobuf/descriptor.proto'])
    for name in ('descriptor.pb-c.c', 'descriptor.pb-c.h'):
        src = os.path.join(tmp, 'google', 'protobuf', name)
        data = open(src).read().replace('#include "google/protobuf/descriptor.pb-c.h"',
                                        '#include "descriptor.pb-c.h"')
        open(os.path.join(outdir, name), 'w').write(data)
