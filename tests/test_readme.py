"""The README guides a new user: its Python blocks run as written (a new user copies them), its
tables name every command and every model alias the tool accepts, and its links and those of the
pages in docs/ lead somewhere."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest
import typer.main

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"


def python_blocks() -> list[str]:
    return re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.S | re.M)


def test_readme_has_python_blocks() -> None:
    assert python_blocks()


# Full suite only: runs the README's Python blocks as written (model builds and exports).
@pytest.mark.slow
@pytest.mark.parametrize("index", range(len(python_blocks())))
def test_readme_python_block_runs(index: int, tmp_path: Path) -> None:
    code = python_blocks()[index]
    proc = subprocess.run(
        [sys.executable, "-c", code], cwd=tmp_path, capture_output=True, text=True, timeout=600
    )
    assert proc.returncode == 0, f"README python block {index + 1} failed:\n{proc.stderr[-3000:]}"


def section(text: str, heading: str) -> str:
    """The lines under ``## heading`` up to the next heading (a subsection ends it too)."""
    match = re.search(rf"^## {re.escape(heading)}\n(.*?)(?=^#+ |\Z)", text, flags=re.S | re.M)
    assert match is not None, f"README has no '## {heading}' section"
    return match.group(1)


def first_cells(text: str) -> list[str]:
    """The first cell of every table row, without its backticks."""
    return [row.split("|")[1].strip().strip("`") for row in text.splitlines() if row.startswith("| ")]


def readme_commands(text: str) -> list[str]:
    """The command each row of the commands table documents (its first word), in first-seen order."""
    names = [cell.split()[0] for cell in first_cells(section(text, "Commands")) if cell.split()]
    return list(dict.fromkeys(n for n in names if n not in ("command", "exit")))


def registered_commands() -> list[str]:
    from inception_export.cli.app import app

    return list(typer.main.get_command(app).commands)  # type: ignore[attr-defined]


def test_commands_table_names_every_command_in_help_order() -> None:
    # The table is the README's promise of what the tool does: a command added to the CLI and
    # not to it (trt-manifest and deepstream-check were missing once), one renamed or dropped,
    # or the order changed from `--help`'s, which the README says it follows, fails here.
    assert readme_commands(README.read_text()) == registered_commands()


def test_commands_table_check_sees_a_missing_command() -> None:
    text = README.read_text()
    row = next(r for r in text.splitlines() if r.startswith("| `trt-manifest "))
    assert readme_commands(text.replace(row + "\n", "")) != registered_commands()


def readme_aliases(text: str) -> dict[str, set[str]]:
    rows = [r.split("|") for r in section(text, "Models").splitlines() if r.startswith("| ")]
    table = {cells[1].strip(): cells[2] for cells in rows if cells[1].strip() not in ("model", "---")}
    return {name: {a.strip() for a in aliases.split(",") if a.strip()} for name, aliases in table.items()}


def test_models_table_has_every_model_with_all_its_aliases() -> None:
    from inception_export import list_specs

    expected = {spec.name: set(spec.aliases) for spec in list_specs()}
    assert readme_aliases(README.read_text()) == expected


def slug(heading: str) -> str:
    """GitHub's anchor for a heading: lower case, punctuation but '-' and '_' dropped, spaces to '-'."""
    return re.sub(r"[^\w\- ]", "", heading.strip().lower()).replace(" ", "-")


def anchors(path: Path) -> set[str]:
    text = re.sub(r"^```.*?^```$", "", path.read_text(), flags=re.S | re.M)  # no code-block comments
    return {slug(h) for h in re.findall(r"^#+ (.*)$", text, flags=re.M)}


def broken_links(path: Path) -> list[str]:
    text = re.sub(r"^```.*?^```$", "", path.read_text(), flags=re.S | re.M)
    broken = []
    for target in re.findall(r"\]\(([^)\s]+)\)", text):
        if re.match(r"[a-z]+:", target):
            continue  # a web address
        file, _, anchor = target.partition("#")
        dest = (path.parent / file).resolve() if file else path
        if not dest.exists() or (anchor and dest.suffix == ".md" and anchor not in anchors(dest)):
            broken.append(target)
    return broken


@pytest.mark.parametrize("page", [README, *sorted((ROOT / "docs").glob("*.md"))], ids=lambda p: p.name)
def test_links_lead_to_files_and_headings_that_exist(page: Path) -> None:
    # The pages moved when the README was split by flow and the code moved under full/: a link
    # to a file or heading that is not there any more fails here.
    assert broken_links(page) == []


def test_link_check_sees_a_broken_link(tmp_path: Path) -> None:
    (tmp_path / "there.md").write_text("# A heading\n")
    page = tmp_path / "page.md"
    page.write_text(
        "[ok](there.md#a-heading) [gone](gone.md) [no such](there.md#nope) [web](https://x.org)\n"
    )
    assert broken_links(page) == ["gone.md", "there.md#nope"]
