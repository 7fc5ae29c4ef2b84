"""One subscriber's app as a state machine: open, browse rows, pick, play chunk by chunk, end.

Every action happens at a simulated time ``t`` and returns when the viewer's
next action is due (the fleet keeps those in a heap), so a viewer costs
nothing between actions and a run can go 1000x faster than real time. A
viewer has one action pending at a time, so its events are emitted in order.

The viewer only ever talks to the services through :class:`RecClient` and
:class:`AbrClient`, and degrades like a real app when they fail: the built-in
default row instead of recommendations, client-side BBA instead of the abr
service's choice.
"""

from __future__ import annotations

from services.simulator.browse import browse
from services.simulator.playing import chunk, end, resume
from services.simulator.world import Phase, World


class Viewers(World):
    """Dispatches each viewer's pending action (the fleet's only entry point)."""

    # -- scheduling hints -----------------------------------------------------------------------

    def needs_rpc(self, u: int) -> bool:
        """Will the next action call a service (so the fleet runs it as a concurrent task)?"""
        st = self.states[u]
        if st.phase in (Phase.IDLE, Phase.BROWSE):  # rows, maybe a learned-ABR session start
            return self.svc.rec.usable() or self.svc.abr.usable()
        if st.phase in (Phase.CHUNK, Phase.END) and st.viewing is not None:
            return st.viewing.abr_on and self.svc.abr.usable()
        return False

    async def act(self, u: int, t: float, rpc: bool = True) -> float | None:
        """Run the viewer's pending action at simulated time ``t``; return the next one's time.

        With ``rpc=False`` no service is called (the app's fallbacks are used), so the
        action completes without suspending: the fleet runs such actions inline.
        """
        st = self.states[u]
        if st.cancelled:
            return None
        if self.stats.pre is None and not self.assignment.in_pre_period(t):
            self.stats.end_pre_period()
        phase = st.phase
        if phase == Phase.CHUNK:
            return await chunk(self, u, st, t, rpc)
        if phase == Phase.RESUME:
            return resume(self, u, st, t)
        if phase == Phase.END:
            return await end(self, u, st, t, rpc)
        if phase == Phase.IDLE:
            return await browse(self, u, st, t, new_sitting=True, rpc=rpc)
        if phase == Phase.BROWSE:
            return await browse(self, u, st, t, new_sitting=False, rpc=rpc)
        return self.signup(u, t)
