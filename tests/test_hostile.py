"""Hostile inputs, generated here as small files: each gets a named error that says which
file and why (exit 1), or an exact ledger; none reaches the top-level handler's
"unexpected" message, none prints a traceback, and no input file changes."""

from __future__ import annotations

import hashlib
import os

import pytest
from click.testing import CliRunner

from funnel.cli import main

HEAD = "user_id,event,timestamp\n"
GOOD = "u1,add_to_cart,2024-05-01T10:00:00Z\n"

CORPUS = {
    # name: (bytes, what the error says)
    "ragged.csv": (
        (HEAD + GOOD + "u1,begin_checkout,2024-05-01T10:01:00Z,EXTRA\n").encode(),
        "cannot read every row",
    ),
    "latin1.csv": (
        (HEAD + "u1,caf\xe9,2024-05-01T10:00:00Z\n").encode("latin-1"),
        "cannot read every row",
    ),
    "broken.ndjson": (
        b'{"user_id":"u1","event":"a","timestamp":"2024-05-01T10:00:00Z"}\n'
        b'{"user_id":"u1","event":\n',
        "cannot read",
    ),
    "empty.csv": (b"", "cannot read"),
    "garbage.parquet": (bytes(range(256)) * 3, "cannot read"),
    "reserved_file.csv": (("_file," + HEAD.strip() + "\nx," + GOOD).encode(), "'_file'"),
    "reserved_k.csv": ((HEAD.strip() + ",_k\n" + GOOD.strip() + ",1\n").encode(), "'_k'"),
    "nested.ndjson": (
        b'{"user_id":{"id":1},"event":"a","timestamp":"2024-05-01T10:00:00Z"}\n',
        "nested values",
    ),
    "no_user.csv": (b"visitor,event,timestamp\nu1,a,2024-05-01T10:00:00Z\n", "'user_id'"),
    "epochs.csv": (b"user_id,event,timestamp\nu1,a,5\nu1,b,1714557600000\n", "one unit"),
}


def _sum(path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.mark.parametrize("name", sorted(CORPUS))
def test_each_hostile_file_gets_a_named_error(tmp_path, name):
    data, says = CORPUS[name]
    path = tmp_path / name
    path.write_bytes(data)
    before = _sum(path)
    res = CliRunner().invoke(main, ["analyze", str(path), "-q"])
    assert res.exit_code == 1, res.output
    assert res.output.startswith("error: ") and says in res.output, res.output
    assert "unexpected" not in res.output and "Traceback" not in res.output
    assert _sum(path) == before and os.listdir(tmp_path) == [name]


def test_a_truncated_last_line_is_rejected_not_used(tmp_path):
    path = tmp_path / "truncated.csv"
    path.write_text(HEAD + GOOD + "u1,begin_che")  # the export stopped mid-line
    res = CliRunner().invoke(main, ["validate", str(path), "--format", "json", "-q"])
    assert res.exit_code == 0, res.output
    assert '"used": 1' in res.output and '"bad_timestamp": 1' in res.output
