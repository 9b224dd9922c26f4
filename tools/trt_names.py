"""Extract the Python-visible names of TensorRT's bindings at one tag of NVIDIA/TensorRT.

Reads the pybind11 sources (``python/src/**/*.cpp``: ``py::class_``/``py::enum_`` names,
their ``.def*``/``.value`` members, ``m.def``/``m.attr`` module names) and the wheel's
``tensorrt/__init__.py`` (what it defines or patches in Python), straight from a git clone,
and writes one small JSON file::

    git clone --bare https://github.com/NVIDIA/TensorRT TensorRT.git
    python tools/trt_names.py --git-dir TensorRT.git --tag v10.3.0 -o tests/data/trt_names_v10.3.0.json

``tests/test_tensorrt_api_names.py`` holds the ``tensorrt`` names this package uses against these
lists, so an API that one supported TensorRT version lacks fails a test on a machine with no
TensorRT at all. The extraction is textual: it reads the binding calls as NVIDIA writes them
(one ``py::class_<...>(scope, "Name", ...)`` followed by a ``.def("name", ...)`` chain, or a
named binding variable that later gets ``var.def(...)``). ``#if`` blocks are resolved as the
full module's Linux build resolves them (``CONDITIONS``), so a binding NVIDIA compiles out is
not listed.
"""

from __future__ import annotations

import argparse
import ast
import json
import re
import shlex
import subprocess
import sys
from pathlib import Path

BINDINGS_INIT = "python/packaging/bindings_wheel/tensorrt/__init__.py"
SOURCES = "python/src"

# py::class_<Cpp, Base...> [var](scope, "Name", ...) or [var]{scope, "Name", ...}; py::enum_ alike.
_BIND_RE = re.compile(
    r"py::(?P<kind>class_|enum_)\s*<(?P<targs>[^;{}()]*?)>\s*(?P<var>\w+)?\s*[({]\s*(?P<scope>\w+)\s*,\s*\"(?P<name>\w+)\""
)
_MEMBER_RE = re.compile(
    r"(?P<var>\b\w+)?\s*\.\s*(?P<how>def|def_property|def_property_readonly|def_readwrite|def_readonly|def_static"
    r"|def_property_static|def_property_readonly_static|value)\s*\(\s*\"(?P<name>\w+)\""
)
_MODULE_RE = re.compile(r"\bm\s*\.\s*(?:def|attr)\s*\(\s*\"(?P<name>\w+)\"")
_EXPORT_VALUES_RE = re.compile(r"\.\s*export_values\s*\(")
_VAR_USE_RE = re.compile(r"\b(?P<var>\w+)\s*\.\s*def\w*\s*\(")


def _git(git_dir: str, *args: str) -> str:
    return subprocess.run(
        ["git", f"--git-dir={git_dir}", *args], check=True, capture_output=True, text=True
    ).stdout


# What the preprocessor sees when NVIDIA builds the full ``tensorrt`` module on Linux: CMake's
# target ``tensorrt`` defines ``tensorrt_EXPORTS``, hence EXPORT_ALL_BINDINGS 1
# (python/include/ForwardDeclarations.h); nothing defines ENABLE_INETWORK_SERIALIZE (the
# compiled module has no INetworkDefinition.serialize, per tensorrt-stubs 10.13); pybind11 is
# 2.6 or newer. A condition not listed here counts as false, and what it guards is reported.
CONDITIONS = {
    "EXPORT_ALL_BINDINGS": True,
    "ENABLE_INETWORK_SERIALIZE": False,
    "defined(_WIN32)": False,
    "!defined(WIN32_LEAN_AND_MEAN)": True,
    "PYBIND11_VERSION_MAJOR < 2 || PYBIND11_VERSION_MAJOR == 2 && PYBIND11_VERSION_MINOR < 6": False,
}
_DIRECTIVE_RE = re.compile(r"^\s*#\s*(?P<kw>if|ifdef|ifndef|elif|else|endif)\b(?P<cond>.*)$")


def preprocess(src: str, unknown: set[str] | None = None) -> str:
    """``src`` with the lines of false ``#if`` branches blanked (line numbers kept)."""
    out: list[str] = []
    # One frame per open #if: (parent active, this branch active, some branch already taken).
    stack: list[tuple[bool, bool, bool]] = []
    active = True
    for line in src.splitlines():
        m = _DIRECTIVE_RE.match(line)
        if m is None:
            out.append(line if active else "")
            continue
        kw, cond = m["kw"], " ".join(m["cond"].split("//")[0].split())
        if kw == "ifdef":
            cond = f"defined({cond})"
        elif kw == "ifndef":
            cond = f"!defined({cond})"
        if kw in ("if", "ifdef", "ifndef"):
            value = _condition(cond, unknown)
            stack.append((active, active and value, value))
        elif kw == "elif" and stack:
            parent, _, taken = stack[-1]
            value = not taken and _condition(cond, unknown)
            stack[-1] = (parent, parent and value, taken or value)
        elif kw == "else" and stack:
            parent, _, taken = stack[-1]
            stack[-1] = (parent, parent and not taken, True)
        elif kw == "endif" and stack:
            stack.pop()
        active = stack[-1][1] if stack else True
        out.append("")
    return "\n".join(out)


def _condition(cond: str, unknown: set[str] | None) -> bool:
    if cond in CONDITIONS:
        return CONDITIONS[cond]
    if unknown is not None:
        unknown.add(cond)
    return False


def _strip_comments(src: str) -> str:
    src = re.sub(r"/\*.*?\*/", " ", src, flags=re.S)
    return re.sub(r"//[^\n]*", " ", src)


def parse_cpp(
    sources: list[str], unknown: set[str] | None = None
) -> tuple[set[str], dict[str, set[str]], dict[str, list[str]]]:
    """Module names, {class: members} and {class: bases} from the binding sources, as compiled."""
    module: set[str] = set()
    classes: dict[str, set[str]] = {}
    cpp_to_py: dict[str, str] = {}
    raw_bases: dict[str, list[str]] = {}
    for src in sources:
        src = _strip_comments(preprocess(src, unknown))
        var_class: dict[str, str] = {}
        events: list[tuple[int, str, re.Match[str]]] = []
        events += [(m.start(), "bind", m) for m in _BIND_RE.finditer(src)]
        events += [(m.start(), "member", m) for m in _MEMBER_RE.finditer(src)]
        events += [(m.start(), "module", m) for m in _MODULE_RE.finditer(src)]
        events += [(m.start(), "export", m) for m in _EXPORT_VALUES_RE.finditer(src)]
        events += [(m.start(), "var", m) for m in _VAR_USE_RE.finditer(src)]
        current: str | None = None
        parent_of: dict[str, str | None] = {}
        for _pos, kind, m in sorted(events, key=lambda e: e[0]):
            if kind == "bind":
                scope = m["scope"]
                parent = None if scope == "m" else var_class.get(scope)
                name = f"{parent}.{m['name']}" if parent else m["name"]
                classes.setdefault(name, set())
                parent_of[name] = parent
                if parent:
                    classes[parent].add(m["name"])
                else:
                    module.add(name)
                targs = [t.strip() for t in m["targs"].split(",")]
                cpp_to_py[targs[0]] = name
                raw_bases[name] = targs[1:]
                if m["var"]:
                    var_class[m["var"]] = name
                current = name
            elif kind == "member":
                var = m["var"]
                target = var_class.get(var, current) if var else current
                if var in ("m",) and m["how"] == "def":
                    continue  # m.def is a module function, caught by _MODULE_RE
                if target is not None:
                    classes[target].add(m["name"])
            elif kind == "var":
                # binding.def(...) on a named binding: the chain that follows is that class's.
                if m["var"] in var_class:
                    current = var_class[m["var"]]
            elif kind == "module":
                module.add(m["name"])
            elif kind == "export" and current is not None:
                # export_values() copies an enum's members into the scope that holds it.
                parent = parent_of.get(current)
                if parent:
                    classes[parent] |= classes[current]
                else:
                    module.update(classes[current])
    bases = {
        name: [cpp_to_py[b] for b in targs if b in cpp_to_py and cpp_to_py[b] != name]
        for name, targs in raw_bases.items()
    }
    return module, classes, {k: v for k, v in bases.items() if v}


def parse_init(src: str, module: set[str], classes: dict[str, set[str]]) -> None:
    """Add what the wheel's ``tensorrt/__init__.py`` defines or patches onto the bound classes."""
    # Build-time placeholders: the full "tensorrt" module; any other one is a constant.
    src = re.sub(r"##\w+##", "0", src.replace("##TENSORRT_MODULE##", "tensorrt"))
    tree = ast.parse(src)
    for node in tree.body:
        if isinstance(node, (ast.FunctionDef, ast.ClassDef)):
            module.add(node.name)
        elif isinstance(node, ast.Assign):
            for target in node.targets:
                if isinstance(target, ast.Name):
                    module.add(target.id)
                elif isinstance(target, ast.Attribute) and isinstance(target.value, ast.Name):
                    classes.setdefault(target.value.id, set()).add(target.attr)
        elif isinstance(node, ast.If):
            parse_init(ast.unparse(ast.Module(body=node.body, type_ignores=[])), module, classes)
        elif isinstance(node, ast.For) and isinstance(node.iter, ast.Call):
            # for attr, value in A.B.__members__.items(): setattr(C, attr, value)
            source = ast.unparse(node.iter.func)
            m = re.fullmatch(r"([\w.]+)\.__members__\.items", source)
            calls = [
                n for n in ast.walk(node) if isinstance(n, ast.Call) and ast.unparse(n.func) == "setattr"
            ]
            if m and calls and isinstance(calls[0].args[0], ast.Name):
                classes.setdefault(calls[0].args[0].id, set()).update(classes.get(m[1], set()))


def extract(git_dir: str, tag: str) -> dict[str, object]:
    files = [
        f for f in _git(git_dir, "ls-tree", "-r", "--name-only", tag, SOURCES).split() if f.endswith(".cpp")
    ]
    unknown: set[str] = set()
    module, classes, bases = parse_cpp([_git(git_dir, "show", f"{tag}:{f}") for f in files], unknown)
    if unknown:
        print(f"{tag}: #if conditions taken as false: {sorted(unknown)}", file=sys.stderr)
    parse_init(_git(git_dir, "show", f"{tag}:{BINDINGS_INIT}"), module, classes)
    commit = _git(git_dir, "rev-list", "-n", "1", tag).strip()
    return {
        "repository": "NVIDIA/TensorRT",
        "tag": tag,
        "commit": commit,
        "sources": [*files, BINDINGS_INIT],
        # TensorRT.git: `git clone --bare https://github.com/NVIDIA/TensorRT TensorRT.git`
        "command": shlex.join(
            [
                "python",
                "tools/trt_names.py",
                "--git-dir",
                "TensorRT.git",
                "--tag",
                tag,
                "-o",
                f"tests/data/trt_names_{tag}.json",
            ]
        ),
        "clone": "git clone --bare https://github.com/NVIDIA/TensorRT TensorRT.git",
        "preprocessor": {k: v for k, v in CONDITIONS.items()},
        "module": sorted(module),
        "classes": {k: sorted(v) for k, v in sorted(classes.items())},
        "bases": dict(sorted(bases.items())),
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--git-dir", required=True, help="a clone of NVIDIA/TensorRT (its .git directory)")
    ap.add_argument("--tag", required=True)
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args(argv)
    doc = extract(args.git_dir, args.tag)
    args.output.write_text(json.dumps(doc, indent=1) + "\n")
    n = sum(len(v) for v in doc["classes"].values())  # type: ignore[union-attr]
    print(f"{args.output}: {len(doc['module'])} module names, {n} class members", file=sys.stderr)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
