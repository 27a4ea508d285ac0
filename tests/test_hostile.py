"""The hostile-input corpus (tests/hostile_corpus.py), run through the CLI: each case gets
the exact ledger or the named error its rule says; none reaches the top-level handler's
"unexpected" message or prints a traceback; no input file changes and nothing is left
beside them."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
from click.testing import CliRunner

from funnel.cli import main
from tests.hostile_corpus import Fails, Ledger, all_cases

CASES = {case.name: case for case in all_cases()}


def _sums(folder) -> dict[str, str]:
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir())}


def test_the_corpus_is_large_and_every_kind_is_there():
    assert len(CASES) >= 200
    prefixes = {name.split("-")[0] for name in CASES}
    assert {"csv", "json", "late", "latin1", "named", "nested", "option"} <= prefixes


@pytest.mark.parametrize("name", sorted(CASES))
def test_hostile_case(tmp_path, name):
    case = CASES[name]
    for file, data in case.files.items():
        (tmp_path / file).write_bytes(data)
    before = _sums(tmp_path)
    args = [a.replace("{dir}", str(tmp_path)) for a in case.args]
    if isinstance(case.expect, Ledger):
        args += ["--format", "json", "-q"]
    res = CliRunner().invoke(main, args)
    assert "Traceback" not in res.output and "unexpected" not in res.output, res.output
    if isinstance(case.expect, Fails):
        assert res.exit_code == case.expect.exit_code, res.output
        assert case.expect.text in res.output, res.output
        if res.exit_code == 1:  # a named error is one line (usage errors are click's)
            assert len(res.output.strip().splitlines()) == 1, res.output
    else:
        assert res.exit_code == 0, res.output
        ledger = json.loads(res.output)
        want = case.expect
        rejected = sum(want.rejected.values())
        assert ledger["used"] == want.used, ledger
        assert ledger["duplicates"] == want.duplicates, ledger
        assert ledger["rejected_by_reason"] == want.rejected, ledger
        assert ledger["rows"] == want.used + want.duplicates + rejected, ledger
        if want.line is not None:
            assert any(f"the first at line {want.line}" in n for n in ledger["notes"]), ledger
    assert _sums(tmp_path) == before  # no input changed, nothing written beside them
    assert not [p for p in os.listdir(tmp_path) if p.startswith(".")]
