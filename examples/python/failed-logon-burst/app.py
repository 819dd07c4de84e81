"""py-failed-logon-burst: many failed logons from one source in a short window (T1110).

A Yagura detection rule written in Python against the WIT world
`yagura:detection/detection-rule@0.1.0`, built with componentize-py and the Python kit
(`sdk/python/yagura_sdk`; see README.md and docs/writing-rules-python.md).

componentize-py generates the `wit_world` package at build time: imported interfaces are
modules under `wit_world.imports`, and the exported interface `rule` is implemented by a
class named `Rule` (the interface name in PascalCase) in this module. The kit wraps the batch
(`Batch`, `Event`: text spans decoded on access), the host's state (`WindowedCounter`,
`mark_once`), the config (`Params`, `Config`) and findings (`finding(...)`). A `result<T, E>` is
returned as a plain `T` and its error is raised as `componentize_py_types.Err(e)`. Built with
`--stub-wasi`, the component has no stdout or stderr: `print` and any uncaught exception trap
the call. Use `log`.
"""

from typing import List, Optional, Tuple

from wit_world import exports
from wit_world.imports import log, types
from wit_world.imports.types import EntityKind, EventClass, Finding, Outcome, RuleInfo, Severity, Value

from yagura_sdk import Batch, Config, Event, Params, WindowedCounter, finding, mark_once

RULE_ID = "py-failed-logon-burst"

PARAMS = (
    Params()
    .integer("threshold", "failed logons from one source within the window that raise a finding (>= 1)", 5)
    .integer("window_seconds", "length of the sliding window in seconds (>= 1)", 300)
)

# Per-instance settings, applied by `init`. Guest memory is only a cache: the counts and the
# "already reported" markers live in the host's state, so they survive a fresh instance.
_threshold = 5
_failures = WindowedCounter("fail:", seconds=300)


def source_of(ev: Event) -> Optional[Tuple[EntityKind, str]]:
    """The source a failure is counted against: src ip, else src hostname, else the hostname
    of the device that recorded the event."""
    ip = ev.src_ip
    if ip:
        return EntityKind.IP, ip
    host = ev.src_hostname or ev.hostname
    if host:
        return EntityKind.HOST, host
    return None


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
            params=PARAMS.wit(),
        )

    def init(self, config: List[Tuple[str, Value]]) -> None:
        global _threshold, _failures
        cfg = Config(config, PARAMS)
        threshold = cfg.integer("threshold", min=1)
        window_seconds = cfg.integer("window_seconds", min=1, max=366 * 24 * 3600)
        _threshold = threshold
        _failures = WindowedCounter("fail:", seconds=window_seconds)
        log.log(
            log.Level.DEBUG,
            f"{RULE_ID}: threshold={threshold} window_seconds={window_seconds}",
        )

    def on_events(self, batch: types.Batch) -> List[Finding]:
        findings: List[Finding] = []
        window_ms = _failures.window_ms
        for ev in Batch(batch):
            # The host sends only subscribed classes, but a rule checks what it reads.
            if ev.event_class != EventClass.AUTHENTICATION or ev.outcome != Outcome.FAILURE:
                continue
            src = source_of(ev)
            if src is None:
                continue
            kind, source = src
            count = _failures.add(source, ev.time)
            # Once per source per window: a marker that expires when the window has passed.
            if count < _threshold or not mark_once("fired:" + source, ev.time, window_ms):
                continue
            device = ev.hostname
            window_s = window_ms // 1000
            findings.append(
                finding(f"Failed logon burst from {source}")
                .description(
                    f"{count} failed logons from {source} within {window_s} s"
                    + (f" on {device}" if device else "")
                    + f" (threshold {_threshold})."
                )
                .severity(Severity.MEDIUM)
                .confidence(60)
                .technique("T1110")
                .entity(kind, source, role="source")
                .host(device, role="target")
                .event(ev)
                .dedup_key(source)
                .context("count", count)
                .context("threshold", _threshold)
                .context("window_seconds", window_s)
                .build()
            )
        return findings

    def on_tick(self, watermark: int) -> List[Finding]:
        # Counting needs no timeouts: the host expires the window by event time.
        return []
