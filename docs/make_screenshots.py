"""Regenerate docs/report.png and docs/notebook.png (headless chromium, nbclient).

    python docs/make_screenshots.py

The notebook is the CI notebook test's (tests/test_notebook.py), executed with the python3
kernel and shown as a page of its outputs (HTML tables, PNG charts) like Jupyter shows it.
"""

from __future__ import annotations

import html
import subprocess
import sys
import tempfile
from pathlib import Path

import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
from tests.test_notebook import CELLS  # noqa: E402


def _shot(page: Path, out: Path, height: int) -> None:
    subprocess.run(
        [
            "chromium",
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--hide-scrollbars",
            f"--window-size=1000,{height}",
            f"--screenshot={out}",
            page.as_uri(),
        ],
        check=True,
        capture_output=True,
    )


def notebook_page(folder: Path) -> Path:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for _, src in CELLS]
    NotebookClient(nb, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    parts = ["<html><body style='font-family:sans-serif;max-width:960px;margin:16px'>"]
    for cell in nb.cells:
        parts.append(
            f"<pre style='background:#f3f6f9;padding:8px'>{html.escape(cell.source)}</pre>"
        )
        for o in cell.outputs:
            data = o.get("data", {})
            if "image/png" in data:
                parts.append(f"<img src='data:image/png;base64,{data['image/png']}' width=700>")
            elif "text/html" in data:
                parts.append(data["text/html"])
    page = folder / "notebook.html"
    page.write_text("".join(parts) + "</body></html>", encoding="utf-8")
    return page


def main() -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        report = folder / "report.html"
        subprocess.run(
            [
                sys.executable,
                "-m",
                "funnel.cli",
                "report",
                "sample_events/",
                "--by",
                "device",
                "--arm",
                "experiment_arm",
                "--html",
                str(report),
                "-q",
            ],
            check=True,
            cwd=ROOT,
        )
        _shot(report, ROOT / "docs" / "report.png", 1700)
        _shot(notebook_page(folder), ROOT / "docs" / "notebook.png", 2400)
    print("wrote docs/report.png and docs/notebook.png")


if __name__ == "__main__":
    main()
