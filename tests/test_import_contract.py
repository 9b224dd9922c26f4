"""The import contract: one rule, checked on the files rather than held by convention.

1. **The torch line is a folder.** Everything that needs PyTorch lives under
   ``inception_export/full/``. Outside it, no module imports torch, ``inception_export.full``
   or the full extra's other dependencies at module level; inside a function only the seams
   named in :data:`SEAMS` may, each with its reason. Checked statically (``ast``) on every
   module of the package, so a module added anywhere is covered the day it appears, and
   dynamically: importing every module outside ``full/`` in a fresh interpreter loads none
   of them (the full venv has torch, so an import that reaches it succeeds and shows).
2. No import cycle among the package's modules, except the ones named below with why.
   Checked statically on every import statement, at module level and inside functions.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "inception_export"
FULL = "inception_export.full"
# Imported by the full role only (pyproject's `full` extra, and the folder itself).
FORBIDDEN = (FULL, "torch", "onnxscript", "skimage", "safetensors", "matplotlib", "psutil")
# The only modules outside full/ that reach into it (or torch) from inside a function, and why.
# A command of the full role is one of them: the CLI is torch-free at import, and the command
# imports its implementation when it runs.
SEAMS: dict[str, str] = {
    "inception_export.cli.bench_cmd": "bench runs the model in every backend",
    "inception_export.cli.deepstream_check_cmd": "the DeepStream gate runs the eager reference",
    "inception_export.cli.export_cmd": "the exporters",
    "inception_export.cli.golden_cmd": "a golden bundle is made by running the eager model",
    "inception_export.cli.inspect_cmd": "inspect builds the model to count parameters and MACs",
    "inception_export.cli.localize_cmd": "localize runs the eager model layer by layer",
    "inception_export.cli.parity_cmd": "parity --model builds the eager reference",
    "inception_export.cli.release_cmd": "release orchestration",
    "inception_export.cli.trt_cmd": "trt --model exports the ONNX it builds from",
    "inception_export.artifacts": "a TorchScript artifact runs through torch.jit (TorchScript is code)",
    "inception_export.runners.factory": "the one factory opens torch runners for TorchScript and eager",
    "inception_export.runners.tensorrt_runner": "torch's CUDA allocator where cuda-python is absent",
    "inception_export.parity.accuracy": "labelled images at a new size are resized with torch; eager top-1",
    "inception_export.deploy.package": "a release's DeepStream part is exported by the full role",
    "inception_export.deploy.extra": "deploy --rebuild exports the TorchScript it packages",
}


def module_name(path: Path, top: Path = PACKAGE.parent) -> str:
    parts = list(path.relative_to(top).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def outside_full() -> list[str]:
    names = {module_name(p) for p in PACKAGE.rglob("*.py")}
    names -= {"inception_export.__main__"}  # running it is the CLI, not an import
    return sorted(n for n in names if not is_forbidden(n))


def is_forbidden(module: str) -> bool:
    return any(module == f or module.startswith(f + ".") for f in FORBIDDEN)


def forbidden(modules: list[str]) -> list[str]:
    return sorted(m for m in modules if is_forbidden(m))


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


def imports_of_full(path: Path, *, in_functions: bool, top: Path = PACKAGE.parent) -> list[str]:
    """What ``path`` imports of the full role: at module level, or (``in_functions``) only
    inside function bodies. Relative imports are resolved, so ``from ..full import x`` counts."""
    name = module_name(path, top)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    found = []
    every = {id(n) for n in _imports(tree, in_functions=True)}
    top = {id(n) for n in _imports(tree, in_functions=False)}
    for node in _imports(tree, in_functions=True):
        if (id(node) in top) == in_functions or id(node) not in every:
            continue
        if isinstance(node, ast.Import):
            targets = [a.name for a in node.names]
        elif node.level:
            parts = package.split(".")
            parts = parts[: len(parts) - node.level + 1] + ([node.module] if node.module else [])
            base = ".".join(parts)
            targets = [base, *(f"{base}.{a.name}" for a in node.names)]
        else:
            targets = [node.module or "", *(f"{node.module}.{a.name}" for a in node.names)]
        found += [f"{name}:{node.lineno} {t}" for t in targets if is_forbidden(t)]
    return sorted(set(found))


def _outside_files() -> list[Path]:
    return sorted(p for p in PACKAGE.rglob("*.py") if not is_forbidden(module_name(p)))


def test_outside_full_nothing_imports_the_full_role_at_module_level() -> None:
    assert _outside_files(), "no modules found: the package moved"
    bad = [hit for p in _outside_files() for hit in imports_of_full(p, in_functions=False)]
    assert bad == [], "module-level imports of the full role outside full/:\n" + "\n".join(bad)


def test_function_level_imports_of_the_full_role_only_through_the_named_seams() -> None:
    used = {}
    for p in _outside_files():
        hits = imports_of_full(p, in_functions=True)
        if hits:
            used[module_name(p)] = hits
    unnamed = {m: hits for m, hits in used.items() if m not in SEAMS}
    assert unnamed == {}, f"reaching into full/ from a function, not a named seam: {unnamed}"
    # A seam that no longer reaches in is dropped from the list, so the list stays the truth.
    assert sorted(set(SEAMS) - set(used)) == []


def test_the_rule_sees_relative_and_absolute_imports(tmp_path: Path) -> None:
    # The checker on files made for it: a relative import up into full/ at module level and
    # one inside a function are each found; TYPE_CHECKING imports are not imports.
    pkg = tmp_path / "inception_export"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "sub" / "m.py").write_text(
        "from typing import TYPE_CHECKING\nfrom ..full.export import x\nimport numpy\n"
        "if TYPE_CHECKING:\n    import torch\ndef f():\n    import torch.nn\n"
    )
    path = pkg / "sub" / "m.py"
    outer = [h.split(" ", 1)[1] for h in imports_of_full(path, in_functions=False, top=tmp_path)]
    inner = [h.split(" ", 1)[1] for h in imports_of_full(path, in_functions=True, top=tmp_path)]
    assert "inception_export.full.export" in outer and "torch" not in outer
    assert inner == ["torch.nn"]


def test_importing_everything_outside_full_loads_no_torch() -> None:
    names = outside_full()
    assert "inception_export.parity.gate" in names and "inception_export.cli.trt_cmd" in names
    # One interpreter for all (a torch import costs seconds); on a failure, each module alone.
    if not forbidden(_loaded_after_import(*names)):
        return
    offenders = {}
    for name in names:
        bad = forbidden(_loaded_after_import(name))
        if bad:
            first = min(bad, key=lambda m: (m.count("."), m))
            offenders[name] = " -> ".join(import_chain(name, first))
    assert offenders == {}, "modules outside full/ that load the full role at import:\n" + "\n".join(
        f"  {mod}: {chain}" for mod, chain in offenders.items()
    )


# --- cycles -----------------------------------------------------------------------------

# Each allowed cycle, as the modules it may run through, with why it is there. Any other
# cycle is a design error.
ALLOWED_CYCLES: dict[str, tuple[set[str], str]] = {}
# A cycle on its way out, tolerated until the change that removes it (the test then says to
# drop the entry).
KNOWN_CYCLES: dict[str, tuple[set[str], str]] = {}


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


def test_no_import_cycle() -> None:
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
    # The layer map and the --keep-fp32 planning are the exporter's; the
    # diagnostic (localize/) reads what the exporter stored, so arrows run localize -> export only.
    graph = import_graph()
    back = sorted(
        f"{mod} -> {dep}"
        for mod, deps in graph.items()
        if mod.startswith("inception_export.full.export")
        for dep in deps
        if dep.startswith("inception_export.full.localize")
    )
    assert back == []
