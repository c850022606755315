#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Make the installed libuhmm.a export only what libuhmm.so exports.

Usage: localize-archive.py OBJCOPY MAPFILE IN.a OUT.a CC [CC-ARGS...]

Every object of IN.a is linked into one relocatable object (cc -r); every
global symbol that libuhmm.map does not list is then made local, so a
program that links libuhmm.a statically and defines its own vma_find() or
pt_get() gets its own, not a "multiple definition" error.  The shared
library already hides them with -fvisibility=hidden and the version script;
a static archive has no such thing, hence this step.

Objects that hold only LLVM bitcode (clang with b_lto) cannot be linked
with -r without an LTO-capable linker; then the archive is copied as it is
and the build says so.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile


def exported_names(mapfile):
    """The symbols listed under 'global:' in a linker version script."""
    text = re.sub(r'/\*.*?\*/', '', open(mapfile).read(), flags=re.S)
    names = []
    in_global = False
    for line in text.splitlines():
        line = line.strip()
        if line.endswith('{') or line.startswith('}'):
            in_global = False
        if line == 'global:':
            in_global = True
            continue
        if line == 'local:':
            in_global = False
            continue
        if in_global and line.endswith(';'):
            name = line[:-1].strip()
            if name and '*' not in name:
                names.append(name)
    return names


def holds_bitcode(archive):
    """True if the archive's first member is LLVM bitcode (they all are, or none)."""
    out = subprocess.run(['ar', 'p', archive], check=True,
                         stdout=subprocess.PIPE).stdout
    return out[:4] == b'BC\xc0\xde'


def main():
    if len(sys.argv) < 6:
        sys.exit(__doc__.strip().splitlines()[2])
    objcopy, mapfile, src, dst = sys.argv[1:5]
    cc = sys.argv[5:]
    names = exported_names(mapfile)
    if not names:
        sys.exit(f'localize-archive: no global symbols in {mapfile}')
    with tempfile.TemporaryDirectory() as tmp:
        if holds_bitcode(src):
            print('localize-archive: bitcode objects (LTO); '
                  f'{os.path.basename(dst)} keeps its internal symbols global',
                  file=sys.stderr)
            shutil.copyfile(src, dst)
            return
        merged = os.path.join(tmp, 'uhmm-merged.o')
        local = os.path.join(tmp, 'uhmm.o')
        keep = os.path.join(tmp, 'keep')
        with open(keep, 'w') as f:
            f.write('\n'.join(names) + '\n')
        # -fno-lto: link the objects' machine code (gcc's fat LTO objects
        # carry both), then drop the LTO sections, which would otherwise
        # bring the internal names back at an LTO link.
        subprocess.run(cc + ['-r', '-nostdlib', '-fno-lto', '-o', merged,
                        '-Wl,--whole-archive', src, '-Wl,--no-whole-archive'],
                       check=True)
        subprocess.run([objcopy, '--keep-global-symbols=' + keep,
                        '--wildcard', '--remove-section=.gnu.lto_*',
                        merged, local],
                       check=True)
        if os.path.exists(dst):
            os.unlink(dst)
        subprocess.run(['ar', 'rcs', dst, local], check=True)


if __name__ == '__main__':
    main()
