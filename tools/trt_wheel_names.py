"""The Python names the compiled TensorRT bindings of a released wheel really export.

TensorRT releases ahead of its public sources (11.4 ships as a wheel while GitHub's newest tag
is 11.1), and what a wheel exports is what users get. This reads the wheel itself::

    pip download tensorrt-cu12-bindings==11.4.0.106 --no-deps -d wheels/
    python tools/trt_wheel_names.py \\
        --wheel wheels/tensorrt_cu12_bindings-11.4.0.106-cp311-none-manylinux_2_28_x86_64.whl \\
        --source tests/data/trt_names_v11.1.json -o tests/data/trt_names_v11.4.0.106.json

How: pybind11 registers every class, method, property and enum value by a C string
(``py::class_<...>(m, "Builder")``, ``.def("create_network", ...)``), which the linker keeps
in the extension's read-only data, NUL-terminated: the strings ``strings -n 3 tensorrt.so``
prints. A flat string table says nothing about which class a name belongs to (the linker
keeps one copy of ``"serialize"`` for every class), so the class structure comes from the
newest source tag's list (``tools/trt_names.py``, ``#if`` blocks resolved as NVIDIA's build
does), and a name stays in this list only if the compiled module contains it: a class, member
or module name NVIDIA removed or compiled out after that tag is dropped (and recorded under
``dropped``). Names the wheel's own ``tensorrt/__init__.py`` defines are added from it, as
``tools/trt_names.py`` does. A name new in the wheel and absent from the sources cannot be
placed on a class and is not listed: the package reaches such names through
``getattr(..., default)``.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import re
import shlex
import sys
import zipfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from trt_names import parse_init

_SO_RE = re.compile(r"^tensorrt_bindings/tensorrt[^/]*\.so$")
_INIT = "tensorrt_bindings/__init__.py"
_VERSION_RE = re.compile(r"-(\d+\.\d+\.\d+\.\d+)-")


def exported(blob: bytes, name: str) -> bool:
    # NUL-terminated, possibly the tail of a longer string (the linker merges common suffixes).
    return name.encode() + b"\0" in blob


def extract(wheel: Path, source: dict[str, object]) -> dict[str, object]:
    with zipfile.ZipFile(wheel) as zf:
        libs = [n for n in zf.namelist() if _SO_RE.match(n)]
        if len(libs) != 1:
            raise SystemExit(f"{wheel}: expected one tensorrt_bindings/tensorrt*.so, found {libs}")
        blob = zf.read(libs[0])
        init = zf.read(_INIT).decode()
    classes_src: dict[str, list[str]] = source["classes"]  # type: ignore[assignment]
    module_src: list[str] = source["module"]  # type: ignore[assignment]

    def keep(names: list[str]) -> set[str]:
        return {n for n in names if n.startswith("__") or exported(blob, n)}

    module = keep(module_src)
    classes = {c: keep(ms) for c, ms in classes_src.items() if exported(blob, c.rpartition(".")[2])}
    gone = sorted(set(classes_src) - set(classes))
    parse_init(init, module, classes)
    # What the source tag has and this wheel does not (after its __init__.py's own names).
    dropped = {"<module>": sorted(set(module_src) - module)} if set(module_src) - module else {}
    for c, ms in classes_src.items():
        if c in classes and set(ms) - classes[c]:
            dropped[c] = sorted(set(ms) - classes[c])
    version = _VERSION_RE.search(wheel.name)
    tag = f"v{version[1]}" if version else wheel.stem
    bases: dict[str, list[str]] = source["bases"]  # type: ignore[assignment]
    return {
        "repository": "NVIDIA/TensorRT (compiled wheel)",
        "tag": tag,
        "wheel": wheel.name,
        "wheel_sha256": hashlib.sha256(wheel.read_bytes()).hexdigest(),
        "extension": libs[0],
        "source_list": f"{source['tag']} (commit {source['commit']})",
        "download": f"pip download {wheel.name.split('-')[0].replace('_', '-')}=="
        f"{version[1] if version else '?'} --no-deps",
        "command": shlex.join(
            [
                "python",
                "tools/trt_wheel_names.py",
                "--wheel",
                wheel.name,
                "--source",
                f"tests/data/trt_names_{source['tag']}.json",
                "-o",
                f"tests/data/trt_names_{tag}.json",
            ]
        ),
        "module": sorted(module),
        "classes": {k: sorted(v) for k, v in sorted(classes.items())},
        "bases": {k: [b for b in v if b in classes] for k, v in sorted(bases.items()) if k in classes},
        "dropped": {"classes": gone, "members": dropped},
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheel", type=Path, required=True, help="a tensorrt-cu*-bindings wheel")
    ap.add_argument("--source", type=Path, required=True, help="newest tag's list (tools/trt_names.py)")
    ap.add_argument("-o", "--output", type=Path, required=True)
    args = ap.parse_args(argv)
    doc = extract(args.wheel, json.loads(args.source.read_text()))
    args.output.write_text(json.dumps(doc, indent=1) + "\n")
    n = sum(len(v) for v in doc["classes"].values())  # type: ignore[union-attr]
    print(f"{args.output}: {len(doc['module'])} module names, {n} class members", file=sys.stderr)  # type: ignore[arg-type]
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
