#!/usr/bin/env python3
# SPDX-License-Identifier: LGPL-2.1-or-later
"""Generate libuhmm's export table (C) from its linker version script.

The version script is the one list of what libuhmm exports: node UHMM_<v>
is the plain tier (EXPORT_SYMBOL), node UHMM_GPL_<v> the GPL-only tier
(EXPORT_SYMBOL_GPL).  Usage: gen-exports.py libuhmm.map output.c
"""
import re
import sys


def main():
    src, out = sys.argv[1], sys.argv[2]
    text = re.sub(r"/\*.*?\*/", "", open(src).read(), flags=re.S)
    entries = []
    for node, body in re.findall(r"(UHMM_[A-Z0-9_.]+)\s*\{(.*?)\}", text, flags=re.S):
        tier = "UHMM_EXPORT_GPL" if node.startswith("UHMM_GPL_") else "UHMM_EXPORT_PLAIN"
        body = body.split("local:")[0].replace("global:", "")
        for name in re.findall(r"([A-Za-z_][A-Za-z0-9_]*)\s*;", body):
            entries.append((name, tier))
    names = [n for n, _ in entries]
    if len(names) != len(set(names)):
        sys.exit("gen-exports: a symbol is listed twice in " + src)
    with open(out, "w") as f:
        f.write("/* Generated from libuhmm.map by gen-exports.py: do not edit. */\n")
        f.write("#include <uhmm/module.h>\n\n")
        f.write('#include "core_exports.h"\n\n')
        f.write("const struct uhmm_export core_exports[] = {\n")
        for name, tier in sorted(entries):
            f.write('\t{ "%s", %s },\n' % (name, tier))
        f.write("};\n\nconst size_t nr_core_exports = %d;\n" % len(entries))


if __name__ == "__main__":
    main()
