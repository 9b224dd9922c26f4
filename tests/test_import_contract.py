"""Issue 18, item 8: the import contract, checked on the files rather than held by convention.

1. The device role (``parity --golden``, ``trt --onnx``: the gate, the golden bundle,
   ``tensorrt/``, ``artifacts.py``, the onnxruntime and TensorRT runners, every CLI module at
   import) loads no torch, no model code and no exporter when imported, directly or through
   anything it imports. Checked by importing them in a fresh interpreter and reading
   ``sys.modules`` (the full venv has torch, so an import that reaches it succeeds and shows).
2. No import cycle among the package's modules, except the registry and the model files: the
   registry imports ``models`` inside a function so that every entry point sees the models
   registered, and each model file registers itself with the registry. Checked statically
   (``ast``) on every import statement, at module level and inside functions.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "inception_export"

# The device role, by file. Folders are globbed so that a module added there is checked
# from the day it appears; a module of the full role placed in one of them must be named in
# FULL_ROLE_EXCEPTIONS with the reason.
DEVICE_GLOBS = (
    "__init__.py",
    "artifacts.py",
    "metadata.py",
    "atomic.py",
    "console.py",
    "errors.py",
    "hashing.py",
    "text.py",
    "parity/*.py",
    "tensorrt/*.py",
    # deploy triton needs no torch; deepstream.py exports and is not listed
    "deploy/__init__.py",
    "deploy/labels.py",
    "deploy/source.py",
    "deploy/triton.py",
    "deploy/package.py",
    "cli/*.py",
    "runners/__init__.py",
    "runners/base.py",
    "runners/onnxruntime_runner.py",
    "runners/tensorrt*.py",
    "runners/factory.py",
)
FULL_ROLE_EXCEPTIONS: dict[str, str] = {
    "inception_export.parity.eager": "the eager reference: builds the model and runs it in PyTorch",
}
FORBIDDEN = (
    "torch",
    "inception_export.models",
    "inception_export.build",
    "inception_export.export",
    "inception_export.checkpoint",
    # The full role's other dependencies (pyproject's `full` extra).
    "onnxscript",
    "skimage",
    "safetensors",
    "matplotlib",
    "psutil",
)
# Each allowed cycle, as the modules it may run through, with why it is there. Any other
# cycle is a design error.
ALLOWED_CYCLES = {
    "registry/models": (
        {"inception_export.registry", "inception_export.models"}
        | {f"inception_export.models.{p.stem}" for p in (PACKAGE / "models").glob("*.py")},
        "the registry imports the model files on first lookup; each registers itself with it",
    ),
}
# A cycle that issue 18 item 6 removes (commands registered from one table): tolerated
# within the CLI package until then; once it is gone this entry must go too (the test says so).
KNOWN_CYCLES = {
    "cli/app-commands": (
        {f"inception_export.cli.{p.stem}" for p in (PACKAGE / "cli").glob("*.py")},
        "cli/app.py imports cli/commands.py in main(); each command module imports app's decorator",
    ),
}


def module_name(path: Path, top: Path = PACKAGE.parent) -> str:
    parts = list(path.relative_to(top).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def device_modules() -> list[str]:
    names = {module_name(p) for pattern in DEVICE_GLOBS for p in PACKAGE.glob(pattern)}
    names -= {"inception_export.__main__"}  # running it is the CLI, not an import
    return sorted(names - set(FULL_ROLE_EXCEPTIONS))


def forbidden(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if any(m == f or m.startswith(f + ".") for f in FORBIDDEN))


def _loaded_after_import(*names: str) -> list[str]:
    code = "import importlib, json, sys\nfor n in sys.argv[1:]: importlib.import_module(n)\n"
    code += "print(json.dumps(sorted(sys.modules)))"
    proc = subprocess.run([sys.executable, "-c", code, *names], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr
    return list(json.loads(proc.stdout))


def import_chain(name: str, target: str) -> list[str]:
    """Who imported ``target`` when importing ``name``: the path down ``-X importtime``'s tree."""
    proc = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", f"import {name}"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    rows = []  # (depth, module), children before their parent
    for line in proc.stderr.splitlines():
        if line.startswith("import time:") and "|" in line and "cumulative" not in line:
            field = line.rsplit("|", 1)[1]
            rows.append(((len(field) - len(field.lstrip()) - 1) // 2, field.strip()))
    for i, (depth, mod) in enumerate(rows):
        if mod == target:
            chain, want = [mod], depth
            for d, m in rows[i + 1 :]:
                if d < want:
                    chain.append(m)
                    want = d
            return chain[::-1]
    return [name, "...", target]


def test_device_role_modules_are_listed() -> None:
    names = device_modules()
    # The globs still match the files they were written for (a move would silently skip them).
    for must in (
        "inception_export.artifacts",
        "inception_export.metadata",
        "inception_export.parity.gate",
        "inception_export.parity.bundle",
        "inception_export.parity.golden_reference",
        "inception_export.parity.reference",
        "inception_export.tensorrt.builder",
        "inception_export.cli.parity_cmd",
        "inception_export.cli.trt_cmd",
        "inception_export.runners.onnxruntime_runner",
        "inception_export.runners.tensorrt_runner",
        "inception_export.runners.factory",
    ):
        assert must in names, must


def test_device_role_imports_no_torch_models_or_exporters() -> None:
    names = device_modules()
    # One interpreter for all (a torch import costs seconds); on a failure, each module alone.
    if not forbidden(_loaded_after_import(*names)):
        return
    offenders = {}
    for name in names:
        bad = forbidden(_loaded_after_import(name))
        if bad:
            first = min(bad, key=lambda m: (m.count("."), m))
            offenders[name] = " -> ".join(import_chain(name, first))
    assert offenders == {}, "device-role modules that load the full role at import:\n" + "\n".join(
        f"  {mod}: {chain}" for mod, chain in offenders.items()
    )


# --- cycles -----------------------------------------------------------------------------


def _is_type_checking(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imports(tree: ast.AST, *, in_functions: bool) -> list[ast.Import | ast.ImportFrom]:
    """The imports that can run (never those under ``if TYPE_CHECKING``); those inside
    function bodies only with ``in_functions`` (class bodies run at import, so they count)."""
    found: list[ast.Import | ast.ImportFrom] = []

    def visit(node: ast.AST) -> None:
        if isinstance(node, ast.If) and _is_type_checking(node):
            for child in node.orelse:
                visit(child)
            return
        if not in_functions and isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.Lambda):
            return
        if isinstance(node, ast.Import | ast.ImportFrom):
            found.append(node)
        for child in ast.iter_child_nodes(node):
            visit(child)

    visit(tree)
    return found


def import_graph(root: Path = PACKAGE, *, in_functions: bool = True) -> dict[str, set[str]]:
    """Module -> the package's modules it imports (``from pkg import sub`` counts as ``pkg.sub``)."""
    files = {module_name(p, root.parent): p for p in root.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in files.items():
        package = name if path.name == "__init__.py" else name.rpartition(".")[0]
        edges: set[str] = set()
        for node in _imports(ast.parse(path.read_text(), str(path)), in_functions=in_functions):
            if isinstance(node, ast.Import):
                edges.update(a.name for a in node.names)
                continue
            if node.level:
                parts = package.split(".")
                parts = parts[: len(parts) - node.level + 1] + ([node.module] if node.module else [])
                target = ".".join(parts)
            else:
                target = node.module or ""
            submodules = {f"{target}.{a.name}" for a in node.names} & set(files)
            edges.update(submodules)
            if len(submodules) < len(node.names):
                edges.add(target)
        graph[name] = {e for e in edges if e in files and e != name}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[frozenset[str]]:
    """The strongly connected components of more than one module (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[frozenset[str]] = []
    for start in sorted(graph):
        if start in index:
            continue
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        work = [(start, iter(sorted(graph[start])))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = len(index)
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(sorted(graph[child]))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = set()
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.add(member)
                    if member == node:
                        break
                if len(component) > 1:
                    found.append(frozenset(component))
    return found


def test_no_import_cycle_but_the_registry_and_models() -> None:
    found = cycles(import_graph())
    allowed = {**ALLOWED_CYCLES, **KNOWN_CYCLES}
    named = {c: next((k for k, (within, _) in allowed.items() if c <= within), None) for c in found}
    unexpected = [sorted(c) for c, name in named.items() if name is None]
    assert unexpected == [], f"import cycles: {unexpected}"
    gone = set(allowed) - set(named.values())
    assert gone == set(), f"no longer a cycle: drop {sorted(gone)} from the lists above"


def test_module_level_imports_have_no_cycle_at_all() -> None:
    # The cycles above close only through imports inside functions; at module level the
    # package is a tree, so the order in which its modules are first imported never matters.
    assert cycles(import_graph(in_functions=False)) == []


@pytest.mark.parametrize(
    ("source", "in_functions", "cycle"),
    [
        ({"x.py": "from . import y\n", "y.py": "from .x import f\n"}, False, True),
        ({"x.py": "from .sub.z import f\n", "sub/z.py": "from ..x import g\n"}, False, True),
        ({"x.py": "def f():\n    from . import y\n", "y.py": "import a.x\n"}, True, True),
        ({"x.py": "def f():\n    from . import y\n", "y.py": "import a.x\n"}, False, False),
        (
            {"x.py": "from typing import TYPE_CHECKING\nif TYPE_CHECKING:\n    from .y import T\n",
             "y.py": "from .x import f\n"},
            True,
            False,
        ),
    ],
)  # fmt: skip
def test_cycle_finder(source: dict[str, str], in_functions: bool, cycle: bool, tmp_path: Path) -> None:
    # The finder on a package made for it: relative imports up and down resolve, a cycle
    # through a function-level import counts where asked, one through TYPE_CHECKING never.
    root = tmp_path / "a"
    for rel, text in {"__init__.py": "", "sub/__init__.py": "", **source}.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    found = cycles(import_graph(root, in_functions=in_functions))
    assert bool(found) == cycle, found


def test_export_never_imports_localize() -> None:
    # Issue 18 item 3: the layer map and the --keep-fp32 planning are the exporter's; the
    # diagnostic (localize/) reads what the exporter stored, so arrows run localize -> export only.
    graph = import_graph()
    back = sorted(
        f"{mod} -> {dep}"
        for mod, deps in graph.items()
        if mod.startswith("inception_export.export")
        for dep in deps
        if dep.startswith("inception_export.localize")
    )
    assert back == []
