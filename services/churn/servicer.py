"""Thin gRPC servicer: a subscriber's live risk with its reasons, and paged at-risk lists."""

from __future__ import annotations

from collections.abc import Callable

import grpc

from reelstream.churn.v1 import churn_pb2 as api
from reelstream.churn.v1 import churn_pb2_grpc as api_grpc
from services.churn.learner import ChurnState
from services.churn.model import Risk


def risk_response(r: Risk) -> api.RiskResponse:
    """Wire form of a served risk."""
    return api.RiskResponse(
        user_id=r.user_id,
        probability=r.probability,
        known=r.known,
        model=r.model,
        updated_time_ms=int(r.updated_at * 1000) if r.updated_at is not None else 0,
        factors=[
            api.Factor(feature=f.feature, description=f.phrase, contribution=f.contribution)
            for f in r.factors
        ],
    )


class ChurnServicer(api_grpc.ChurnServiceServicer):
    """GetRisk and ListAtRisk from the live model (reads only)."""

    def __init__(self, state: Callable[[], ChurnState], max_page_size: int = 500) -> None:
        self._state = state
        self.max_page_size = max_page_size

    async def GetRisk(
        self, request: api.GetRiskRequest, context: grpc.aio.ServicerContext
    ) -> api.RiskResponse:
        if not request.user_id:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, "user_id is required")
        return risk_response(self._state().model.risk(request.user_id))

    async def ListAtRisk(
        self, request: api.ListAtRiskRequest, context: grpc.aio.ServicerContext
    ) -> api.ListAtRiskResponse:
        if not 0.0 <= request.threshold <= 1.0:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"threshold must be within [0, 1], got {request.threshold:g}",
            )
        size = request.page_size or 50
        if not 1 <= size <= self.max_page_size:
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"page_size must be within [1, {self.max_page_size}], got {size}",
            )
        token = request.page_token or "0"
        if not token.isdigit():
            await context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"page_token {token!r} is not one this service issued",
            )
        model = self._state().model
        page = model.at_risk(request.threshold, int(token), size)
        users = [model.risk(u) for u, _risk, _t in page.items]
        return api.ListAtRiskResponse(
            users=[risk_response(r) for r in users],
            total=page.total,
            next_page_token="" if page.next_offset is None else str(page.next_offset),
        )
