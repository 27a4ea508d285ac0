"""A notebook executed headless (nbclient, the python3 kernel of this environment): every
chart cell has an image output, and the user's own pyplot chart afterwards still shows
(funnel never changes matplotlib's backend). In CI (``FUNNEL_REQUIRE_NOTEBOOK=1``) this
cannot skip."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

if not os.environ.get("FUNNEL_REQUIRE_NOTEBOOK"):
    pytest.importorskip("nbclient")
    pytest.importorskip("ipykernel")
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent

CELLS = [
    ("code", "import funnel\nresult = funnel.analyze('sample_events/')\nresult"),
    ("chart", "result.plot()"),
    ("chart", "result.causes.plot()"),
    (
        "chart",
        "cmp = funnel.compare('sample_events/', by='experiment_arm',\n"
        "                     options=funnel.CompareOptions(bootstrap=100))\ncmp.plot()",
    ),
    ("chart", "import matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()"),
]


def test_every_chart_cell_shows_an_image(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for _, src in CELLS]
    client = NotebookClient(
        nb, timeout=300, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}
    )
    client.execute()
    nbformat.write(nb, tmp_path / "executed.ipynb")  # an exported notebook keeps them
    saved = nbformat.read(tmp_path / "executed.ipynb", as_version=4)
    for (kind, src), cell in zip(CELLS, saved.cells, strict=True):
        errors = [o for o in cell.outputs if o.output_type == "error"]
        assert not errors, (src, errors)
        images = [o for o in cell.outputs if "image/png" in o.get("data", {})]
        if kind == "chart":
            assert len(images) == 1, (src, [o.get("data", {}).keys() for o in cell.outputs])
    # the result's own table renders as HTML
    first = saved.cells[0].outputs
    assert any("text/html" in o.get("data", {}) for o in first)
