#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
# Turns a binary file into a C array: embed-bytes.py IN OUT.c SYMBOL
import sys

data = open(sys.argv[1], 'rb').read()
sym = sys.argv[3]
with open(sys.argv[2], 'w') as f:
    f.write('#include <stddef.h>\n#include <stdint.h>\n')
    f.write('const uint8_t %s[] = {\n' % sym)
    for i in range(0, len(data), 16):
        f.write(','.join(str(b) for b in data[i:i + 16]) + ',\n')
    f.write('};\nconst size_t %s_len = %d;\n' % (sym, len(data)))
