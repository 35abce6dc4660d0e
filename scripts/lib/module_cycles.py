#!/usr/bin/env python3
"""Finds import cycles between the modules of a Rust crate: two or more modules that name
each other, directly or around a loop. A cycle means no module of it can be read, tested or
moved on its own; the shared item belongs in the lower module or a third one.

Usage: module_cycles.py [--graph] SRC_DIR...

A module depends on another when its code, outside `#[cfg(test)]`, names it through
`crate::` or `super::` (`use` lines, `use` groups and paths inside code alike); an item the
crate root re-exports (`pub use config::Config;`) counts as its module's. A module and its
own parent or children are not counted. Exits 1 and prints each cycle if there is one;
--graph prints every module's dependencies too.
"""

import re
import sys
from pathlib import Path


def module_of(src: Path, file: Path) -> str:
    parts = list(file.relative_to(src).with_suffix("").parts)
    if parts[-1] in ("mod", "lib", "main"):
        parts = parts[:-1]
    return "::".join(parts)


def code_of(text: str) -> str:
    """The code before `#[cfg(test)]`, without comments and string literals."""
    text = re.sub(r"//[^\n]*", "", text)
    text = re.sub(r'"(\\.|[^"\\])*"', '""', text)
    cut = text.find("#[cfg(test)]")
    return text if cut < 0 else text[:cut]


def first_segments(text: str, pos: int) -> list[str]:
    """The first path segment of each path that starts at text[pos]: `a` of `a::b`, or `a`
    and `b` of a group `{a::x, b}`."""
    if not text.startswith("{", pos):
        m = re.match(r"\w+", text[pos:])
        return [m.group(0)] if m else []
    depth, start, items = 0, pos + 1, []
    for i in range(pos, len(text)):
        if text[i] == "{":
            depth += 1
        elif text[i] == "}":
            depth -= 1
            if depth == 0:
                items.append(text[start:i])
                break
        elif text[i] == "," and depth == 1:
            items.append(text[start:i])
            start = i + 1
    return [m.group(1) for item in items if (m := re.match(r"\s*(\w+)", item))]


def dependencies(src: Path) -> dict[str, set[str]]:
    files = {module_of(src, f): f for f in sorted(src.rglob("*.rs"))}
    reexports = {}
    for root in ("lib.rs", "main.rs"):
        if (src / root).exists():
            code = code_of((src / root).read_text())
            for m in re.finditer(r"pub use (?:crate::)?(\w+)::", code):
                for name in first_segments(code, m.end()):
                    reexports[name] = m.group(1)
    graph = {}
    for module, file in files.items():
        code = code_of(file.read_text())
        parent = "::".join(module.split("::")[:-1])
        deps = set()
        for m in re.finditer(r"\b(crate|super)::", code):
            base = "" if m.group(1) == "crate" else parent
            for name in first_segments(code, m.end()):
                target = f"{base}::{name}" if base else reexports.get(name, name)
                related = (
                    target == module
                    or module.startswith(target + "::")
                    or target.startswith(module + "::")
                )
                if target in files and target and not related:
                    deps.add(target)
        graph[module] = deps
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def main(args: list[str]) -> int:
    show = "--graph" in args
    status = 0
    for src in [Path(a) for a in args if a != "--graph"]:
        graph = dependencies(src)
        if show:
            for module in sorted(graph):
                print(f"{src}: {module or '(root)'} -> {', '.join(sorted(graph[module])) or '-'}")
        for component in cycles(graph):
            status = 1
            edges = "; ".join(
                f"{m} -> {', '.join(sorted(graph[m] & set(component)))}" for m in component
            )
            print(f"{src}: import cycle among {', '.join(component)} ({edges})")
    return status


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
