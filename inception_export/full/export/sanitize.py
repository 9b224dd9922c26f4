"""Remove what an exporter records about the machine that ran it from shipped artifacts.

torch's ONNX exporter annotates every node with debugging metadata; one entry,
``pkg.torch.onnx.stack_trace``, holds Python stack traces with absolute source paths of
the exporting machine (about 300 KB for v3), and ``pkg.torch.onnx.fx_node`` the FX
graph's internal node text. TorchScript archives carry ``*.debug_pkl`` records mapping
code to source files, again by absolute path. Both are dropped, so an artifact is the
same bytes whichever checkout or machine made it.

Kept, because they hold no paths and are deterministic: ``namespace``,
``pkg.torch.onnx.name_scopes`` and ``pkg.torch.onnx.class_hierarchy`` (which module each
node came from, used to map nodes back to layers) and the exporter's rewrite-rule names.
"""

from __future__ import annotations

import hashlib
import io
import re
import zipfile
from typing import Any

# Node metadata known to carry machine paths or exporter internals.
DROPPED_KEYS = frozenset({"pkg.torch.onnx.stack_trace", "pkg.torch.onnx.fx_node"})
# Any other metadata value that names an absolute file (POSIX or Windows) goes too.
_ABS_PATH = re.compile(r"""(?:^|[\s"'(=])(?:/[^\s"'/]+){2,}|(?:^|[\s"'(=])[A-Za-z]:\\""")
# A fixed timestamp for rewritten archive members (zip cannot store an earlier one).
_ZIP_EPOCH = (1980, 1, 1, 0, 0, 0)
_SERIALIZATION_ID = ".data/serialization_id"


def _keep(key: str, value: str) -> bool:
    return key not in DROPPED_KEYS and not _ABS_PATH.search(value)


def _clean_props(props: Any) -> int:
    kept = [(p.key, p.value) for p in props if _keep(p.key, p.value)]
    removed = len(props) - len(kept)
    if removed:
        del props[:]
        for key, value in kept:
            props.add(key=key, value=value)
    return removed


def _clean_graph(graph: Any) -> int:
    removed = _clean_props(graph.metadata_props)
    if _ABS_PATH.search(graph.doc_string):
        graph.doc_string = ""
    for coll in (graph.input, graph.output, graph.value_info, graph.initializer):
        for item in coll:
            removed += _clean_props(item.metadata_props)
            if _ABS_PATH.search(item.doc_string):
                item.doc_string = ""
    for node in graph.node:
        removed += _clean_props(node.metadata_props)
        if _ABS_PATH.search(node.doc_string):
            node.doc_string = ""
        for attr in node.attribute:
            if attr.HasField("g"):
                removed += _clean_graph(attr.g)
            for sub in attr.graphs:
                removed += _clean_graph(sub)
    return removed


def sanitize_onnx(proto: Any) -> int:
    """Strip machine paths and exporter debugging data from an ``onnx.ModelProto`` in place.

    Returns how many metadata entries were removed. Model-level ``metadata_props`` (ours)
    are left alone.
    """
    removed = _clean_graph(proto.graph)
    for fn in proto.functions:
        removed += _clean_props(fn.metadata_props)
        for node in fn.node:
            removed += _clean_props(node.metadata_props)
            if _ABS_PATH.search(node.doc_string):
                node.doc_string = ""
    if _ABS_PATH.search(proto.doc_string):
        proto.doc_string = ""
    return removed


def sanitize_torchscript(data: bytes) -> bytes:
    """A TorchScript archive without its ``.debug_pkl`` records (source paths).

    ``torch.jit.load`` does not need them: they only map TorchScript code back to the
    Python source in error messages.
    """
    src = zipfile.ZipFile(io.BytesIO(data))
    names = src.namelist()
    if not any(n.endswith(".debug_pkl") for n in names):
        return data
    kept = [n for n in names if not n.endswith(".debug_pkl")]
    # torch's serialization_id hashes every record written, the dropped ones (with their
    # paths) included; it is an identifier only, so derive it from what is kept instead.
    digest = hashlib.sha256()
    for name in kept:
        if not name.endswith(_SERIALIZATION_ID):
            digest.update(name.encode() + b"\0" + src.getinfo(name).CRC.to_bytes(4, "little"))
    new_id = str(int(digest.hexdigest(), 16))[:40].zfill(40).encode()
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", compression=zipfile.ZIP_STORED) as dst:
        for name in kept:
            info = zipfile.ZipInfo(name, date_time=_ZIP_EPOCH)
            info.compress_type = zipfile.ZIP_STORED
            info.external_attr = 0o644 << 16
            dst.writestr(info, new_id if name.endswith(_SERIALIZATION_ID) else src.read(name))
    return buf.getvalue()
