"""A stop signal that the work swallowed still stops the command before anything is published."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from inception_export import interrupts
from inception_export.atomic import check_output_dir, staged_directory, write_text_atomic
from inception_export.console import Steps


@pytest.fixture
def signalled() -> Iterator[None]:
    interrupts.record(2)
    try:
        yield
    finally:
        interrupts.reset()


def test_atomic_write_publishes_nothing_after_a_signal(tmp_path: Path, signalled: None) -> None:
    target = tmp_path / "m.onnx.json"
    with pytest.raises(KeyboardInterrupt):
        write_text_atomic(target, "{}")
    assert list(tmp_path.iterdir()) == []


def test_staged_release_is_not_swapped_in_after_a_signal(tmp_path: Path, signalled: None) -> None:
    out = tmp_path / "rel"
    check_output_dir(out, False, "manifest.json", ours=lambda _p: True)
    with pytest.raises(KeyboardInterrupt), staged_directory(out) as stage:
        (stage / "manifest.json").write_text("{}")
    assert list(tmp_path.iterdir()) == []


def test_next_progress_step_stops_after_a_signal(signalled: None) -> None:
    steps = Steps()
    with pytest.raises(KeyboardInterrupt):
        steps("export")
    assert steps.done == 0


def test_without_a_signal_everything_goes_through(tmp_path: Path) -> None:
    assert interrupts.pending() is None
    write_text_atomic(tmp_path / "a.json", "{}")
    Steps()("export")
    assert (tmp_path / "a.json").read_text() == "{}"
