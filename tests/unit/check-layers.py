#!/usr/bin/env python3
# SPDX-License-Identifier: MIT
"""The floors of daemon/, checked from the sources.

Reads every `#include "x.h"` of daemon/**/*.{c,h} and fails, naming
file:line, on
  (a) an include of a header from a higher floor (basic < compiler < node <
      publish < ads < service < cli; the generated version.h and descriptor.pb-c.h
      sit below basic) or of a header that is nowhere in daemon/; a header
      of daemon/ included by a path ("../service/x.h") or with <...>, which
      would get around the floors' include paths;
  (b) a circle between modules (a module is x.c + x.h, and x-internal.h
      when x's implementation is shared by several .c files; A -> B when a
      file of A includes a header of B, A != B);
  (c) a C file in daemon/ over 1,000 lines;
  (d) a tests/unit/**/test-*.c that no meson.build of its folder registers
      as test('x', executable('test-x', 'test-x.c', ...)), a registered one
      that does not exist, or a folder of tests that no subdir() reaches.
The build's include paths already refuse (a) at compile time; this says it
from the sources, with the line, and also sees what the compiler cannot.

Usage: check-layers.py [SOURCE_ROOT]   (default: two folders up)
"""
import os
import re
import sys

FLOORS = ['basic', 'compiler', 'node', 'publish', 'ads', 'service', 'cli']
GENERATED = {'version.h', 'descriptor.pb-c.h'}  # below basic
MAX_LINES = 1000

INCLUDE = re.compile(r'^\s*#\s*include\s+"([^"]+)"')
ANGLE_INCLUDE = re.compile(r'^\s*#\s*include\s+<([^>]+)>')
# test('x', executable('test-x', 'test-x.c', ...), ...): the source a test
# is built from, and run from
REGISTERED = re.compile(r"""\btest\(\s*['"][^'"]+['"]\s*,\s*executable\(\s*['"][^'"]+['"]\s*,\s*"""
                        r"""['"](test-[A-Za-z0-9_-]+\.c)['"]""")


def floor_rank(floor):
    return -1 if floor is None else FLOORS.index(floor)


def floor_name(floor):
    return 'generated (below basic)' if floor is None else floor


def daemon_files(root):
    """(relative path, floor) of every .c and .h under daemon/<floor>/."""
    daemon = os.path.join(root, 'daemon')
    out = []
    for dirpath, dirnames, filenames in os.walk(daemon):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        parts = rel_dir.split(os.sep)
        for f in sorted(filenames):
            if not f.endswith(('.c', '.h')):
                continue
            floor = parts[1] if len(parts) > 1 else None
            out.append((os.path.join(rel_dir, f), floor))
    return out


def module_of(name):
    """The module a file belongs to: "publish-internal.h" is publish's."""
    base = os.path.splitext(name)[0]
    return base[:-len('-internal')] if base.endswith('-internal') else base


def check_includes(root, files, errors):
    """(a) and the module graph for (b): {module: {module: [(file, line)]}}."""
    headers = {}  # "x.h" -> floor
    sources = {}  # "x.c" -> its path
    for path, floor in files:
        name = os.path.basename(path)
        if floor not in FLOORS:
            errors.append(f'{path}: error: not in a floor folder (daemon/{{{",".join(FLOORS)}}}/)')
            continue
        if name.endswith('.h'):
            if name in headers:
                errors.append(f'{path}: error: a second {name} (headers are found by name)')
            headers[name] = floor
        else:
            if name in sources:
                errors.append(f'{path}: error: a second {name}, in {sources[name]} (a module is known by its name)')
            sources[name] = path
    graph = {}
    for path, floor in files:
        if floor not in FLOORS:
            continue
        module = module_of(os.path.basename(path))
        graph.setdefault(module, {})
        with open(os.path.join(root, path), encoding='utf-8', errors='replace') as f:
            for lineno, line in enumerate(f, 1):
                a = ANGLE_INCLUDE.match(line)
                # <resource.h> or <service/x.h> would be ours; <sys/resource.h> is the system's
                first = a.group(1).split('/')[0] if a else None
                if a and os.path.basename(a.group(1)) in headers and \
                        ('/' not in a.group(1) or first in FLOORS or first in ('..', 'daemon')):
                    errors.append(f'{path}:{lineno}: error: includes <{a.group(1)}>, a header of daemon/: '
                                  f'write "{os.path.basename(a.group(1))}", so the floors can check it')
                    continue
                m = INCLUDE.match(line)
                if not m:
                    continue
                inc = m.group(1)
                if '/' in inc:
                    errors.append(f'{path}:{lineno}: error: includes "{inc}" by a path: a header of daemon/ is '
                                  f'included by its name alone, which only the floors below can resolve')
                    inc = os.path.basename(inc)
                if inc in GENERATED:
                    continue
                if inc not in headers:
                    errors.append(f'{path}:{lineno}: error: includes "{inc}", which is no header of daemon/ '
                                  f'(nor a generated one: {", ".join(sorted(GENERATED))})')
                    continue
                target = headers[inc]
                if floor_rank(target) > floor_rank(floor):
                    errors.append(f'{path}:{lineno}: error: upward include: "{inc}" is on floor {target}, '
                                  f'above {floor} ({" < ".join(FLOORS)})')
                dep = module_of(inc)
                if dep != module:
                    graph[module].setdefault(dep, []).append((path, lineno))
    return graph


def strongly_connected(graph):
    """Tarjan's strongly connected components, each sorted, in sorted order."""
    index, low, stack, on_stack, comps = {}, {}, [], set(), []
    counter = [0]

    def visit(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph.get(v, {})):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                comp.append(w)
                if w == v:
                    break
            comps.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return sorted(comps)


def shortest_cycle(graph, start, members):
    """One shortest circle from start through members, as a module list."""
    prev, queue = {start: None}, [start]
    while queue:
        v = queue.pop(0)
        for w in sorted(graph.get(v, {})):
            if w not in members:
                continue
            if w == start:
                path = [v]
                while prev[path[-1]] is not None:
                    path.append(prev[path[-1]])
                return list(reversed(path)) + [start]
            if w not in prev:
                prev[w] = v
                queue.append(w)
    return [start]


def check_cycles(graph, errors):
    """(b): every group of modules that include each other."""
    for comp in strongly_connected(graph):
        if len(comp) < 2:
            continue
        members = set(comp)
        cycle = shortest_cycle(graph, comp[0], members)
        what = ", ".join(comp) if len(comp) <= 6 else f'{len(comp)} modules'
        lines = [f'error: circular include between {what}: {" -> ".join(cycle)}']
        # the includes along that circle (break one of them)
        for a, b in zip(cycle, cycle[1:]):
            for path, lineno in graph[a][b]:
                lines.append(f'  {path}:{lineno}: {a} includes "{b}.h"')
        errors.append('\n'.join(lines))


def check_sizes(root, files, errors):
    """(c): no C file over MAX_LINES lines."""
    for path, _ in files:
        with open(os.path.join(root, path), 'rb') as f:
            n = sum(1 for _ in f)
        if n > MAX_LINES:
            errors.append(f'{path}: error: {n} lines, over {MAX_LINES}: split it by concern')


def meson_code(path):
    """A meson.build without its comments."""
    with open(path, encoding='utf-8') as f:
        return ''.join(line.split('#', 1)[0] + '\n' for line in f)


def check_tests(root, errors):
    """(d): tests/unit/**/test-*.c and the meson.build of their folder agree:
    each is test()ed as an executable of its own, and the folder's
    meson.build is reached by subdir() from tests/unit/meson.build."""
    unit = os.path.join(root, 'tests', 'unit')
    for dirpath, dirnames, filenames in os.walk(unit):
        dirnames.sort()
        rel_dir = os.path.relpath(dirpath, root)
        present = {f for f in filenames if f.startswith('test-') and f.endswith('.c')}
        registered = {}
        if 'meson.build' in filenames:
            code = meson_code(os.path.join(dirpath, 'meson.build'))
            for m in REGISTERED.finditer(code):
                registered.setdefault(m.group(1), code.count('\n', 0, m.start()) + 1)
        if dirpath != unit and present:
            parent = os.path.join(os.path.dirname(dirpath), 'meson.build')
            sub = re.compile(r"subdir\(\s*'" + re.escape(os.path.basename(dirpath)) + r"'\s*\)")
            if not os.path.exists(parent) or not sub.search(meson_code(parent)):
                errors.append(f'{rel_dir}: error: holds tests, but {os.path.relpath(parent, root)} has no '
                              f"subdir('{os.path.basename(dirpath)}'): none of them is built")
        for t in sorted(present - set(registered)):
            errors.append(f'{os.path.join(rel_dir, t)}: error: not registered in {os.path.join(rel_dir, "meson.build")} '
                          f"(test('{t[5:-2]}', executable('{t[:-2]}', '{t}', ...), suite: 'unit'))")
        for t in sorted(set(registered) - present):
            errors.append(f'{os.path.join(rel_dir, "meson.build")}:{registered[t]}: error: registers {t}, '
                          f'which does not exist')


def main(argv):
    root = argv[1] if len(argv) > 1 else os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')
    root = os.path.abspath(root)
    if not os.path.isdir(os.path.join(root, 'daemon')):
        print(f'check-layers: {root}/daemon: no such directory', file=sys.stderr)
        return 2
    files = daemon_files(root)
    errors = []
    graph = check_includes(root, files, errors)
    check_cycles(graph, errors)
    check_sizes(root, files, errors)
    check_tests(root, errors)
    for e in errors:
        print(e)
    n_modules = len(graph)
    if errors:
        print(f'check-layers: {len(errors)} problem(s) in {len(files)} files of daemon/ ({n_modules} modules)')
        return 1
    print(f'check-layers: {len(files)} files, {n_modules} modules: no upward or circular include, '
          f'none over {MAX_LINES} lines, every unit test registered')
    return 0


if __name__ == '__main__':
    sys.exit(main(sys.argv))
