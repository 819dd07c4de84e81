"""Building findings: `finding(title)` returns a `FindingBuilder`; chain what you know and
call `build()` for the WIT `Finding` record.

    f = (
        finding(f"{parent} started {child}")
        .severity(Severity.HIGH)
        .confidence(80)
        .technique("T1204.002", "T1059")
        .event(ev)                       # evidence: ev.seq; time: ev.time
        .host(ev.hostname)
        .process(ev.parent_label, role="parent")
        .context("cmd_line", ev.process_cmd_line)
        .dedup_key(f"{host}|{parent_id}")
        .build()
    )

Entities and context entries whose value is `None` or empty are skipped, so optional event
fields can be passed straight in. ATT&CK ids are checked (`T1059`, `T1021.002`): a malformed
one raises `Err`, which fails the call with a message that names it.
"""

import re
from typing import Iterable, List, Optional, Tuple

from componentize_py_types import Err
from wit_world.imports.types import Entity, EntityKind, Finding, Severity

from .state import clamp_s64

_TECHNIQUE = re.compile(r"T\d{4}(\.\d{3})?")


class FindingBuilder:
    """A finding under construction. Defaults: severity medium, confidence 50, time 0 (set it,
    or use `event(ev)`), dedup key the title."""

    __slots__ = (
        "_title",
        "_description",
        "_severity",
        "_confidence",
        "_techniques",
        "_entities",
        "_evidence",
        "_dedup_key",
        "_time",
        "_context",
    )

    def __init__(self, title: str) -> None:
        self._title = title
        self._description = ""
        self._severity = Severity.MEDIUM
        self._confidence = 50
        self._techniques: List[str] = []
        self._entities: List[Entity] = []
        self._evidence: List[int] = []
        self._dedup_key: Optional[str] = None
        self._time = 0
        self._context: List[Tuple[str, str]] = []

    def description(self, text: str) -> "FindingBuilder":
        self._description = text
        return self

    def severity(self, severity: Severity) -> "FindingBuilder":
        self._severity = severity
        return self

    def confidence(self, confidence: int) -> "FindingBuilder":
        """0 to 100; clamped."""
        self._confidence = max(0, min(100, int(confidence)))
        return self

    def technique(self, *ids: str) -> "FindingBuilder":
        """MITRE ATT&CK technique ids: `T1059`, `T1021.002`."""
        for tid in ids:
            if not _TECHNIQUE.fullmatch(tid):
                raise Err(f"finding `{self._title}`: `{tid}` is not an ATT&CK technique id (T1234 or T1234.001)")
            if tid not in self._techniques:
                self._techniques.append(tid)
        return self

    def techniques(self, ids: Iterable[str]) -> "FindingBuilder":
        return self.technique(*ids)

    def entity(self, kind: EntityKind, value: Optional[object], role: Optional[str] = None) -> "FindingBuilder":
        """An entity of any kind; skipped when `value` is `None` or empty."""
        if value is not None and value != "":
            self._entities.append(Entity(kind=kind, value=str(value), role=role))
        return self

    def host(self, name: Optional[str], role: Optional[str] = None) -> "FindingBuilder":
        return self.entity(EntityKind.HOST, name, role)

    def user(self, name: Optional[str], role: Optional[str] = None) -> "FindingBuilder":
        return self.entity(EntityKind.USER, name, role)

    def ip(self, address: Optional[str], role: Optional[str] = None) -> "FindingBuilder":
        return self.entity(EntityKind.IP, address, role)

    def process(self, label: Optional[str], role: Optional[str] = None) -> "FindingBuilder":
        return self.entity(EntityKind.PROCESS, label, role)

    def file(self, path: Optional[str], role: Optional[str] = None) -> "FindingBuilder":
        return self.entity(EntityKind.FILE, path, role)

    def evidence(self, *seqs: int) -> "FindingBuilder":
        """`seq` of the events that support the finding."""
        for seq in seqs:
            if seq not in self._evidence:
                self._evidence.append(seq)
        return self

    def event(self, ev) -> "FindingBuilder":
        """Cites an `Event`: adds its `seq` as evidence and takes its time."""
        self.evidence(ev.seq)
        self._time = ev.time
        return self

    def time(self, ms: int) -> "FindingBuilder":
        """Event time of the finding, ms since the Unix epoch."""
        self._time = clamp_s64(ms)
        return self

    def dedup_key(self, key: str) -> "FindingBuilder":
        """Findings of this rule with the same key are one alert, updated."""
        self._dedup_key = key
        return self

    def context(self, key: str, value: Optional[object]) -> "FindingBuilder":
        """A key/value fact shown with the alert; skipped when `value` is `None`."""
        if value is not None:
            self._context.append((key, str(value)))
        return self

    def build(self) -> Finding:
        return Finding(
            title=self._title,
            description=self._description,
            severity=self._severity,
            confidence=self._confidence,
            techniques=self._techniques,
            entities=self._entities,
            evidence=self._evidence,
            dedup_key=self._title if self._dedup_key is None else self._dedup_key,
            time=self._time,
            context=self._context,
        )


def finding(title: str) -> FindingBuilder:
    """Starts a finding with its title."""
    return FindingBuilder(title)
