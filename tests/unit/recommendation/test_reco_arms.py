"""The in-process arms harness: a tiny world runs end to end on the real model and servicer."""

import asyncio

import numpy as np
import pytest

from bench.reco_arms.__main__ import combine, simulate


@pytest.mark.parametrize("layout", ["service", "model"])
def test_a_tiny_world_runs_both_arms_through_the_real_service(layout):
    run = asyncio.run(simulate(40, 300, 1.0, 3, {}, layout))
    assert run["row_requests"] > 10
    learned, popular = run["arms"]["learned"], run["arms"]["popularity"]
    assert learned["diag"]["visits[0]"] > 0 and popular["diag"]["visits[0]"] > 0
    assert popular["diag"]["rows"] == 6 * sum(
        v for k, v in popular["diag"].items() if k.startswith("visits[")
    )
    found = np.concatenate([learned["values"]["found_share"], popular["values"]["found_share"]])
    found = found[~np.isnan(found)]
    assert found.size and ((found >= 0) & (found <= 1)).all()
    out = combine([run])
    assert out["arms"]["learned"]["users"] + out["arms"]["popularity"]["users"] <= 40
    assert set(out["lift"]) >= {"found_share", "hours", "picked_taste"}


def test_same_seed_same_outcome():
    a = asyncio.run(simulate(30, 200, 0.5, 5, {}, "service"))
    b = asyncio.run(simulate(30, 200, 0.5, 5, {}, "service"))
    for arm in ("learned", "popularity"):
        np.testing.assert_array_equal(
            a["arms"][arm]["values"]["hours"], b["arms"][arm]["values"]["hours"]
        )
