"""Every example notebook runs headless, top to bottom, in a real kernel."""

from __future__ import annotations

import shutil
from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"


@pytest.mark.parametrize("name", sorted(p.name for p in EXAMPLES.glob("*.ipynb")))
def test_example_runs(name: str, tmp_path: Path) -> None:
    shutil.copy(EXAMPLES / name, tmp_path / name)
    nb = nbformat.read(tmp_path / name, as_version=4)
    NotebookClient(
        nb, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    errors = [
        o for c in nb.cells if c.cell_type == "code" for o in c.outputs if o.output_type == "error"
    ]
    assert errors == []
    widgets = [
        o
        for c in nb.cells
        if c.cell_type == "code"
        for o in c.outputs
        if "application/vnd.jupyter.widget-view+json" in o.get("data", {})
    ]
    assert widgets, "the example displayed no widget"


def test_a_widget_that_showed_itself_is_not_shown_again_by_the_cells_value(
    tmp_path: Path,
) -> None:
    from PIL import Image

    (tmp_path / "data" / "a").mkdir(parents=True)
    Image.new("RGB", (8, 8)).save(tmp_path / "data" / "a" / "x.png")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from fastwidgets import ImageCleaner, LiveCurve\n"
            "cleaner = ImageCleaner.from_folder('data')  # shows itself\ncleaner"
        ),
        nbformat.v4.new_code_cell("cleaner"),  # a later cell: a second view, on purpose
        nbformat.v4.new_code_cell("LiveCurve()"),
    ]
    NotebookClient(
        nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}
    ).execute()
    views = [
        sum("application/vnd.jupyter.widget-view+json" in o.get("data", {}) for o in c.outputs)
        for c in nb.cells
    ]
    assert views == [1, 1, 1]
