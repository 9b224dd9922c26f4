"""The ``tensorrt`` names this package uses exist in TensorRT 10.3 (JetPack 6) and in 11.x.

mypy checks the TensorRT code against the 10.13 stubs, which cannot see what 11 removed. Here
the names the package uses are collected from its source (``ast``) and held against name
lists extracted from the Python bindings' sources at each supported tag
(``tests/data/trt_names_<tag>.json``, made by ``tools/trt_names.py``; each file records the
tag, commit and command).
"""

from __future__ import annotations

import ast
import json
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

import pytest

import inception_export

PKG = Path(inception_export.__file__).parent
DATA = Path(__file__).parent / "data"
# Source tags (tools/trt_names.py) and the compiled 11.4 wheel (tools/trt_wheel_names.py).
TAGS = ("v10.3.0", "v11.0", "v11.1", "v11.4.0.106")

# Attributes pybind11 gives every bound class or enum value (not in the binding sources).
PYBIND_ATTRS = frozenset({"name", "value", "__members__", "__init__", "__entries"})

# What TensorRT 11 removed of weak typing and implicit batch: must never appear in the package.
WEAK_TYPING = (
    "BuilderFlag.FP16",
    "BuilderFlag.BF16",
    "BuilderFlag.INT8",
    "BuilderFlag.FP8",
    "BuilderFlag.INT4",
    "BuilderFlag.OBEY_PRECISION_CONSTRAINTS",
    "BuilderFlag.PREFER_PRECISION_CONSTRAINTS",
    "BuilderFlag.REJECT_EMPTY_ALGORITHMS",
    "Builder.platform_has_fast_fp16",
    "Builder.platform_has_fast_int8",
    "Builder.platform_has_tf32",
    "NetworkDefinitionCreationFlag.EXPLICIT_BATCH",
    "ILayer.precision",
    "ILayer.set_output_type",
    "ILayer.reset_output_type",
    "ILayer.output_type_is_set",
    "ILayer.reset_precision",
    "ILayer.precision_is_set",
    "INormalizationLayer.compute_precision",
    "ITensor.dynamic_range",
    "ITensor.set_dynamic_range",
    "IBuilderConfig.int8_calibrator",
    "IBuilderConfig.set_calibration_profile",
    "IBuilderConfig.algorithm_selector",
    "IBuilderConfig.set_quantization_flag",
    "ICudaEngine.has_implicit_batch_dimension",
    "ICudaEngine.device_memory_size",
    "IInt8Calibrator",
    "IInt8EntropyCalibrator2",
    "IInt8MinMaxCalibrator",
    "IInt8LegacyCalibrator",
    "CalibrationAlgoType",
    "IAlgorithmSelector",
    "QuantizationFlag",
)


@dataclass(frozen=True)
class NameList:
    tag: str
    module: frozenset[str]
    classes: dict[str, frozenset[str]]
    bases: dict[str, list[str]]

    @classmethod
    def load(cls, tag: str) -> NameList:
        doc = json.loads((DATA / f"trt_names_{tag}.json").read_text())
        assert doc["tag"] == tag and doc["command"].startswith(
            ("python tools/trt_names.py", "python tools/trt_wheel_names.py")
        )
        return cls(
            tag,
            frozenset(doc["module"]),
            {k: frozenset(v) for k, v in doc["classes"].items()},
            doc["bases"],
        )

    def members(self, cls: str) -> frozenset[str]:
        out = set(self.classes.get(cls, ()))
        for base in self.bases.get(cls, []):
            out |= self.members(base)
        return frozenset(out)

    @property
    def any_member(self) -> frozenset[str]:
        return frozenset(m for ms in self.classes.values() for m in ms)


@dataclass(frozen=True)
class Use:
    """``trt.A.B`` (qualified) or ``.name`` on an object TensorRT handed us (``owner`` None)."""

    where: str
    path: tuple[str, ...]  # ("BuilderFlag", "TF32") from trt.BuilderFlag.TF32; ("set_flag",) on an object
    qualified: bool
    soft: bool = False  # getattr(x, "NAME", default): the code copes with its absence
    owner: str | None = None  # the TensorRT class of the object, where the collector knows it


# What the TensorRT calls the package makes return (TensorRT's Python API reference, the same in
# 10.x and 11.x), so a method is checked on the class it is called on, not on any class.
RETURNS = {
    ("Builder", "create_network"): "INetworkDefinition",
    ("Builder", "create_builder_config"): "IBuilderConfig",
    ("Builder", "create_optimization_profile"): "IOptimizationProfile",
    ("Builder", "build_serialized_network"): "IHostMemory",
    ("INetworkDefinition", "get_input"): "ITensor",
    ("INetworkDefinition", "get_output"): "ITensor",
    ("INetworkDefinition", "get_layer"): "ILayer",
    ("OnnxParser", "get_error"): "ParserError",
    ("Runtime", "deserialize_cuda_engine"): "ICudaEngine",
    ("ICudaEngine", "create_execution_context"): "IExecutionContext",
    ("ICudaEngine", "create_engine_inspector"): "EngineInspector",
    ("IBuilderConfig", "create_timing_cache"): "ITimingCache",
    ("IBuilderConfig", "get_timing_cache"): "ITimingCache",
}


def _root_and_chain(node: ast.expr) -> tuple[ast.expr, list[str]]:
    chain: list[str] = []
    while isinstance(node, ast.Attribute):
        chain.append(node.attr)
        node = node.value
    return node, chain[::-1]


def _dotted(node: ast.expr) -> str | None:
    root, chain = _root_and_chain(node)
    if isinstance(root, ast.Name):
        return ".".join([root.id, *chain])
    return None


class _Collector:
    """Collects the TensorRT names one module uses.

    ``import tensorrt [as trt]`` makes an alias; a value is TensorRT's when it comes from a call
    or attribute on an alias or on another such value (``builder = trt.Builder(...)``,
    ``network = builder.create_network(...)``, ``self.engine = ...``). Names are tracked per
    function, ``self.x`` per module: loose, but TensorRT's objects never share a name with ours.
    """

    def __init__(self, tree: ast.Module, where: str) -> None:
        self.where = where
        self.tree = tree
        self.aliases = {
            a.asname or a.name
            for n in ast.walk(tree)
            if isinstance(n, ast.Import)
            for a in n.names
            if a.name == "tensorrt"
        }
        self.self_attrs: set[str] = set()
        self.self_types: dict[str, str] = {}
        self.uses: list[Use] = []

    def _class_of(self, node: ast.expr | None, types: dict[str, str]) -> str | None:
        """The TensorRT class a value is: ``trt.X(...)``, a known method's result, a typed name."""
        if isinstance(node, ast.Name):
            return types.get(node.id)
        if isinstance(node, ast.Attribute):
            dotted = _dotted(node)
            if dotted is not None and dotted in self.self_types:
                return self.self_types[dotted]
            root, chain = _root_and_chain(node)
            if isinstance(root, ast.Name) and root.id in self.aliases and len(chain) == 1:
                return chain[0]  # an annotation: trt.IExecutionContext
            return None
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Attribute):
            root, chain = _root_and_chain(node.func)
            if isinstance(root, ast.Name) and root.id in self.aliases and len(chain) == 1:
                return chain[0]  # a constructor: trt.Builder(logger)
            owner = self._class_of(node.func.value, types)
            return RETURNS.get((owner, node.func.attr)) if owner else None
        return None

    def _param_types(self, body: list[ast.stmt]) -> dict[str, str]:
        for n in ast.walk(self.tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.body is body:
                args = [*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs]
                out = {a.arg: self._class_of(a.annotation, {}) for a in args if a.annotation is not None}
                return {k: v for k, v in out.items() if v is not None}
        return {}

    def _is_trt(self, node: ast.expr, local: set[str]) -> bool:
        while True:
            if isinstance(node, ast.Call):
                node = node.func
            elif isinstance(node, (ast.Attribute, ast.Subscript)):
                dotted = _dotted(node) if isinstance(node, ast.Attribute) else None
                if dotted is not None and dotted in self.self_attrs:
                    return True
                node = node.value
            elif isinstance(node, ast.Name):
                return node.id in self.aliases or node.id in local
            else:
                return False

    def _trt_params(self, body: list[ast.stmt]) -> set[str]:
        # Parameters annotated with a TensorRT type (``network: trt.INetworkDefinition``).
        for n in ast.walk(self.tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.body is body:
                args = [*n.args.posonlyargs, *n.args.args, *n.args.kwonlyargs]
                return {a.arg for a in args if a.annotation is not None and self._is_trt(a.annotation, set())}
        return set()

    def _scopes(self) -> Iterable[list[ast.stmt]]:
        yield self.tree.body
        for n in ast.walk(self.tree):
            if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)):
                yield n.body

    def _scope_nodes(self, body: list[ast.stmt]) -> Iterable[ast.AST]:
        # This scope's nodes, not those of functions nested in it (they are their own scope).
        stack: list[ast.AST] = [n for n in body if not isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef))]
        while stack:
            n = stack.pop()
            yield n
            for child in ast.iter_child_nodes(n):
                if not isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda)):
                    stack.append(child)

    def collect(self) -> list[Use]:
        if not self.aliases:
            return []
        scopes = [(body, self._trt_params(body)) for body in self._scopes()]
        types = {id(body): self._param_types(body) for body, _ in scopes}
        changed = True
        while changed:  # fixpoint: a tracked value can make another tracked
            changed = False
            for body, local in scopes:
                for n in self._scope_nodes(body):
                    if isinstance(n, (ast.Assign, ast.AnnAssign)) and n.value is not None:
                        targets = n.targets if isinstance(n, ast.Assign) else [n.target]
                        if not self._is_trt(n.value, local):
                            continue
                        cls = self._class_of(n.value, types[id(body)])
                        for t in targets:
                            d = _dotted(t) if isinstance(t, (ast.Name, ast.Attribute)) else None
                            if cls is None or d is None:
                                continue
                            known = self.self_types if d.startswith("self.") else types[id(body)]
                            if known.get(d) != cls:
                                known[d] = cls
                                changed = True
                        leaves = [e for t in targets for e in (t.elts if isinstance(t, ast.Tuple) else [t])]
                        for leaf in leaves:
                            if isinstance(leaf, ast.Name) and leaf.id not in local:
                                local.add(leaf.id)
                                changed = True
                            elif isinstance(leaf, ast.Attribute):
                                d = _dotted(leaf)
                                if d and d.startswith("self.") and d not in self.self_attrs:
                                    self.self_attrs.add(d)
                                    changed = True
        for body, local in scopes:
            for n in self._scope_nodes(body):
                self._record(n, local, types[id(body)])
        return self.uses

    def _record(self, n: ast.AST, local: set[str], types: dict[str, str] | None = None) -> None:
        types = types or {}
        if isinstance(n, ast.Call) and isinstance(n.func, ast.Name) and n.func.id in ("getattr", "hasattr"):
            if len(n.args) >= 2 and isinstance(n.args[1], ast.Constant) and isinstance(n.args[1].value, str):
                soft = n.func.id == "hasattr" or len(n.args) == 3
                obj = n.args[0]
                root, chain = _root_and_chain(obj)
                if isinstance(root, ast.Name) and root.id in self.aliases:
                    self.uses.append(Use(self.where, (*chain, n.args[1].value), True, soft))
                elif self._is_trt(obj, local):
                    owner = self._class_of(obj, types)
                    self.uses.append(Use(self.where, (n.args[1].value,), False, soft, owner))
            return
        if not isinstance(n, ast.Attribute):
            return
        root, chain = _root_and_chain(n)
        if isinstance(root, ast.Name) and root.id in self.aliases:
            self.uses.append(Use(self.where, tuple(chain), True))
        elif isinstance(n.value, (ast.Name, ast.Attribute, ast.Call, ast.Subscript)) and self._is_trt(
            n.value, local
        ):
            d = _dotted(n)
            if d is not None and d in self.self_attrs:
                return  # our own attribute holding a TensorRT object, not a TensorRT name
            self.uses.append(Use(self.where, (n.attr,), False, owner=self._class_of(n.value, types)))


def collect_uses(source: str, where: str) -> list[Use]:
    return _Collector(ast.parse(source), where).collect()


def missing(uses: Iterable[Use], names: NameList) -> list[str]:
    """``"file: trt.A.B (not in TensorRT <tag>)"`` for every use the name list lacks."""
    out = []
    for use in uses:
        if use.soft:
            continue
        if use.qualified:
            ok = _resolve(use.path, names)
        else:
            attr = use.path[0]
            # On the class it is called on where that is known; else on any class.
            pool = names.members(use.owner) if use.owner in names.classes else names.any_member
            ok = attr in pool or attr in PYBIND_ATTRS or attr.startswith("__")
        if not ok:
            on = use.owner if use.owner in names.classes else ""
            shown = "trt." + ".".join(use.path) if use.qualified else f"{on}.{use.path[0]}"
            out.append(f"{use.where}: {shown} (not in TensorRT {names.tag})")
    return sorted(set(out))


def _resolve(path: tuple[str, ...], names: NameList) -> bool:
    if not path:
        return True
    if path[0] not in names.module:
        return False
    owner = path[0]
    for attr in path[1:]:
        if owner not in names.classes:
            return True  # a method or value: what it returns is not a TensorRT name here
        if attr not in names.members(owner) and attr not in PYBIND_ATTRS and not attr.startswith("__"):
            return False
        owner = f"{owner}.{attr}" if f"{owner}.{attr}" in names.classes else attr
    return True


def package_uses() -> list[Use]:
    uses = []
    for path in sorted(PKG.rglob("*.py")):
        uses += collect_uses(path.read_text(), str(path.relative_to(PKG)))
    return uses


@pytest.fixture(scope="module")
def lists() -> dict[str, NameList]:
    return {tag: NameList.load(tag) for tag in TAGS}


def test_name_lists_are_what_their_tags_bind(lists: dict[str, NameList]) -> None:
    # Known facts of each release, so a broken extraction cannot pass for a list.
    v10, v11 = lists["v10.3.0"], lists["v11.0"]
    assert {"FP16", "TF32", "OBEY_PRECISION_CONSTRAINTS"} <= v10.classes["BuilderFlag"]
    assert "TF32" in v11.classes["BuilderFlag"] and "FP16" not in v11.classes["BuilderFlag"]
    assert (
        "STRONGLY_TYPED"
        in v10.classes["NetworkDefinitionCreationFlag"] & v11.classes["NetworkDefinitionCreationFlag"]
    )
    assert "EXPLICIT_BATCH" in v10.classes["NetworkDefinitionCreationFlag"]
    assert "set_output_type" in v10.members("IConvolutionLayer") and "set_output_type" not in v11.members(
        "ILayer"
    )
    assert {"execution_context", "get_engine_information"} <= v10.classes["EngineInspector"] & v11.classes[
        "EngineInspector"
    ]
    assert "ERROR" in v10.classes["Logger"] and "log" in v11.classes["ILogger"]
    assert "IInt8EntropyCalibrator2" in v10.module and "IInt8EntropyCalibrator2" not in v11.module


def test_package_uses_only_names_both_versions_have(lists: dict[str, NameList]) -> None:
    uses = package_uses()
    qualified = {u.path for u in uses if u.qualified}
    methods = {u.path[0] for u in uses if not u.qualified}
    # The collector sees the package's real TensorRT use (a silent collector would pass anything).
    assert {("Builder",), ("BuilderFlag", "TF32"), ("LayerInformationFormat", "JSON")} <= qualified
    assert {"create_network", "build_serialized_network", "execute_async_v3", "execution_context"} <= methods
    problems = [p for names in lists.values() for p in missing(uses, names)]
    assert not problems, problems


def test_checker_fails_on_a_name_11_removed(lists: dict[str, NameList]) -> None:
    snippet = textwrap.dedent(
        """
        import tensorrt as trt

        def build(logger):
            builder = trt.Builder(logger)
            config = builder.create_builder_config()
            config.set_flag(trt.BuilderFlag.FP16)
            if builder.platform_has_fast_fp16:
                network = builder.create_network(1 << int(trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH))
                network.get_layer(0).set_output_type(0, trt.float16)
            return getattr(trt.BuilderFlag, "STRONGLY_TYPED_X", None)
        """
    )
    uses = collect_uses(snippet, "snippet.py")
    assert missing(uses, lists["v10.3.0"]) == []
    assert missing(uses, lists["v11.0"]) == [
        "snippet.py: Builder.platform_has_fast_fp16 (not in TensorRT v11.0)",
        "snippet.py: ILayer.set_output_type (not in TensorRT v11.0)",
        "snippet.py: trt.BuilderFlag.FP16 (not in TensorRT v11.0)",
        "snippet.py: trt.NetworkDefinitionCreationFlag.EXPLICIT_BATCH (not in TensorRT v11.0)",
    ]
    newer = collect_uses("import tensorrt as trt\nx = trt.BuilderFlag.STRICT_NANS\n", "new.py")
    assert missing(newer, lists["v10.3.0"]) == [
        "new.py: trt.BuilderFlag.STRICT_NANS (not in TensorRT v10.3.0)"
    ]


def test_methods_are_checked_on_the_class_they_are_called_on(lists: dict[str, NameList]) -> None:
    snippet = textwrap.dedent(
        """
        import tensorrt as trt

        def run(engine: trt.ICudaEngine, logger):
            runtime = trt.Runtime(logger)
            other = runtime.deserialize_cuda_engine(b"")
            context = other.create_execution_context()
            context.set_input_shape("input", (1, 3, 224, 224))
            engine.set_input_shape("input", (1, 3, 224, 224))
            other.execute_async_v3(0)
            return getattr(engine, "set_tensor_address", None)
        """
    )
    # set_input_shape and execute_async_v3 exist, on IExecutionContext: any-class checking passed them.
    for tag in TAGS:
        assert missing(collect_uses(snippet, "s.py"), lists[tag]) == [
            f"s.py: ICudaEngine.execute_async_v3 (not in TensorRT {tag})",
            f"s.py: ICudaEngine.set_input_shape (not in TensorRT {tag})",
        ]


def test_package_calls_have_known_classes() -> None:
    # The class-aware check only bites where the collector knows the class: the calls that
    # build, inspect and run an engine must all be typed.
    owners = {(u.owner, u.path[0]) for u in package_uses() if not u.qualified}
    for pair in [
        ("Builder", "create_network"),
        ("IBuilderConfig", "set_memory_pool_limit"),
        ("IBuilderConfig", "progress_monitor"),
        ("IOptimizationProfile", "set_shape"),
        ("ICudaEngine", "create_execution_context"),
        ("IExecutionContext", "set_input_shape"),
        ("IExecutionContext", "set_tensor_address"),
        ("IExecutionContext", "execute_async_v3"),
        ("EngineInspector", "get_engine_information"),
    ]:
        assert pair in owners, pair


def test_compiled_out_bindings_are_not_listed(lists: dict[str, NameList]) -> None:
    # INetworkDefinition.serialize is bound under #if ENABLE_INETWORK_SERIALIZE, which NVIDIA's
    # build leaves undefined; the EXPORT_ALL_BINDINGS blocks (the whole builder API) are compiled.
    for names in lists.values():
        assert "serialize" not in names.members("INetworkDefinition") and "serialize" in names.members(
            "ICudaEngine"
        )
        assert {"progress_monitor", "set_memory_pool_limit"} <= names.members("IBuilderConfig")
    wheel = json.loads((DATA / "trt_names_v11.4.0.106.json").read_text())
    assert wheel["wheel"].startswith("tensorrt_cu12_bindings-11.4.0.106-")
    assert len(wheel["wheel_sha256"]) == 64
    assert "IInt8EntropyCalibrator2" not in lists["v11.4.0.106"].module


def test_preprocessor_resolves_nested_branches() -> None:
    import sys

    sys.path.insert(0, str(PKG.parent / "tools"))
    from trt_names import parse_cpp, preprocess

    src = textwrap.dedent(
        """
        #if EXPORT_ALL_BINDINGS
        py::class_<A>(m, "A").def("kept", f)
        #if ENABLE_INETWORK_SERIALIZE
            .def("gone", g)
        #else
            .def("other", h)
        #endif
            ;
        #endif
        #ifdef SOMETHING_ELSE
        py::class_<B>(m, "B");
        #endif
        """
    )
    unknown: set[str] = set()
    assert "gone" not in preprocess(src, unknown) and unknown == {"defined(SOMETHING_ELSE)"}
    _, classes, _ = parse_cpp([src])
    assert classes == {"A": {"kept", "other"}}


# ---------------------------------------------------------------- the weak-typing ban


def test_weak_typing_list_is_what_11_removed(lists: dict[str, NameList]) -> None:
    v10, v11 = lists["v10.3.0"], lists["v11.0"]
    for name in WEAK_TYPING:
        owner, _, member = name.rpartition(".")
        if owner:
            assert member in v10.members(owner) and member not in v11.members(owner), name
        else:
            assert member in v10.module and member not in v11.module, name


ENUMS = ("BuilderFlag.", "NetworkDefinitionCreationFlag.")


def _banned_hits(source: str, where: str) -> list[str]:
    # Members of TensorRT objects (builder.platform_has_fast_fp16, layer.precision); enum members
    # only qualified (BuilderFlag.INT8 is banned, DataType.INT8 is not).
    object_members = {n.rpartition(".")[2] for n in WEAK_TYPING if "." in n and not n.startswith(ENUMS)}
    hits = [f"{where}: {n}" for n in WEAK_TYPING if n.startswith(ENUMS) and n in source]
    for use in collect_uses(source, where):
        dotted = ".".join(use.path)
        qualified_hit = use.qualified and any(dotted == n or dotted.startswith(n + ".") for n in WEAK_TYPING)
        if qualified_hit or (not use.qualified and use.path[0] in object_members):
            hits.append(f"{where}: {dotted}")
    return sorted(set(hits))


def test_package_uses_no_weak_typing_api() -> None:
    hits = [
        h for p in sorted(PKG.rglob("*.py")) for h in _banned_hits(p.read_text(), str(p.relative_to(PKG)))
    ]
    assert not hits, hits


def test_weak_typing_ban_catches_each_spelling() -> None:
    src = textwrap.dedent(
        """
        import tensorrt as trt

        def f(network: trt.INetworkDefinition, builder):
            layer = network.get_layer(0)
            layer.precision = trt.float16
            config = trt.Builder(None).create_builder_config()
            config.int8_calibrator = None
            return getattr(trt.BuilderFlag, "OBEY_PRECISION_CONSTRAINTS", None)
        """
    )
    # Spelled as a string (getattr(trt.BuilderFlag, "...")) it is still a use.
    assert _banned_hits(src, "x.py") == [
        "x.py: BuilderFlag.OBEY_PRECISION_CONSTRAINTS",
        "x.py: int8_calibrator",
        "x.py: precision",
    ]


STUBS = Path(__file__).resolve().parent.parent / ".typing" / "tensorrt_bindings" / "tensorrt.pyi"


@pytest.mark.skipif(
    not STUBS.is_file(), reason="tensorrt-stubs not prepared (./dev test runs tools/trt_stubs.py)"
)
def test_extraction_agrees_with_the_stubs_of_the_same_version() -> None:
    """tools/trt_names.py at v10.13.0 against tensorrt-stubs 10.13 (generated from the built module).

    The two come from different sources (binding C++ vs. the compiled module), so agreement
    says the extraction reads the bindings right. pybind11 adds ``name``/``value`` to enums.
    """
    names = NameList.load("v10.13.0")
    stub: dict[str, set[str]] = {}
    for node in ast.parse(STUBS.read_text()).body:
        if isinstance(node, ast.ClassDef):
            members = set()
            for b in node.body:
                if isinstance(b, (ast.FunctionDef, ast.ClassDef)):
                    members.add(b.name)
                elif isinstance(b, ast.AnnAssign) and isinstance(b.target, ast.Name):
                    members.add(b.target.id)
                elif isinstance(b, ast.Assign):
                    members |= {t.id for t in b.targets if isinstance(t, ast.Name)}
            stub[node.name] = {m for m in members if not m.startswith("_")} - PYBIND_ATTRS
    # py::bind_vector containers: bound by a template, not a py::class_ call the tool reads.
    vectors = {"NodeIndices", "PluginFieldCollection", "SubGraphCollection"}
    assert set(stub) - set(names.classes) == vectors
    ours = {c: {m for m in ms if not m.startswith("_")} - PYBIND_ATTRS for c, ms in names.classes.items()}
    stub_only = {c: sorted(ms - ours[c]) for c, ms in stub.items() if c not in vectors and ms - ours[c]}
    assert stub_only == {}
    # What the bindings define and the stub generator leaves out: write-only properties (getter
    # nullptr), and members it could not introspect. (INetworkDefinition.serialize is compiled
    # out, #if ENABLE_INETWORK_SERIALIZE, and the extraction now knows it.)
    ours_only = {c: sorted(ours[c] - ms) for c, ms in stub.items() if c not in vectors and ours[c] - ms}
    assert ours_only == {
        "Builder": ["gpu_allocator"],
        "IExecutionContext": ["device_memory"],
        "ISymExpr": ["dtype", "expr", "type"],
        "Runtime": ["gpu_allocator"],
    }
    assert len(stub) > 150
