"""Session store policy: idle TTL and max-sessions LRU."""

from services.abr.engine import AbrEngine
from services.abr.session import SessionStore


def test_idle_sessions_expire():
    store = SessionStore(idle_ttl_s=10.0, max_sessions=10)
    store.open("a", now=0.0)
    store.open("b", now=5.0)
    assert store.get("a", now=9.0) is not None  # touching "a" refreshes it
    assert store.expire(now=16.0) == ["a"]
    assert store.get("a", now=30.0) is None


def test_lru_evicts_least_recently_used():
    store = SessionStore(idle_ttl_s=100.0, max_sessions=2)
    store.open("a", now=0.0)
    store.open("b", now=1.0)
    store.get("a", now=2.0)
    store.open("c", now=3.0)
    assert sorted(store.ids()) == ["a", "c"]


def test_engine_end_session_forgets_state():
    engine = AbrEngine((300, 750, 1200))
    engine.start_session("s", now=0.0, max_rung=1)
    assert engine.end_session("s")
    assert not engine.end_session("s")
    assert len(engine.store) == 0
