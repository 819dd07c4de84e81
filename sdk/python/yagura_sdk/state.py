"""Helpers over the host's `state` import: windowed counters, windowed distinct sets and
markers with expiry, all in event time.

State lives in the host, not in the guest: it survives a trap, a fresh instance and a new rule
version, and every batch sees it. Guest memory (module globals) is a cache only. Keys are the
rule's own (the host scopes them by rule and tenant); a key holds one kind of state, so give
each helper its own prefix.

A state error (`quota-exceeded`, `too-large`, `invalid`) is raised as `Err("state: … <key>")`,
which fails the `on_events` call as a rule error with that message, rather than trapping.

Times are s64 milliseconds and windows u64 milliseconds; Python ints are exact, and the helpers
clamp what they compute (`at + window`) to the s64 range before it is lowered.
"""

from typing import List, Optional, Tuple

from componentize_py_types import Err
from wit_world.imports import state as _host

S64_MAX = (1 << 63) - 1
S64_MIN = -(1 << 63)
_U64_MAX = (1 << 64) - 1


def clamp_s64(n: int) -> int:
    """`n` clamped to the WIT s64 range: lowering an int outside it traps the call."""
    return S64_MIN if n < S64_MIN else S64_MAX if n > S64_MAX else n


def _window(ms: int) -> int:
    if ms <= 0:
        raise ValueError(f"a window must be at least 1 ms, got {ms}")
    return min(int(ms), _U64_MAX)


def _error(e: Err, what: str, key: str) -> Err:
    # `StateError.QUOTA_EXCEEDED` -> `quota-exceeded`, the WIT name
    value = getattr(e.value, "name", str(e.value))
    return Err(f"state: {value.lower().replace('_', '-')} ({what} `{key}`)")


class WindowedCounter:
    """A sum over a sliding window of event time, per key: `fails = WindowedCounter("fail:",
    minutes=5)`, then `fails.add(src, ev.time)` returns the count in the window."""

    __slots__ = ("prefix", "window_ms")

    def __init__(self, prefix: str, window_ms: int = 0, *, seconds: int = 0, minutes: int = 0) -> None:
        self.prefix = prefix
        self.window_ms = _window(window_ms + seconds * 1000 + minutes * 60_000)

    def add(self, key: str, at: int, delta: int = 1) -> int:
        """Adds `delta` at event time `at`; returns the sum over the window."""
        full = self.prefix + key
        try:
            return _host.counter_add(full, at, self.window_ms, delta)
        except Err as e:
            raise _error(e, "counter", full)

    def sum(self, key: str, at: int) -> int:
        """The sum over the window, without adding."""
        return _host.counter_sum(self.prefix + key, at, self.window_ms)


class DistinctSet:
    """Distinct items seen per key in a sliding window of event time: `targets =
    DistinctSet("dst:", minutes=10)`, then `targets.add(src, dst, ev.time)` returns how many
    distinct destinations `src` reached in the window."""

    __slots__ = ("prefix", "window_ms")

    def __init__(self, prefix: str, window_ms: int = 0, *, seconds: int = 0, minutes: int = 0) -> None:
        self.prefix = prefix
        self.window_ms = _window(window_ms + seconds * 1000 + minutes * 60_000)

    def add(self, key: str, item: str, at: int) -> int:
        """Records `item` at event time `at`; returns the distinct count in the window."""
        full = self.prefix + key
        try:
            return _host.distinct_add(full, item, at, self.window_ms)
        except Err as e:
            raise _error(e, "distinct set", full)

    def items(self, key: str, at: int, limit: int = 10) -> Tuple[int, List[str]]:
        """The distinct count and up to `limit` items, most recent first. The items are copied
        into the guest: keep this off the per-event path."""
        return _host.distinct_items(self.prefix + key, at, self.window_ms, limit)


def mark_once(key: str, at: int, expires_in_ms: int) -> bool:
    """True the first time `key` is marked, then False until the mark expires
    `expires_in_ms` after `at` (event time). The usual "report once per window" guard:

        if count >= threshold and mark_once("fired:" + src, ev.time, window_ms):
            findings.append(...)
    """
    if get(key, at) is not None:
        return False
    set_value(key, b"1", clamp_s64(at + max(0, expires_in_ms)))
    return True


def get(key: str, at: int) -> Optional[bytes]:
    """The bytes under `key`, unless they expired by event time `at`."""
    return _host.get(key, at)


def set_value(key: str, value: bytes, expires_at: int) -> None:
    """Stores `value` under `key` until event time passes `expires_at` (clamped to s64)."""
    try:
        _host.set(key, value, clamp_s64(expires_at))
    except Err as e:
        raise _error(e, "value", key)


def remove(key: str) -> None:
    """Removes `key`, of any kind of state."""
    _host.remove(key)
