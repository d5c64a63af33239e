#!/usr/bin/env python3
"""Checks the layout rules of docs/ARCHITECTURE.md that the compiler does not:

- no module cycle inside a crate: no two sibling modules use each other
  (a child using its parent's items is ordinary nesting and allowed);
- no non-test source file over 600 lines;
- no function over 80 lines outside tests (a function may opt out with a
  `// layout: long` comment on the line before it, saying why).

Reads the sources git tracks; prints what breaks a rule and exits 1.
"""
import re
import subprocess
import sys
from collections import defaultdict

MAX_FILE_LINES = 600
MAX_FN_LINES = 80


def sources():
    files = subprocess.check_output(["git", "ls-files", "*.rs"], text=True).split()
    return [f for f in files if not f.startswith(("tests/", "benches/")) and "/tests/" not in f]


def module_of(path):
    """(crate folder, module path) of a file under a `src/` folder."""
    parts = path.split("/")
    if "src" not in parts:
        return None
    i = parts.index("src")
    rest = parts[i + 1:]
    if rest and rest[0] == "bin":
        return None
    if rest[-1] in ("lib.rs", "main.rs", "mod.rs"):
        rest = rest[:-1]
    else:
        rest[-1] = rest[-1][:-3]
    return "/".join(parts[:i]) or ".", rest


def without_tests(text):
    return re.split(r"#\[cfg\(test\)\]\s*mod tests", text)[0]


def expand(prefix, body):
    """The paths of a `use` tree such as `a::{b, c::d}`."""
    items, depth, cur = [], 0, ""
    for ch in body:
        depth += ch == "{"
        depth -= ch == "}"
        if ch == "," and depth == 0:
            items.append(cur)
            cur = ""
        else:
            cur += ch
    items.append(cur)
    out = []
    for item in (i.strip() for i in items):
        if not item:
            continue
        m = re.match(r"^([\w:]*?)::\{(.*)\}$", item, re.S)
        if m:
            out += expand(prefix + [p for p in m.group(1).split("::") if p], m.group(2))
        elif item.startswith("{") and item.endswith("}"):
            out += expand(prefix, item[1:-1])
        else:
            out.append(prefix + [p for p in item.split(" as ")[0].split("::") if p])
    return out


def module_cycles(files):
    edges = defaultdict(set)
    for f in files:
        found = module_of(f)
        if not found:
            continue
        crate, me = found
        text = re.sub(r"//.*", "", without_tests(open(f).read()))
        paths = []
        for m in re.finditer(r"\buse\s+((?:crate|super|self)(?:::|\b)[^;]*);", text, re.S):
            paths += expand([], m.group(1))
        paths += [m.group(1).split("::") for m in re.finditer(r"\b((?:crate|super)(?:::\w+)+)", text)]
        for p in paths:
            if p[0] == "crate":
                target = p[1:]
            else:
                base, i = list(me), 0
                while i < len(p) and p[i] in ("super", "self"):
                    base = base[:-1] if p[i] == "super" else base
                    i += 1
                target = base + p[i:]
            k = 0
            while k < len(me) and k < len(target) and me[k] == target[k]:
                k += 1
            if k < len(me) and k < len(target):
                edges[(crate,) + tuple(me[: k + 1])].add((crate,) + tuple(target[: k + 1]))
    # Strongly connected components (Tarjan).
    index, low, stack, on, cycles, n = {}, {}, [], set(), [], [0]

    def visit(v):
        index[v] = low[v] = n[0]
        n[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(comp)

    for v in list(edges):
        if v not in index:
            visit(v)
    return ["module cycle: " + " <-> ".join("/".join(m) for m in c) for c in cycles]


def long_files(files):
    out = []
    for f in files:
        n = without_tests(open(f).read()).count("\n")
        if n > MAX_FILE_LINES:
            out.append(f"{f}: {n} lines (over {MAX_FILE_LINES})")
    return out


def long_functions(files):
    out = []
    for f in files:
        lines = without_tests(open(f).read()).split("\n")
        for i, line in enumerate(lines):
            m = re.match(r"^(\s*)(pub(\([a-z]+\))? )?(const )?(async )?(unsafe )?fn \w+", line)
            if not m or line.rstrip().endswith(";"):
                continue
            if i > 0 and "layout: long" in lines[i - 1]:
                continue
            indent = m.group(1)
            end = next((j for j in range(i + 1, len(lines)) if lines[j] == indent + "}"), i)
            if end - i + 1 > MAX_FN_LINES:
                out.append(f"{f}:{i + 1}: {line.strip()[:60]}… is {end - i + 1} lines (over {MAX_FN_LINES})")
    return out


def main():
    files = sources()
    problems = module_cycles(files) + long_files(files) + long_functions(files)
    for p in problems:
        print(p)
    if problems:
        sys.exit(1)
    print(f"layout: {len(files)} files, no module cycle, none over {MAX_FILE_LINES} lines, no function over {MAX_FN_LINES}")


if __name__ == "__main__":
    main()
