"""py-office-spawns-shell: an Office application starts a shell, a script host or a
living-off-the-land binary (T1204.002, T1059) — rules/office-spawns-shell, in Python.

The same detection as the Rust rule, written with the Python kit (sdk/python/yagura_sdk): it
passes the same cases (rules/office-spawns-shell/cases/) and reports the same findings, under
its own rule id. Built by `cargo xtask build-rules` into target/rules/py-office-spawns-shell.wasm.
"""

from typing import List, Tuple

from wit_world import exports
from wit_world.imports import types
from wit_world.imports.types import Activity, EventClass, Finding, RuleInfo, Severity, Value

from yagura_sdk import Batch, Config, Event, NameSet, Params, basename, finding

RULE_ID = "py-office-spawns-shell"

# Office applications whose children are suspicious.
OFFICE = [
    "winword.exe",
    "excel.exe",
    "powerpnt.exe",
    "outlook.exe",
    "onenote.exe",
    "msaccess.exe",
    "mspub.exe",
    "visio.exe",
]

# Shells, script hosts and LOLBins a document has no business starting.
SHELLS = [
    "cmd.exe",
    "powershell.exe",
    "pwsh.exe",
    "wscript.exe",
    "cscript.exe",
    "mshta.exe",
    "rundll32.exe",
    "regsvr32.exe",
    "certutil.exe",
    "bitsadmin.exe",
    "wmic.exe",
]

PARAMS = (
    Params()
    .text_list(
        "extra_parents",
        "more parent image names (basenames such as `hwp.exe`) to treat as Office",
    )
    .text_list(
        "extra_children",
        "more child image names (basenames such as `msbuild.exe`) to treat as shells",
    )
)

# Built in `init`; module globals are the instance's cache (one instance per rule and tenant).
_parents = NameSet(OFFICE)
_children = NameSet(SHELLS)

# Launches only; an adapter that cannot tell says `unknown`.
_LAUNCH = (Activity.CREATE, Activity.UNKNOWN)


class Rule(exports.Rule):
    def info(self) -> RuleInfo:
        return RuleInfo(
            id=RULE_ID,
            name="Office application starts a shell (Python)",
            description=(
                "An Office application (Word, Excel, PowerPoint, Outlook…) started a shell, a "
                "script host or a living-off-the-land binary, as a malicious macro does."
            ),
            version="0.1.0",
            severity=Severity.HIGH,
            techniques=["T1204.002", "T1059"],
            subscriptions=[EventClass.PROCESS],
            params=PARAMS.wit(),
        )

    def init(self, config: List[Tuple[str, Value]]) -> None:
        global _parents, _children
        cfg = Config(config, PARAMS)
        parents = NameSet(OFFICE)
        parents.extend(cfg.text_list("extra_parents"))
        children = NameSet(SHELLS)
        children.extend(cfg.text_list("extra_children"))
        _parents, _children = parents, children

    def on_events(self, batch: types.Batch) -> List[Finding]:
        out: List[Finding] = []
        for ev in Batch(batch):
            if ev.activity not in _LAUNCH:
                continue
            # Office parents are the rarer match: test them first.
            parent = ev.parent_image
            if not _parents.contains_path(parent):
                continue
            child = ev.process_image
            if _children.contains_path(child):
                out.append(report(ev, parent, child))
        return out

    def on_tick(self, watermark: int) -> List[Finding]:
        return []


def report(ev: Event, parent: str, child: str) -> Finding:
    """The finding for a matching launch."""
    host = ev.hostname or ""
    parent_id = ev.parent_guid or (str(ev.parent_pid) if ev.parent_pid else parent.lower())
    return (
        finding(f"{basename(parent)} started {basename(child)}")
        .description(
            f"{parent} started {child} on {host or 'an unnamed host'}: Office applications do "
            "not start shells or script hosts unless a document told them to."
        )
        .severity(Severity.HIGH)
        .confidence(80)
        .technique("T1204.002", "T1059")
        .event(ev)
        .dedup_key(f"{host}|{parent_id}")
        .host(host)
        .user(ev.qualified_user)
        .process(ev.parent_label, role="parent")
        .process(ev.process_label, role="child")
        .context("parent_image", parent)
        .context("image", child)
        .context("cmd_line", ev.process_cmd_line)
        .context("parent_cmd_line", ev.parent_cmd_line)
        .build()
    )
