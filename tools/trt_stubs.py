"""Make the ``tensorrt-stubs`` (10.x signatures) usable by mypy.

The package ships the stubs as a plain ``tensorrt/`` directory without ``py.typed`` (so
mypy ignores them) and a few generated signatures that are not valid Python (a parameter
named ``in``; required parameters after defaulted ones). This copies them to ``.typing/``
with exactly those defects repaired, leaving every signature otherwise as published, so
``mypy`` checks our TensorRT code against the real 10.x API.
"""

from __future__ import annotations

import ast
import importlib.util
import re
import shutil
import sys
from pathlib import Path

DEST = Path(__file__).resolve().parent.parent / ".typing"


def _split_params(params: str) -> list[str]:
    out, depth, cur = [], 0, ""
    for ch in params:
        if ch in "([{":
            depth += 1
        elif ch in ")]}":
            depth -= 1
        if ch == "," and depth == 0:
            out.append(cur)
            cur = ""
        else:
            cur += ch
    if cur.strip():
        out.append(cur)
    return out


def _fix_def(line: str) -> str:
    m = re.match(r"^(\s*def \w+\()(.*)(\)\s*(->.*)?:\s*)$", line)
    if not m:
        return line
    params = _split_params(m.group(2))
    fixed, seen_default = [], False
    for p in params:
        p = re.sub(r"^(\s*)in(\s*:)", r"\1in_\2", p)
        name = p.strip()
        if name in ("*", "/") or name.startswith("*"):
            seen_default = seen_default and name == "/"
            fixed.append(p)
            continue
        if "=" in name:
            seen_default = True
        elif seen_default:
            p = f"{p} = ..."
        fixed.append(p)
    return m.group(1) + ",".join(fixed) + m.group(3)


def repair(text: str) -> str:
    return (
        "\n".join(_fix_def(ln) if ln.lstrip().startswith("def ") else ln for ln in text.splitlines()) + "\n"
    )


def main() -> int:
    found = {}
    for pkg in ("tensorrt", "tensorrt_bindings"):
        spec = importlib.util.find_spec(pkg)
        locations = list(spec.submodule_search_locations or []) if spec else []
        stub_dirs = [Path(p) for p in locations if any(Path(p).glob("*.pyi"))]
        if not stub_dirs:
            print(
                f"trt_stubs: {pkg} stubs not installed (pip install --no-deps tensorrt-stubs)",
                file=sys.stderr,
            )
            return 2
        found[pkg] = stub_dirs[0]
    shutil.rmtree(DEST, ignore_errors=True)
    for pkg, src in found.items():
        for pyi in src.glob("*.pyi"):
            out = DEST / pkg / pyi.name
            out.parent.mkdir(parents=True, exist_ok=True)
            text = repair(pyi.read_text())
            ast.parse(text, filename=str(pyi))  # fail loudly if a defect remains
            out.write_text(text)
    print(f"trt_stubs: wrote repaired stubs to {DEST}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
