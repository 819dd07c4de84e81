"""Typed access to a batch of events: `Batch` wraps the WIT `batch` an `on_events` call
receives, and yields an `Event` view per event.

The WIT sends every text as a span (`Text(start, len)`) into one byte blob per batch,
`batch.strings`. The views decode a span only when you read the field, so a rule that looks at
two fields of each event decodes two strings per event, not thirty. Numbers the WIT sends as 0
for "unknown" (pids, ports, codes) read as `None`.

    for ev in Batch(batch):
        if ev.event_class is EventClass.PROCESS and shells.contains_path(ev.process_image):
            ...

Spans index their own batch only: keep the decoded `str`, never an `Event`, across calls.
"""

import ipaddress
from bisect import bisect_left
from typing import Iterator, List, Optional, Tuple

from .matchers import basename
from wit_world.imports.types import (
    ActorProcess,
    Body_Authentication,
    Body_Dns,
    Body_File,
    Body_Http,
    Body_Job,
    Body_Network,
    Body_Other,
    Body_Process,
    Body_Registry,
    Body_Script,
    Endpoint,
    EventClass,
    Guid,
    IpAddress,
    IpAddress_V4,
    Process,
    Text,
    User,
)

# The event class is the case of the event's body.
_CLASS_OF_BODY = {
    Body_Authentication: EventClass.AUTHENTICATION,
    Body_Process: EventClass.PROCESS,
    Body_Network: EventClass.NETWORK,
    Body_File: EventClass.FILE,
    Body_Registry: EventClass.REGISTRY,
    Body_Dns: EventClass.DNS,
    Body_Http: EventClass.HTTP,
    Body_Job: EventClass.JOB,
    Body_Script: EventClass.SCRIPT,
    Body_Other: EventClass.OTHER,
}

# Bodies with a `src` endpoint, and with a `dst` endpoint.
_WITH_SRC = (Body_Authentication, Body_Network, Body_File, Body_Dns, Body_Http)
_WITH_DST = (Body_Network, Body_Dns, Body_Http)
# Bodies whose process is an `actor-process` (pid, guid, image).
_WITH_ACTOR = (Body_Network, Body_File, Body_Registry, Body_Dns, Body_Http, Body_Script)


def format_ip(ip: Optional[IpAddress]) -> Optional[str]:
    """A WIT `ip-address` as text: `10.0.0.5`, `fe80::1`. IPv4 is a u32 in network order, IPv6
    two u64 halves, most significant first (Python ints hold them exactly)."""
    if ip is None:
        return None
    if isinstance(ip, IpAddress_V4):
        return str(ipaddress.IPv4Address(ip.value))
    hi, lo = ip.value
    return str(ipaddress.IPv6Address((hi << 64) | lo))


def format_guid(guid: Optional[Guid]) -> Optional[str]:
    """A WIT `guid` in the Windows form the host writes: `{5770385F-C22A-43E0-BF4C-06F5698FFBD9}`."""
    if guid is None:
        return None
    v = (guid.hi << 64) | guid.lo
    return "{%08X-%04X-%04X-%04X-%012X}" % (
        v >> 96,
        (v >> 80) & 0xFFFF,
        (v >> 64) & 0xFFFF,
        (v >> 48) & 0xFFFF,
        v & 0xFFFFFFFFFFFF,
    )


def _nonzero(n: int) -> Optional[int]:
    return n if n else None


def _label(image: Optional[str], pid: Optional[int]) -> Optional[str]:
    name = basename(image) if image else None
    if name and pid:
        return f"{name} (pid {pid})"
    if name:
        return name
    if pid:
        return f"pid {pid}"
    return None


class Batch:
    """A batch of events as `on_events` receives it. Iterate it for `Event` views.

    `raw` is the WIT record (`strings`, `events`, `attributes`), for what the views do not cover.
    """

    __slots__ = ("raw", "strings", "_attr_events")

    def __init__(self, raw) -> None:
        self.raw = raw
        self.strings: bytes = raw.strings
        # attribute event indices, built on the first attribute lookup (attributes are ordered
        # by event index, so a lookup is a binary search)
        self._attr_events: Optional[List[int]] = None

    def __len__(self) -> int:
        return len(self.raw.events)

    def __iter__(self) -> Iterator["Event"]:
        for i, ev in enumerate(self.raw.events):
            yield Event(self, i, ev)

    def __getitem__(self, index: int) -> "Event":
        return Event(self, index, self.raw.events[index])

    def text(self, span: Optional[Text]) -> Optional[str]:
        """Decodes a `text` span of this batch; `None` stays `None`."""
        if span is None:
            return None
        return self.strings[span.start : span.start + span.len].decode("utf-8", "replace")

    def attributes_of(self, index: int) -> List[Tuple[str, str]]:
        """The `(key, value)` attributes of the event at `index`, decoded."""
        attrs = self.raw.attributes
        if not attrs:
            return []
        if self._attr_events is None:
            self._attr_events = [a.event for a in attrs]
        i = bisect_left(self._attr_events, index)
        out = []
        while i < len(attrs) and attrs[i].event == index:
            out.append((self.text(attrs[i].key) or "", self.text(attrs[i].value) or ""))
            i += 1
        return out


class Event:
    """A view of one event of a `Batch`: the header (`seq`, `time`, `activity`, `outcome`,
    `code`, `hostname`), the class, and the facts rules read most, decoded on access.

    `raw` is the WIT `event` record and `body` its class's record (`ev.body.process.pid`…).
    """

    __slots__ = ("batch", "index", "raw")

    def __init__(self, batch: Batch, index: int, raw) -> None:
        self.batch = batch
        self.index = index
        self.raw = raw

    def __repr__(self) -> str:
        return f"Event(seq={self.seq}, class={self.event_class.name}, time={self.time})"

    def text(self, span: Optional[Text]) -> Optional[str]:
        return self.batch.text(span)

    # --- the header ---

    @property
    def seq(self) -> int:
        """Ingest sequence number (u64); findings cite events by it."""
        return self.raw.seq

    @property
    def time(self) -> int:
        """Event time, ms since the Unix epoch, UTC (s64)."""
        return self.raw.time

    @property
    def activity(self):
        return self.raw.activity

    @property
    def outcome(self):
        return self.raw.outcome

    @property
    def code(self) -> Optional[int]:
        """The source's event code (Windows EventID, Sysmon id); `None` when 0."""
        return _nonzero(self.raw.code)

    @property
    def hostname(self) -> Optional[str]:
        """The host the event was recorded on."""
        return self.text(self.raw.hostname)

    @property
    def event_class(self) -> EventClass:
        """The event's class: the case of its body."""
        return _CLASS_OF_BODY[type(self.raw.body)]

    @property
    def body(self):
        """The class's record (`Authentication`, `ProcessActivity`…), `None` for `other`."""
        return getattr(self.raw.body, "value", None)

    # --- processes ---

    @property
    def process(self) -> Optional[Process]:
        """The launched, ended or accessed process with its parent (process events only)."""
        body = self.raw.body
        return body.value.process if isinstance(body, Body_Process) else None

    @property
    def actor_process(self) -> Optional[ActorProcess]:
        """The process behind a network, file, registry, DNS, HTTP or script event."""
        body = self.raw.body
        return body.value.process if isinstance(body, _WITH_ACTOR) else None

    @property
    def process_image(self) -> Optional[str]:
        """The image path of the event's process: the launched one, else the actor."""
        p = self.process or self.actor_process
        return self.text(p.image) if p is not None else None

    @property
    def process_cmd_line(self) -> Optional[str]:
        p = self.process
        return self.text(p.cmd_line) if p is not None else None

    @property
    def process_pid(self) -> Optional[int]:
        p = self.process or self.actor_process
        return _nonzero(p.pid) if p is not None else None

    @property
    def process_guid(self) -> Optional[str]:
        """The process GUID in its Windows form (`{…}`)."""
        p = self.process or self.actor_process
        return format_guid(p.guid) if p is not None else None

    @property
    def parent_image(self) -> Optional[str]:
        p = self.process
        return self.text(p.parent_image) if p is not None else None

    @property
    def parent_cmd_line(self) -> Optional[str]:
        p = self.process
        return self.text(p.parent_cmd_line) if p is not None else None

    @property
    def parent_pid(self) -> Optional[int]:
        p = self.process
        return _nonzero(p.parent_pid) if p is not None else None

    @property
    def parent_guid(self) -> Optional[str]:
        p = self.process
        return format_guid(p.parent_guid) if p is not None else None

    @property
    def process_label(self) -> Optional[str]:
        """`cmd.exe (pid 42)`: the image's basename and pid, as the Rust SDK labels processes."""
        return _label(self.process_image, self.process_pid)

    @property
    def parent_label(self) -> Optional[str]:
        return _label(self.parent_image, self.parent_pid)

    # --- the user ---

    @property
    def user(self) -> Optional[User]:
        """The body's account: who logged on, runs the process, opened the file…"""
        body = self.raw.body
        if isinstance(body, Body_Authentication):
            return body.value.user
        if isinstance(body, Body_Other):
            return None
        return body.value.user

    @property
    def user_name(self) -> Optional[str]:
        u = self.user
        return self.text(u.name) if u is not None else None

    @property
    def user_domain(self) -> Optional[str]:
        u = self.user
        return self.text(u.domain) if u is not None else None

    @property
    def qualified_user(self) -> Optional[str]:
        """`DOMAIN\\name`, or `name` without a domain."""
        name = self.user_name
        if not name:
            return None
        domain = self.user_domain
        return f"{domain}\\{name}" if domain else name

    # --- endpoints ---

    @property
    def src(self) -> Optional[Endpoint]:
        body = self.raw.body
        return body.value.src if isinstance(body, _WITH_SRC) else None

    @property
    def dst(self) -> Optional[Endpoint]:
        body = self.raw.body
        return body.value.dst if isinstance(body, _WITH_DST) else None

    @property
    def src_ip(self) -> Optional[str]:
        e = self.src
        return format_ip(e.ip) if e is not None else None

    @property
    def src_port(self) -> Optional[int]:
        e = self.src
        return _nonzero(e.port) if e is not None else None

    @property
    def src_hostname(self) -> Optional[str]:
        e = self.src
        return self.text(e.hostname) if e is not None else None

    @property
    def dst_ip(self) -> Optional[str]:
        e = self.dst
        return format_ip(e.ip) if e is not None else None

    @property
    def dst_port(self) -> Optional[int]:
        e = self.dst
        return _nonzero(e.port) if e is not None else None

    @property
    def dst_hostname(self) -> Optional[str]:
        e = self.dst
        return self.text(e.hostname) if e is not None else None

    # --- attributes ---

    def attribute(self, key: str) -> Optional[str]:
        """The value of the first attribute named `key` (ignoring case): `source.channel`,
        `device.domain`, `process.cwd`… (docs/wit.md lists them)."""
        key = key.lower()
        for k, v in self.batch.attributes_of(self.index):
            if k.lower() == key:
                return v
        return None

    def attributes(self) -> List[Tuple[str, str]]:
        """Every attribute of the event as decoded `(key, value)` pairs."""
        return self.batch.attributes_of(self.index)
