"""What was measured with this harness before and after the model changes (kept by hand)."""

HISTORY = """## History (same command, 1000 users, 6.25 days, seeds 7 and 8 pooled)

Learned - popularity, Welch 95% CI; per-arm means in brackets (learned / popularity).

| model, learned rows from | found share | hours per user | picked taste |
|---|---|---|---|
| before (commit 394bbc8), servicer | -0.030 [-0.055, -0.006] (0.782 / 0.813) | -0.096 [-0.208, +0.016] (1.615 / 1.711) | -0.023 [-0.089, +0.043] (1.646 / 1.669) |
| after, servicer as deployed (`--layout service`) | +0.014 [-0.009, +0.037] (0.825 / 0.811) | +0.071 [-0.041, +0.183] (1.719 / 1.648) | +0.064 [-0.003, +0.132] (1.797 / 1.733) |
| after, `model.home.home_rows` (`--layout model`, this report) | **+0.030 [+0.010, +0.050]** (0.870 / 0.840) | **+0.180 [+0.060, +0.300]** (1.934 / 1.754) | **+0.141 [+0.074, +0.209]** (1.976 / 1.835) |

Why the learned arm lost, from the diagnostics of the *before* run: its
screens held 28 distinct titles against the popularity arm's 60 (a new viewer
got three rows, "top picks" and "trending" largely the same titles; genre rows
were never reached; no row excluded the titles of the rows above), and 1.3
titles per screen the viewer could not play (maturity filter applied to the
ranked rows only). Visits of viewers with no plays yet found something 0.69
of the time against 0.81; with 3-9 plays the learned arm already won (0.88
against 0.83). The ranking itself had no genre signal, and its blend learned
only from which title was watched next, never from what was shown and passed
over.

What changed in `services/recommendation/model` (each measured on 600 users,
4 days, one world; single-world figures move by +-0.04 between runs):

- a `genre` signal (the viewer's decayed genre affinity averaged over the
  title's genres) in the blend;
- the blender also learns from screens: every pick (click) is paired with
  titles shown just above it (seen and passed over) and as many right below it
  (balances the bias of above-only pairs against whatever ranked the screen);
- `Appeal`, a per-title pick rate over looks (wins / titles passed over on the
  same screen, shrunk to the global rate), as a signal: per-title appeal
  without the exposure bias of play counts;
- a viewer without history is ranked by the learned weights of the signals
  that need none (trend, popularity, appeal; negative weights dropped), still
  genre-diversified, instead of by trending alone;
- a skipped or barely started title leaves the viewer's candidates;
- genre rows for a viewer without genres use the region's trending genres;
- `model.home.home_rows`: the learned screen composed in the model, every
  title once, the request's filter on every row, filled to `max_rows` with the
  viewer's next-best titles (run with `--layout model`; the deployed servicer
  still composes its own rows, see the report to the lead).
"""
