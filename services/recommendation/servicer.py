"""Thin gRPC servicer over :class:`RecoState`: validates requests, builds lists and rows.

Every method is a read: it never changes the model (unknown users and titles are
answered from cold-start views, not created). Bad requests get INVALID_ARGUMENT
naming the field.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import grpc
import numpy as np

from reelstream.recommendation.v1 import recommendation_pb2 as api
from reelstream.recommendation.v1 import recommendation_pb2_grpc as api_grpc
from services.recommendation import metrics
from services.recommendation.events import device_name
from services.recommendation.learner import RecoState
from services.recommendation.model.home import HomeRow, home_rows

VARIANTS = ("", "learned", "popularity")


class BadRequest(ValueError):
    """A request field is invalid: INVALID_ARGUMENT with its name."""


def _scored(items: list[tuple[str, float]], reason: str) -> list[api.ScoredTitle]:
    return [api.ScoredTitle(title_id=str(t), score=float(s), reason=reason) for t, s in items]


class RecommendationServicer(api_grpc.RecommendationServiceServicer):
    """Recommend, HomeRows and SimilarTitles from the live model."""

    def __init__(self, state: Callable[[], RecoState], max_k: int = 200) -> None:
        self._state = state  # a getter: the host may swap in a restored state
        self.max_k = max_k

    # -- request checks --------------------------------------------------------------------
    def _k(self, k: int, field: str = "k") -> int:
        if k == 0:
            return 10
        if not 1 <= k <= self.max_k:
            raise BadRequest(f"{field} must be within [1, {self.max_k}], got {k}")
        return k

    @staticmethod
    def _variant(v: str) -> str:
        if v not in VARIANTS:
            raise BadRequest(f"variant must be one of {VARIANTS[1:]} (or empty), got {v!r}")
        return "popularity" if v == "popularity" else "learned"

    def _mask(self, st: RecoState, flt: api.Filter) -> np.ndarray:
        cat = st.model.catalog
        n = len(cat)
        mask = np.ones(n, dtype=bool)
        if flt.genres:
            cols = [cat.genre_index[g] for g in flt.genres if g in cat.genre_index]
            mask &= cat.genres[:n, cols].sum(axis=1) > 0 if cols else False
        if flt.max_maturity:
            mat = (
                st.maturity[:n]
                if st.maturity.shape[0] >= n
                else np.pad(st.maturity, (0, n - st.maturity.shape[0]))
            )
            mask &= mat <= flt.max_maturity
        return mask

    def _finished_rows(self, st: RecoState, user: str) -> np.ndarray:
        u = st.model.users.get(user)
        return st.model.users.finished_rows(u) if u is not None else np.zeros(0, dtype=np.int64)

    def _top(
        self,
        st: RecoState,
        user: str,
        k: int,
        ctx: api.Context,
        flt: api.Filter,
        variant: str,
        extra_mask: np.ndarray | None = None,
    ) -> list[tuple[str, float]]:
        mask = self._mask(st, flt)
        if extra_mask is not None:
            mask &= extra_mask[: mask.shape[0]]
        mask &= st.model.catalog.available(ctx.region)
        if variant == "popularity":
            return st.popular(k, self._finished_rows(st, user), mask)
        items = st.model.recommend(
            user, k, mask=mask, region=ctx.region, device=device_name(ctx.device_type)
        )
        return [(str(t), s) for t, s in items]

    async def _guard(self, context: grpc.aio.ServicerContext, fn: Callable[[], object]) -> object:
        try:
            return fn()
        except BadRequest as exc:
            await context.abort(grpc.StatusCode.INVALID_ARGUMENT, str(exc))
            raise

    # -- RPCs ------------------------------------------------------------------------------
    async def Recommend(
        self, request: api.RecommendRequest, context: grpc.aio.ServicerContext
    ) -> api.RecommendResponse:
        def build() -> api.RecommendResponse:
            if not request.user_id:
                raise BadRequest("user_id is required")
            k = self._k(request.k)
            variant = self._variant(request.variant)
            st = self._state()
            cold = st.model.users.get(request.user_id) is None
            items = self._top(st, request.user_id, k, request.context, request.filter, variant)
            metrics.SERVED.labels(variant).inc()
            if cold:
                metrics.COLD_START.inc()
            reason = (
                "popular"
                if variant == "popularity"
                else ("trending near you" if cold else "for you")
            )
            return api.RecommendResponse(
                request_id=uuid.uuid4().hex,
                titles=_scored(items, reason),
                cold_start=cold,
                user_events_applied=st.user_events(request.user_id),
            )

        return await self._guard(context, build)  # type: ignore[return-value]

    async def SimilarTitles(
        self, request: api.SimilarTitlesRequest, context: grpc.aio.ServicerContext
    ) -> api.SimilarTitlesResponse:
        def build() -> api.SimilarTitlesResponse:
            if not request.title_id:
                raise BadRequest("title_id is required")
            k = self._k(request.k)
            st = self._state()
            items = st.model.similar(request.title_id, k, request.context.region)
            return api.SimilarTitlesResponse(
                titles=_scored([(str(t), s) for t, s in items], "watched together")
            )

        return await self._guard(context, build)  # type: ignore[return-value]

    async def HomeRows(
        self, request: api.HomeRowsRequest, context: grpc.aio.ServicerContext
    ) -> api.HomeRowsResponse:
        def build() -> api.HomeRowsResponse:
            if not request.user_id:
                raise BadRequest("user_id is required")
            per_row = self._k(request.titles_per_row, "titles_per_row")
            max_rows = request.max_rows or 6
            if not 1 <= max_rows <= 20:
                raise BadRequest(f"max_rows must be within [1, 20], got {max_rows}")
            variant = self._variant(request.variant)
            st = self._state()
            rows = (
                self._popular_rows(st, request, per_row, max_rows)
                if variant == "popularity"
                else self._learned_rows(st, request, per_row, max_rows)
            )
            metrics.SERVED.labels(variant).inc()
            return api.HomeRowsResponse(
                request_id=uuid.uuid4().hex,
                rows=rows[:max_rows],
                user_events_applied=st.user_events(request.user_id),
            )

        return await self._guard(context, build)  # type: ignore[return-value]

    def _popular_rows(
        self, st: RecoState, req: api.HomeRowsRequest, per_row: int, max_rows: int
    ) -> list[api.Row]:
        items = self._top(
            st, req.user_id, per_row * max_rows, req.context, req.filter, "popularity"
        )
        return [
            api.Row(
                row_id=f"popular:{i}",
                kind=api.ROW_KIND_TRENDING,
                title="Popular on Reelstream",
                reason="most watched overall",
                titles=_scored(items[i * per_row : (i + 1) * per_row], "popular"),
            )
            for i in range(max_rows)
            if items[i * per_row : (i + 1) * per_row]
        ]

    def _learned_rows(
        self, st: RecoState, req: api.HomeRowsRequest, per_row: int, max_rows: int
    ) -> list[api.Row]:
        # The model composes the screen (each title once, the filter on every row, filled to
        # max_rows with the next-best titles; measured in bench/reco_arms); this names its rows.
        ctx = req.context
        cold = st.model.users.get(req.user_id) is None
        rows = home_rows(
            st.model,
            req.user_id,
            per_row,
            max_rows,
            ctx.region,
            device_name(ctx.device_type),
            self._mask(st, req.filter),
        )
        return [self._row(st, row, cold) for row in rows]

    @staticmethod
    def _row(st: RecoState, row: HomeRow, cold: bool) -> api.Row:
        if row.kind == "continue":
            kind, title, reason, why = (
                api.ROW_KIND_CONTINUE_WATCHING,
                "Continue watching",
                "you started these",
                "unfinished",
            )
        elif row.kind == "top":
            first = row.about in ("", "0", "1")  # the screen's first top row (after continue)
            kind, why = api.ROW_KIND_TOP_PICKS, "for you"
            if cold:
                title, reason = "Trending near you", "popular in your region"
            else:
                title = "Top picks for you" if first else "More picks for you"
                reason = "based on what you watch"
        elif row.kind == "byw":
            name = st.name_of(row.about)
            kind, title = api.ROW_KIND_BECAUSE_YOU_WATCHED, f"Because you watched {name}"
            reason, why = f"watched together with {name}", f"similar to {name}"
        elif row.kind == "new":
            kind, title, reason, why = (
                api.ROW_KIND_NEW_FOR_YOU,
                "New for you",
                "released in the last 30 days",
                "new",
            )
        elif row.kind == "trending":
            kind, why = api.ROW_KIND_TRENDING, "trending"
            title = f"Trending in {row.about}" if row.about else "Trending now"
            reason = "watched most lately"
        else:  # genre
            kind, title, why = api.ROW_KIND_GENRE, row.about.title(), row.about
            reason = f"you watch a lot of {row.about}"
        return api.Row(
            row_id=f"{row.kind}:{row.about}" if row.about else row.kind,
            kind=kind,
            title=title,
            reason=reason,
            titles=_scored([(str(t), float(v)) for t, v in row.items], why),
        )
