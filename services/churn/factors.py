"""Risk factors in words: weight x standardised value of the linear model, mapped to phrases."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

# feature -> (phrase when the value is high, phrase when it is low)
PHRASES: dict[str, tuple[str, str]] = {
    "sessions_1d": ("many sessions today", "no sessions today"),
    "sessions_7d": ("many sessions this week", "few sessions this week"),
    "sessions_28d": ("many sessions this month", "few sessions this month"),
    "minutes_1d": ("watched a lot today", "watched little today"),
    "minutes_7d": ("watched a lot this week", "watched little this week"),
    "minutes_28d": ("watched a lot this month", "watched little this month"),
    "minutes_trend_7d": ("watching more than last week", "watching much less than last week"),
    "sessions_trend_7d": ("visiting more than last week", "visiting less than last week"),
    "minutes_ratio_7d_28d": ("watching more than usual", "watching much less than last month"),
    "days_since_last_session": ("has not watched for a while", "watched very recently"),
    "completion_rate_28d": ("finishes most titles", "rarely finishes what they start"),
    "skip_rate_28d": ("skips many titles", "rarely skips titles"),
    "watch_fraction_28d": ("watches titles through", "abandons titles early"),
    "rebuffer_ratio_7d": ("frequent rebuffering", "smooth playback"),
    "rebuffer_ratio_28d": ("frequent rebuffering this month", "smooth playback this month"),
    "mean_bitrate_kbps_7d": ("high picture quality", "low picture quality"),
    "distinct_genres_28d": ("explores many genres", "watches a narrow range of genres"),
    "distinct_devices_28d": ("watches on many devices", "watches on one device only"),
    "reco_play_share_28d": ("plays mostly from recommendations", "rarely plays recommendations"),
    "ctr_28d": ("clicks recommendations", "recommendations are not landing"),
    "mean_rating_28d": ("rates titles highly", "rates titles poorly"),
    "plan_tier": ("on a premium plan", "on a basic plan"),
    "tenure_days": ("long-time subscriber", "new subscriber"),
    "plan_changes_28d": ("changed plan recently", "stable plan"),
    "downgrades_28d": ("downgraded plan recently", "no recent downgrade"),
    "history_days": ("long viewing history", "short viewing history"),
    "sessions_14d": ("many sessions in two weeks", "few sessions in two weeks"),
    "minutes_14d": ("watched a lot in two weeks", "watched little in two weeks"),
    "minutes_trend_14d": (
        "watching more than the fortnight before",
        "watching much less than the fortnight before",
    ),
    "rebuffer_ratio_14d": ("frequent rebuffering lately", "smooth playback lately"),
    "minutes_drop_7d": (
        "watching much less this week than the weeks before",
        "watching as much as the weeks before",
    ),
    "minutes_drop_7d_mean14d": (
        "watching less than the weeks before, for two weeks now",
        "viewing held up over the last two weeks",
    ),
    "minutes_decline_mean_14d": (
        "watching less than the weeks before, across the billing period",
        "viewing held up across the billing period",
    ),
    "minutes_level_mean_14d": (
        "watched a lot across the billing period",
        "watched little across the billing period",
    ),
    "rebuffer_log_mean_14d": (
        "frequent rebuffering across the billing period",
        "smooth playback across the billing period",
    ),
    "minutes_7d_mean14d": ("watched a lot over recent weeks", "watched little over recent weeks"),
    "minutes_14d_mean14d": ("watched a lot over recent weeks", "watched little over recent weeks"),
    "rebuffer_ratio_14d_mean14d": (
        "frequent rebuffering for weeks",
        "smooth playback for weeks",
    ),
}

# A top factor from these features means the retention message should apologise for quality.
QUALITY_FEATURES = frozenset(
    {
        "rebuffer_ratio_7d",
        "rebuffer_ratio_14d",
        "rebuffer_ratio_28d",
        "mean_bitrate_kbps_7d",
        "rebuffer_ratio_14d_mean14d",
        "rebuffer_log_mean_14d",
    }
)


@dataclass(frozen=True, slots=True)
class Factor:
    """One feature's push on the risk: ``contribution`` > 0 raises it (log-odds units)."""

    feature: str
    phrase: str
    contribution: float

    @property
    def is_quality(self) -> bool:
        """Whether this factor is about playback quality."""
        return self.feature in QUALITY_FEATURES


def linear_factors(pipeline: Any, x: dict[str, float], k: int = 3) -> list[Factor]:
    """Top ``k`` risk-raising factors of a linear model: a ``FuncTransformer | StandardScaler |
    LogisticRegression`` pipeline or a :class:`~services.churn.hazard.WindowLogistic`.

    Reads the fitted pipeline without changing it: contribution = weight x
    standardised value, i.e. the feature's share of the log-odds against an
    average user.
    """
    if hasattr(pipeline, "standardised"):  # services.churn.hazard.WindowLogistic
        z = pipeline.standardised(x)
        weights = {k: pipeline.weight_of(k) for k in z}
    else:
        steps = list(pipeline.steps.values())
        transform, scaler, lr = steps[0], steps[1], steps[2]
        z = scaler.transform_one(transform.transform_one(x))
        weights = lr.weights
    out = []
    for name, value in z.items():
        c = float(weights.get(name, 0.0)) * float(value)
        if c <= 0.0:
            continue
        high, low = PHRASES.get(name, (f"high {name}", f"low {name}"))
        out.append(Factor(name, high if value > 0 else low, c))
    out.sort(key=lambda f: -f.contribution)
    return out[:k]
