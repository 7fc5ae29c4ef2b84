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
from services.recommendation.model import rows as row_views

FRESH_WINDOW_S = 30 * 86400.0
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
        user, ctx, rec = req.user_id, req.context, st.model
        region = ctx.region
        out: list[api.Row] = []
        cw = row_views.continue_watching(rec, user, per_row)
        if cw:
            out.append(
                api.Row(
                    row_id="continue",
                    kind=api.ROW_KIND_CONTINUE_WATCHING,
                    title="Continue watching",
                    reason="you started these",
                    titles=_scored([(str(t), p) for t, p in cw], "unfinished"),
                )
            )
        top = self._top(st, user, per_row, ctx, req.filter, "learned")
        cold = rec.users.get(user) is None
        out.append(
            api.Row(
                row_id="top",
                kind=api.ROW_KIND_TOP_PICKS,
                title="Trending near you" if cold else "Top picks for you",
                reason="popular in your region" if cold else "based on what you watch",
                titles=_scored(top, "for you"),
            )
        )
        for seed, sims in row_views.because_you_watched(rec, user, 2, per_row, region):
            name = st.name_of(str(seed))
            out.append(
                api.Row(
                    row_id=f"byw:{seed}",
                    kind=api.ROW_KIND_BECAUSE_YOU_WATCHED,
                    title=f"Because you watched {name}",
                    reason=f"watched together with {name}",
                    titles=_scored([(str(t), s) for t, s in sims], f"similar to {name}"),
                )
            )
        trend = row_views.trending(rec, region, per_row, device_name(ctx.device_type))
        if trend:
            out.append(
                api.Row(
                    row_id=f"trending:{region or 'all'}",
                    kind=api.ROW_KIND_TRENDING,
                    title=f"Trending in {region}" if region else "Trending now",
                    reason="watched most lately",
                    titles=_scored([(str(t), s) for t, s in trend], "trending"),
                )
            )
        n = len(rec.catalog)
        fresh = rec.catalog.release_ts[:n] >= rec.trend.t_last - FRESH_WINDOW_S
        fresh &= rec.catalog.known[:n]
        new = (
            self._top(st, user, per_row, ctx, req.filter, "learned", extra_mask=fresh)
            if fresh.any()
            else []
        )
        if new:
            out.append(
                api.Row(
                    row_id="new",
                    kind=api.ROW_KIND_NEW_FOR_YOU,
                    title="New for you",
                    reason="released in the last 30 days",
                    titles=_scored(new, "new"),
                )
            )
        for genre, items in row_views.genre_rows(rec, user, 3, per_row, region):
            out.append(
                api.Row(
                    row_id=f"genre:{genre}",
                    kind=api.ROW_KIND_GENRE,
                    title=genre.title(),
                    reason=f"you watch a lot of {genre}",
                    titles=_scored([(str(t), s) for t, s in items], genre),
                )
            )
        return out[: max(max_rows, 1)]
