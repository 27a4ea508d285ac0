"""The exposure bootstrap's cell merge (funnel.causes.exposure.merge_alike)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from funnel.causes.exposure import _estimates, merge_alike


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 50), st.integers(0, 3), st.integers(0, 7), st.booleans()),
        min_size=1,
        max_size=40,
    )
)
def test_merging_cells_read_alike_keeps_every_estimate(cells):
    """The exposure bootstrap draws cells that every comparison reads alike as one: the
    counts each comparison sees (hence the observed and expected abandonments) are the
    same from the merged cells."""
    n = np.array([c[0] for c in cells], dtype=float)
    e1 = np.array([[c[1] == j for j in range(3)] for c in cells], dtype=float)
    e0 = np.array([[(c[2] >> j) & 1 for j in range(3)] for c in cells], dtype=float)
    left = np.array([c[3] for c in cells], dtype=float)
    n_m, e1_m, e0_m, left_m = merge_alike(n, e1, e0, left)
    assert len(n_m) <= len(n)
    for counts_m, counts in ((n_m, n), (n_m[None, :] * 2, n[None, :] * 2)):
        got = _estimates(counts_m, e1_m, e0_m, left_m[:, None])
        want = _estimates(counts, e1, e0, left[:, None])
        assert np.allclose(got, want, rtol=1e-12, atol=1e-9)
