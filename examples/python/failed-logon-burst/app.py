"""py-failed-logon-burst: many failed logons from one source in a short window (T1110).

A Yagura detection rule written in Python against the WIT world
`yagura:detection/detection-rule@0.1.0`, built with componentize-py (see README.md).

componentize-py generates the `wit_world` package at build time: imported interfaces are
modules under `wit_world.imports`, and the exported interface `rule` is implemented by a
class named `Rule` (the interface name in PascalCase) in this module. WIT names become
snake_case (`on-events` -> `on_events`, `dedup-key` -> `dedup_key`). The event's `body` is a
variant: each case is a class named `Body_<Case>` (`Body_Authentication`) whose `value` is the
case's record; the event class is the body's case. A `result<T, E>` is returned as a plain `T` and its error is
raised as `componentize_py_types.Err(e)`; an imported function returning `result` raises
`Err` the same way. Built with `--stub-wasi`, the component has no stdout or stderr: `print`
and any uncaught exception (whose traceback goes to stderr) trap the call. Use `log`.
"""

import ipaddress
from typing import List, Optional, Tuple

from componentize_py_types import Err
from wit_world import exports
from wit_world.imports import log, state
from wit_world.imports.types import (
    Authentication,
    Batch,
    Body_Authentication,
    Entity,
    EntityKind,
    Event,
    EventClass,
    Finding,
    IpAddress,
    IpAddress_V4,
    Outcome,
    Param,
    RuleInfo,
    Severity,
    Text,
    Value,
    Value_Integer,
)

RULE_ID = "py-failed-logon-burst"
DEFAULT_THRESHOLD = 5
DEFAULT_WINDOW_SECONDS = 300

# Per-instance settings, applied by `init`. Guest memory is only a cache: the counts and the
# "already reported" markers live in the host's state, so they survive a fresh instance.
_threshold = DEFAULT_THRESHOLD
_window_ms = DEFAULT_WINDOW_SECONDS * 1000

S64_MAX = (1 << 63) - 1


def span(strings: bytes, t: Optional[Text]) -> Optional[str]:
    """Decodes a `text` span of the batch's string blob; `None` stays `None`."""
    if t is None:
        return None
    return strings[t.start : t.start + t.len].decode("utf-8", "replace")


def ip_str(ip: Optional[IpAddress]) -> Optional[str]:
    """Formats a WIT `ip-address` (v4 as a u32 in network order, v6 as two u64 halves)."""
    if ip is None:
        return None
    if isinstance(ip, IpAddress_V4):
        return str(ipaddress.IPv4Address(ip.value))
    hi, lo = ip.value
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def source_of(
    strings: bytes, ev: Event, auth: Authentication
) -> Optional[Tuple[EntityKind, str]]:
    """The source a failure is counted against: src ip, else src hostname, else the hostname
    of the device that recorded the event."""
    ip = ip_str(auth.src.ip)
    if ip:
        return EntityKind.IP, ip
    host = span(strings, auth.src.hostname) or span(strings, ev.hostname)
    if host:
        return EntityKind.HOST, host
    return None


def _state_error(e: Err) -> str:
    """`StateError.QUOTA_EXCEEDED` -> `quota-exceeded`, the WIT name."""
    return e.value.name.lower().replace("_", "-")


def _integer(name: str, value: Value) -> int:
    if not isinstance(value, Value_Integer):
        raise Err(f"{name}: expected an integer")
    return value.value


class Rule(exports.Rule):
    def info(self) -> RuleInfo:
        return RuleInfo(
            id=RULE_ID,
            name="Failed logon burst (Python)",
            description=(
                "Many failed logons from one source (IP, else workstation, else the reporting "
                "host) within a time window: password guessing or spraying."
            ),
            version="0.1.0",
            severity=Severity.MEDIUM,
            techniques=["T1110"],
            subscriptions=[EventClass.AUTHENTICATION],
            params=[
                Param(
                    name="threshold",
                    description="failed logons from one source within the window that raise a finding (>= 1)",
                    default=Value_Integer(DEFAULT_THRESHOLD),
                ),
                Param(
                    name="window_seconds",
                    description="length of the sliding window in seconds (>= 1)",
                    default=Value_Integer(DEFAULT_WINDOW_SECONDS),
                ),
            ],
        )

    def init(self, config: List[Tuple[str, Value]]) -> None:
        global _threshold, _window_ms
        threshold = DEFAULT_THRESHOLD
        window_seconds = DEFAULT_WINDOW_SECONDS
        for name, value in config:
            if name == "threshold":
                threshold = _integer(name, value)
                if threshold < 1:
                    raise Err(f"threshold: must be at least 1, got {threshold}")
            elif name == "window_seconds":
                window_seconds = _integer(name, value)
                if window_seconds < 1:
                    raise Err(f"window_seconds: must be at least 1, got {window_seconds}")
                if window_seconds > 366 * 24 * 3600:
                    raise Err(f"window_seconds: at most one year, got {window_seconds}")
            else:
                raise Err(f"{name}: unknown parameter")
        _threshold = threshold
        _window_ms = window_seconds * 1000
        log.log(
            log.Level.DEBUG,
            f"{RULE_ID}: threshold={threshold} window_seconds={window_seconds}",
        )

    def on_events(self, batch: Batch) -> List[Finding]:
        strings = batch.strings
        findings: List[Finding] = []
        for ev in batch.events:
            # The class is the body's case; the host sends only subscribed classes, but a
            # rule checks what it reads.
            if not isinstance(ev.body, Body_Authentication) or ev.outcome != Outcome.FAILURE:
                continue
            src = source_of(strings, ev, ev.body.value)
            if src is None:
                continue
            kind, source = src
            try:
                count = state.counter_add("fail:" + source, ev.time, _window_ms, 1)
            except Err as e:
                raise Err(f"counter for {source}: {_state_error(e)}")
            if count < _threshold:
                continue
            # Once per source per window: a marker that expires when the window has passed.
            marker = "fired:" + source
            if state.get(marker, ev.time) is not None:
                continue
            try:
                # Python ints never overflow, but a value outside s64 fails when lowered: saturate.
                state.set(marker, b"1", min(ev.time + _window_ms, S64_MAX))
            except Err as e:
                raise Err(f"marker for {source}: {_state_error(e)}")

            device = span(strings, ev.hostname)
            entities = [Entity(kind=kind, value=source, role="source")]
            if device:
                entities.append(Entity(kind=EntityKind.HOST, value=device, role="target"))
            window_s = _window_ms // 1000
            findings.append(
                Finding(
                    title=f"Failed logon burst from {source}",
                    description=(
                        f"{count} failed logons from {source} within {window_s} s"
                        + (f" on {device}" if device else "")
                        + f" (threshold {_threshold})."
                    ),
                    severity=Severity.MEDIUM,
                    confidence=60,
                    techniques=["T1110"],
                    entities=entities,
                    evidence=[ev.seq],
                    dedup_key=source,
                    time=ev.time,
                    context=[
                        ("count", str(count)),
                        ("threshold", str(_threshold)),
                        ("window_seconds", str(window_s)),
                    ],
                )
            )
        return findings

    def on_tick(self, watermark: int) -> List[Finding]:
        # Counting needs no timeouts: the host expires the window by event time.
        return []
