"""The compiled MPC kernels give bitwise what the numpy array expressions give."""

from __future__ import annotations

import numpy as np
import pytest

from services.abr.mpc_kernel import ScoreTerms, score, score_numpy, simulate, simulate_numpy


@pytest.mark.parametrize(
    ("moves", "scenarios"),
    [
        ((0, 1, 2, 3, 3), 5),  # the default: four moves, the last held for two chunks
        ((0, 1, 2, 3, 4), 3),  # five free moves
        ((0, 0, 1, 1, 2), 7),  # moves held over several chunks
        ((0,), 1),  # a single chunk left
        ((0, 1, 2), 1),
    ],
)
@pytest.mark.parametrize("end_buffer", [True, False])
def test_kernel_matches_the_numpy_reference(
    moves: tuple[int, ...], scenarios: int, end_buffer: bool
) -> None:
    rng = np.random.default_rng(len(moves) * 10 + scenarios)
    for _ in range(20):
        download = rng.uniform(0.05, 15.0, (scenarios, len(moves), 6)).astype(np.float32)
        buffer_s = float(rng.uniform(0.0, 40.0))
        got = simulate(download, buffer_s, np.array(moves), 4.0, 60.0, end_buffer)
        want = simulate_numpy(download, buffer_s, np.array(moves), 4.0, 60.0, end_buffer)
        assert got[0].shape == want[0].shape == (scenarios, 6 ** (moves[-1] + 1))
        assert np.array_equal(got[0], want[0])
        assert np.array_equal(got[1], want[1])


def test_stalls_and_buffer_cap_by_hand() -> None:
    # 10 s buffered; rung 0 takes 1 s, rung 1 takes 12 s per chunk; 4 s chunks; cap 12 s.
    download = np.array([[[1.0, 12.0]] * 2], dtype=np.float32)
    rebuf, left = simulate(download, 10.0, np.array([0, 1]), 4.0, 12.0, True)
    # (0,0): 10-1+4=13 -> capped 12, then 12-1+4=15 -> 12. No stall.
    # (1,1): 2 s stall on chunk 0 (buffer 0 + 4), then 8 s stall on chunk 1, ends at 4.
    assert rebuf.tolist() == [[0.0, 0.0, 2.0, 10.0]]
    assert left.tolist() == [[12.0, 4.0, 7.0, 4.0]]


def test_chunk_weights_discount_the_stalls_like_the_reference():
    rng = np.random.default_rng(7)
    download = rng.uniform(0.5, 9.0, size=(3, 5, 6)).astype(np.float32)
    moves = np.array([0, 1, 2, 2, 2])
    w = (0.8 ** np.arange(5)).astype(np.float32)
    plain = simulate(download, 3.0, moves, 4.0, 60.0, True)
    weighted = simulate(download, 3.0, moves, 4.0, 60.0, True, w)
    reference = simulate_numpy(download, 3.0, moves, 4.0, 60.0, True, w)
    assert np.array_equal(weighted[0], reference[0]) and np.array_equal(weighted[1], reference[1])
    assert np.array_equal(weighted[1], plain[1])  # the buffer is not discounted
    assert (weighted[0] <= plain[0]).all() and (weighted[0] < plain[0]).any()


@pytest.mark.parametrize("n_moves", [1, 2, 4])
@pytest.mark.parametrize("terminal", [True, False])
def test_one_pass_score_matches_the_array_expressions(n_moves: int, terminal: bool) -> None:
    rng = np.random.default_rng(n_moves * 2 + terminal)
    n = 6**n_moves
    for _ in range(50):
        util = rng.uniform(0.0, 20.0, n).astype(np.float32)
        smooth = rng.uniform(0.0, 8.0, n).astype(np.float32)
        exp_rebuf = (rng.exponential(1.0, n) * (rng.random(n) < 0.4)).astype(np.float32)
        exp_kept = rng.uniform(0.0, 20.0, n).astype(np.float32) if terminal else None
        top = rng.integers(0, 6, n)
        terms = ScoreTerms(
            util, smooth, exp_rebuf, exp_kept, top, int(rng.integers(0, 6)), 1.3, 4.3, 0.3, 6
        )
        got, want = score(terms), score_numpy(terms)
        assert (got.best, got.best_value) == (want.best, want.best_value)
        for a, b in zip(got[2:], want[2:], strict=True):
            assert a.dtype == b.dtype == np.float32 and np.array_equal(a, b)


def test_one_pass_score_breaks_ties_like_argmax() -> None:
    flat = np.zeros(36, np.float32)
    top = np.zeros(36, np.int64)
    top[:3] = 5  # the first three sequences are over the cap
    terms = ScoreTerms(flat, flat, flat, None, top, 4, 1.0, 1.0, 0.0, 6)
    assert score(terms).best == 3 == score_numpy(terms).best
