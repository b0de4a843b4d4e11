#!/usr/bin/env python3
"""Counts `pub` declarations in src/ outside unit-test modules (issue 16's measure).

A line counts if it matches `^\\s*pub (fn|struct|enum|trait|type|const|static|mod) `.
Left out: files named tests.rs, files under a tests/ folder inside src/, files declared as
`#[cfg(test)] mod name;`, and the `#[cfg(test)] mod name { ... }` blocks inside a file.
Usage: api/count_pub.py [SRC_DIR] [-v]   (-v: per-file counts)
"""
import os
import re
import sys

PUB = re.compile(r"^\s*pub (fn|struct|enum|trait|type|const|static|mod) ")
CFG_TEST = re.compile(r"^\s*#\[cfg\(test\)\]\s*$")
MOD_BLOCK = re.compile(r"^\s*(pub(\([^)]*\))? )?mod (\w+)\s*\{")
MOD_DECL = re.compile(r"^\s*(pub(\([^)]*\))? )?mod (\w+)\s*;")


def strip_strings(line):
    """The line without string/char literals and // comments, for brace counting."""
    line = re.sub(r'"(\\.|[^"\\])*"', '""', line)
    line = re.sub(r"'(\\.|[^'\\])'", "''", line)
    return line.split("//", 1)[0]


def count_file(path, test_files):
    lines = open(path, encoding="utf-8").read().split("\n")
    n = 0
    i = 0
    pending_cfg_test = False
    while i < len(lines):
        line = lines[i]
        if CFG_TEST.match(line):
            pending_cfg_test = True
            i += 1
            continue
        if pending_cfg_test:
            decl = MOD_DECL.match(line)
            block = MOD_BLOCK.match(line)
            if decl:
                base = os.path.dirname(path)
                stem = os.path.splitext(os.path.basename(path))[0]
                if stem not in ("mod", "lib", "main"):
                    base = os.path.join(base, stem)
                name = decl.group(3)
                test_files.add(os.path.normpath(os.path.join(base, name + ".rs")))
                test_files.add(os.path.normpath(os.path.join(base, name, "mod.rs")))
            elif block:
                depth = 0
                while i < len(lines):
                    s = strip_strings(lines[i])
                    depth += s.count("{") - s.count("}")
                    i += 1
                    if depth <= 0:
                        break
                pending_cfg_test = False
                continue
            if not line.strip().startswith("#["):
                pending_cfg_test = False
        if PUB.match(line):
            n += 1
        i += 1
    return n


def main():
    args = [a for a in sys.argv[1:] if not a.startswith("-")]
    verbose = "-v" in sys.argv[1:]
    src = args[0] if args else "src"
    files = []
    for root, _dirs, names in os.walk(src):
        for name in names:
            if name.endswith(".rs"):
                files.append(os.path.normpath(os.path.join(root, name)))
    test_files = set()
    counts = {}
    # Parents first, so `#[cfg(test)] mod x;` marks x.rs before it is counted.
    for path in sorted(files, key=lambda p: (p.count(os.sep), p)):
        counts[path] = count_file(path, test_files)
    total = 0
    for path in sorted(files):
        rel = os.path.relpath(path, src)
        parts = rel.split(os.sep)
        if os.path.basename(path) == "tests.rs" or "tests" in parts[:-1] or path in test_files:
            continue
        total += counts[path]
        if verbose and counts[path]:
            print(f"{counts[path]:5} {path}")
    print(total)


if __name__ == "__main__":
    main()
