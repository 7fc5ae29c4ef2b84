"""Broker-free learning core of the recommendation service: estimators, blending, serving."""

from services.recommendation.model.baselines import Popularity
from services.recommendation.model.blend import SignalBlender
from services.recommendation.model.catalog import Catalog
from services.recommendation.model.covisit import CoVisitation
from services.recommendation.model.feedback import (
    Feedback,
    FeedbackWeights,
    implicit_weight,
    is_consumption,
    is_finished,
    is_rejected,
)
from services.recommendation.model.mf import PositiveMF
from services.recommendation.model.popularity import DecayedPopularity
from services.recommendation.model.recommender import SIGNALS, Recommender
from services.recommendation.model.users import UserStore

__all__ = [
    "SIGNALS",
    "Catalog",
    "CoVisitation",
    "DecayedPopularity",
    "Feedback",
    "FeedbackWeights",
    "Popularity",
    "PositiveMF",
    "Recommender",
    "SignalBlender",
    "UserStore",
    "implicit_weight",
    "is_consumption",
    "is_finished",
    "is_rejected",
]
