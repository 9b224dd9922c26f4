"""One metadata reader with typed fields, and one way to read model names.

A record is input like any other: a field of the wrong type is one ``error:`` line (exit 2),
never a traceback further down; a record that is there but does not read is refused, not
taken for "no metadata". Built on the hand-made ONNX classifier of ``helpers.tiny_onnx``
(no torch), the CLI in this process.
"""

from __future__ import annotations

import json
import os
import zipfile
from pathlib import Path
from typing import Any

import onnx
import pytest
from helpers import bundle_parts, cli, one_error, tiny_onnx, write_bundle

from inception_export.errors import ArtifactError
from inception_export.full.export import read_metadata


def _with_record(path: Path, record: Any) -> Path:
    """The ONNX at ``path`` with ``record`` (a dict, or raw text) as its embedded metadata."""
    model = onnx.load(str(path))
    text = record if isinstance(record, str) else json.dumps(record)
    model.metadata_props.add(key="inception_export", value=text)
    onnx.save(model, str(path))
    return path


@pytest.fixture()
def tiny(tmp_path: Path) -> dict[str, Any]:
    good, w, b = tiny_onnx(tmp_path / "tiny.onnx")
    meta, sets = bundle_parts(w, b)
    return {"dir": tmp_path, "onnx": good, "bundle": write_bundle(tmp_path / "golden.npz", meta, sets)}


BAD_FIELDS = {
    "input_size": ("eight", "input_size"),
    "num_classes": ("ten", "num_classes"),
    "precision": (16, "precision"),
    "model": (["tiny"], "model"),
    "embedded_preprocessing": ("yes", "embedded_preprocessing"),
    # A later schema may mean something else by the same keys; "yes" is no switch.
    "schema": (99, "schema"),
    "preprocessing": ({"transform_input": "yes"}, "preprocessing.transform_input"),
}


@pytest.mark.parametrize("field", sorted(BAD_FIELDS))
def test_a_field_of_the_wrong_type_is_one_error_line(
    tiny: dict[str, Any], field: str, capsys: pytest.CaptureFixture[str]
) -> None:
    value, word = BAD_FIELDS[field]
    art = _with_record(tiny["onnx"], {"format": "onnx", "model": "tiny", field: value})
    code, _, err = cli("parity", "--golden", tiny["bundle"], art, capsys=capsys)
    line = one_error(err)
    assert code == 2 and word in line and "internal error" not in line, line


@pytest.mark.parametrize(
    ("text", "word"),
    [
        ("{not json", "unreadable"),
        ("[1, 2, 3]", "not a JSON object"),
        ("[" * 100_000 + "]" * 100_000, "unreadable"),
    ],
    ids=["broken", "a list", "deeply nested"],
)
def test_an_unreadable_record_is_refused_not_taken_for_none(
    tiny: dict[str, Any], text: str, word: str, capsys: pytest.CaptureFixture[str]
) -> None:
    # Taken for "no metadata", a broken record would let the gate guess the precision and
    # size from the graph and pass an artifact whose record was damaged or forged.
    art = _with_record(tiny["onnx"], text)
    code, _, err = cli("parity", "--golden", tiny["bundle"], art, capsys=capsys)
    line = one_error(err)
    assert code == 2 and word in line and "internal error" not in line, line


def test_flat_properties_must_say_what_the_record_says(
    tiny: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    """The flat ``model``/``input_size`` copies are what generic tools show; an edited one
    passed the gate and shipped in deploy's packages beside the record the gate read."""
    record = {"format": "onnx", "model": "tiny", "num_classes": 10}
    art = _with_record(tiny["onnx"], record)
    model = onnx.load(str(art))
    model.metadata_props.add(key="model", value="tiny")
    model.metadata_props.add(key="num_classes", value="10")
    onnx.save(model, str(art))
    code, _, err = cli("parity", "--golden", tiny["bundle"], art, capsys=capsys)
    assert code == 0, err  # copies that agree
    next(p for p in model.metadata_props if p.key == "num_classes").value = "1000"
    onnx.save(model, str(art))
    code, _, err = cli("parity", "--golden", tiny["bundle"], art, capsys=capsys)
    line = one_error(err)
    assert (
        code == 2
        and "metadata_props say num_classes '1000' but its inception_export record says '10'" in line
    )


def test_model_names_are_read_the_registry_way_by_both_references(
    tiny: dict[str, Any], capsys: pytest.CaptureFixture[str]
) -> None:
    # The registry takes "Inception-V3" for inception_v3; the golden bundle's check did not.
    art = _with_record(tiny["onnx"], {"format": "onnx", "model": " TINY", "num_classes": 10})
    code, _, err = cli("parity", "--golden", tiny["bundle"], art, "--model", "Tiny", capsys=capsys)
    assert code == 0, err
    other = _with_record(tiny_onnx(tiny["dir"] / "other.onnx")[0], {"model": "other"})
    code, _, err = cli("parity", "--golden", tiny["bundle"], other, capsys=capsys)
    assert code == 2 and "artifact is for model other, the golden bundle for tiny" in one_error(err)


def test_one_reader_falls_back_to_the_sidecar_for_any_format(tmp_path: Path) -> None:
    # An ONNX without an embedded record but with its sidecar: the exporter's reader used to
    # refuse it while the gate's read the sidecar.
    art, _, _ = tiny_onnx(tmp_path / "tiny.onnx")
    (tmp_path / "tiny.onnx.json").write_text(json.dumps({"model": "tiny", "input_size": 8}))
    meta = read_metadata(art)
    assert meta.model == "tiny" and meta.input_size == 8 and meta.record["input_size"] == 8
    (tmp_path / "tiny.onnx.json").unlink()
    with pytest.raises(ArtifactError, match="no embedded inception_export metadata and no sidecar"):
        read_metadata(art)


def test_a_huge_torchscript_extra_file_is_not_read(tmp_path: Path) -> None:
    # 17 MiB of zeros deflate to a few kB: the declared size is checked before reading.
    path = tmp_path / "model.pt"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("model/constants.pkl", b"")
        zf.writestr("model/extra/inception_export.json", b"{" + b" " * (17 << 20) + b"}")
    assert path.stat().st_size < 1 << 20
    with pytest.raises(ArtifactError, match="larger than 16 MiB"):
        read_metadata(path)


def test_a_metadata_sidecar_that_is_a_fifo_is_refused_not_skipped(tmp_path: Path) -> None:
    import onnx
    from onnx import TensorProto, helper

    from inception_export.errors import ArtifactError
    from inception_export.metadata import read_metadata

    x = helper.make_tensor_value_info("x", TensorProto.FLOAT, [1, 3, 8, 8])
    y = helper.make_tensor_value_info("y", TensorProto.FLOAT, [1, 3, 8, 8])
    foreign = tmp_path / "foreign.onnx"  # no embedded record: the sidecar is the one read
    onnx.save(
        helper.make_model(helper.make_graph([helper.make_node("Identity", ["x"], ["y"])], "g", [x], [y])),
        foreign,
    )
    os.mkfifo(tmp_path / "foreign.onnx.json")
    with pytest.raises(ArtifactError, match="FIFO"):
        read_metadata(foreign)
