"""Unit tests of the Python kit, in plain CPython: no component, no host.

componentize-py generates the `wit_world` bindings into a temporary folder, and the host's
`state` import is replaced by an in-memory fake. Run from anywhere:

    python3 sdk/python/tests/test_kit.py

(tests/e2e/kits.rs runs it too). The end-to-end behaviour inside the real host is tested by
tests/e2e/kits.rs on built components.
"""

import atexit
import os
import shutil
import subprocess
import sys
import tempfile
import unittest

sys.dont_write_bytecode = True

HERE = os.path.dirname(os.path.abspath(__file__))
KIT = os.path.dirname(HERE)
ROOT = os.path.dirname(os.path.dirname(KIT))

_bindings = tempfile.mkdtemp(prefix="yagura-kit-bindings-")
atexit.register(shutil.rmtree, _bindings, True)
subprocess.run(
    ["componentize-py", "-d", os.path.join(ROOT, "wit"), "-w", "detection-rule", "bindings", _bindings],
    check=True,
    stdout=subprocess.DEVNULL,
)
sys.path[:0] = [_bindings, KIT]

from componentize_py_types import Err  # noqa: E402
from wit_world.imports import state as host_state  # noqa: E402
from wit_world.imports import types as t  # noqa: E402

import yagura_sdk  # noqa: E402
from yagura_sdk import (  # noqa: E402
    Batch,
    Config,
    ContainsAny,
    DistinctSet,
    NameSet,
    Params,
    WindowedCounter,
    basename,
    clamp_s64,
    finding,
    format_guid,
    format_ip,
    mark_once,
)


class FakeState:
    """The host's state import, in memory: windows anchored at the newest time per key."""

    def __init__(self):
        self.counters = {}
        self.distinct = {}
        self.values = {}
        self.quota = None

    def install(self):
        host_state.counter_add = self.counter_add
        host_state.counter_sum = self.counter_sum
        host_state.distinct_add = self.distinct_add
        host_state.distinct_items = self.distinct_items
        host_state.get = self.get
        host_state.set = self.set
        host_state.remove = lambda key: self.values.pop(key, None)

    def counter_add(self, key, at, window_ms, delta):
        assert 0 < window_ms < 1 << 64 and -(1 << 63) <= at < 1 << 63
        if self.quota is not None and key not in self.counters and len(self.counters) >= self.quota:
            raise Err(host_state.StateError.QUOTA_EXCEEDED)
        self.counters.setdefault(key, []).append((at, delta))
        return self.counter_sum(key, at, window_ms)

    def counter_sum(self, key, at, window_ms):
        items = self.counters.get(key, [])
        newest = max([at] + [a for a, _ in items])
        return sum(d for a, d in items if newest - window_ms < a <= newest)

    def distinct_add(self, key, item, at, window_ms):
        self.distinct.setdefault(key, {})[item] = at
        return self.distinct_items(key, at, window_ms, 0)[0]

    def distinct_items(self, key, at, window_ms, limit):
        seen = self.distinct.get(key, {})
        newest = max([at] + list(seen.values()))
        live = sorted((a, i) for i, a in seen.items() if newest - window_ms < a <= newest)
        return len(live), [i for _, i in reversed(live)][:limit]

    def get(self, key, at):
        value = self.values.get(key)
        if value is None or value[1] < at:
            return None
        return value[0]

    def set(self, key, value, expires_at):
        assert -(1 << 63) <= expires_at < 1 << 63, "lowering would trap"
        self.values[key] = (value, expires_at)


class BatchBuilder:
    """Builds a WIT batch: texts appended to one blob, as the host does."""

    def __init__(self):
        self.strings = bytearray()
        self.events = []
        self.attributes = []

    def text(self, s):
        if s is None:
            return None
        b = s.encode()
        span = t.Text(start=len(self.strings), len=len(b))
        self.strings += b
        return span

    def user(self, domain, name):
        return t.User(name=self.text(name), domain=self.text(domain), sid=None, logon_id=0)

    def launch(self, seq, image, parent, *, pid=0, ppid=0, cmd=None, pguid=None, host="WS01", user=("CORP", "alice")):
        process = t.Process(
            pid=pid,
            guid=None,
            image=self.text(image),
            cmd_line=self.text(cmd),
            hashes=None,
            integrity=t.Integrity.UNKNOWN,
            parent_pid=ppid,
            parent_guid=pguid,
            parent_image=self.text(parent),
            parent_cmd_line=None,
        )
        body = t.Body_Process(t.ProcessActivity(process=process, user=self.user(*user), target=None))
        self.event(seq, body, host)

    def network(self, seq, src_ip, dst_ip, dst_port, host="FW01"):
        ep = lambda ip, port: t.Endpoint(ip=ip, port=port, hostname=None)  # noqa: E731
        body = t.Body_Network(
            t.NetworkActivity(
                src=ep(src_ip, 0),
                dst=ep(dst_ip, dst_port),
                transport=t.Transport.TCP,
                protocol_num=6,
                direction=t.Direction.OUTBOUND,
                disposition=t.Disposition.ALLOWED,
                bytes_out=(1 << 64) - 1,
                bytes_in=0,
                packets_out=0,
                packets_in=0,
                duration_ms=0,
                state=None,
                process=None,
                user=None,
            )
        )
        self.event(seq, body, host)

    def event(self, seq, body, host):
        self.events.append(
            t.Event(
                seq=seq,
                time=1_000 + seq,
                activity=t.Activity.CREATE,
                outcome=t.Outcome.UNKNOWN,
                code=0,
                hostname=self.text(host),
                body=body,
            )
        )

    def attribute(self, key, value):
        self.attributes.append(t.Attribute(event=len(self.events) - 1, key=self.text(key), value=self.text(value)))

    def build(self):
        return t.Batch(strings=bytes(self.strings), events=self.events, attributes=self.attributes)


class EventTests(unittest.TestCase):
    def test_process_fields_decode_from_spans(self):
        b = BatchBuilder()
        b.launch(7, r"C:\Windows\System32\cmd.exe", r"C:\Office\WINWORD.EXE", pid=42, ppid=100, cmd="cmd /c whoami", pguid=t.Guid(hi=1, lo=2))
        b.attribute("source.channel", "Microsoft-Windows-Sysmon/Operational")
        b.launch(8, "notepad.exe", "explorer.exe", user=("", "bob"))
        batch = Batch(b.build())
        self.assertEqual(len(batch), 2)
        ev, ev2 = list(batch)
        self.assertEqual((ev.seq, ev.time), (7, 1_007))
        self.assertIs(ev.event_class, t.EventClass.PROCESS)
        self.assertEqual(ev.hostname, "WS01")
        self.assertEqual(ev.process_image, r"C:\Windows\System32\cmd.exe")
        self.assertEqual(ev.process_cmd_line, "cmd /c whoami")
        self.assertEqual(ev.parent_image, r"C:\Office\WINWORD.EXE")
        self.assertEqual(ev.parent_guid, "{00000000-0000-0001-0000-000000000002}")
        self.assertEqual(ev.process_label, "cmd.exe (pid 42)")
        self.assertEqual(ev.parent_label, "WINWORD.EXE (pid 100)")
        self.assertEqual(ev.qualified_user, "CORP\\alice")
        self.assertEqual(ev2.qualified_user, "bob")
        self.assertIsNone(ev2.process_pid, "0 reads as None")
        self.assertIsNone(ev.src_ip)
        self.assertEqual(ev.attribute("Source.Channel"), "Microsoft-Windows-Sysmon/Operational")
        self.assertIsNone(ev2.attribute("source.channel"), "attributes are per event")
        self.assertEqual(batch[1].seq, 8)

    def test_endpoints_and_64_bit_counters(self):
        b = BatchBuilder()
        b.network(1, t.IpAddress_V4(0x0A000005), t.IpAddress_V6((0xFE80 << 48, 1)), 445)
        ev = Batch(b.build())[0]
        self.assertIs(ev.event_class, t.EventClass.NETWORK)
        self.assertEqual(ev.src_ip, "10.0.0.5")
        self.assertIsNone(ev.src_port)
        self.assertEqual(ev.dst_ip, "fe80::1")
        self.assertEqual(ev.dst_port, 445)
        self.assertEqual(ev.body.bytes_out, (1 << 64) - 1, "u64 arrives exact")
        self.assertIsNone(ev.process, "a network event has no launched process")

    def test_formatting_helpers(self):
        self.assertIsNone(format_ip(None))
        self.assertEqual(format_guid(t.Guid(hi=0x5770385FC22A43E0, lo=0xBF4C06F5698FFBD9)), "{5770385F-C22A-43E0-BF4C-06F5698FFBD9}")
        self.assertEqual(clamp_s64(1 << 70), (1 << 63) - 1)
        self.assertEqual(clamp_s64(-(1 << 70)), -(1 << 63))


class MatcherTests(unittest.TestCase):
    def test_basename(self):
        self.assertEqual(basename(r"C:\Windows\System32\cmd.exe"), "cmd.exe")
        self.assertEqual(basename("/usr/bin/bash"), "bash")
        self.assertEqual(basename("cmd.exe"), "cmd.exe")
        self.assertEqual(basename("C:\\dir\\"), "")

    def test_name_set_ignores_case_and_takes_paths(self):
        s = NameSet(["cmd.exe", "PowerShell.exe"])
        self.assertTrue(s.contains_path(r"C:\Windows\System32\CMD.EXE"))
        self.assertTrue(s.contains("powershell.EXE"))
        self.assertFalse(s.contains_path(r"C:\Office\excel.exe.bak"))
        self.assertFalse(s.contains_path(None))
        s.extend([r"C:\x\MSBuild.exe"])
        self.assertIn("msbuild.exe", s)
        self.assertEqual(len(s), 3)

    def test_contains_any(self):
        enc = ContainsAny(["-enc", "DownloadString"])
        self.assertEqual(enc.match("powershell -w hidden -ENC AAAA"), "-enc")
        self.assertTrue(enc("IEX (New-Object Net.WebClient).downloadstring('x')"))
        self.assertFalse(enc("powershell -File x.ps1"))
        self.assertFalse(enc(None))
        self.assertTrue(yagura_sdk.contains_any("A B C", ["b"]))


class StateTests(unittest.TestCase):
    def setUp(self):
        self.state = FakeState()
        self.state.install()

    def test_windowed_counter(self):
        fails = WindowedCounter("fail:", seconds=10)
        self.assertEqual(fails.window_ms, 10_000)
        self.assertEqual([fails.add("10.0.0.5", at) for at in (0, 4_000, 9_000)], [1, 2, 3])
        self.assertEqual(fails.add("10.0.0.5", 12_000), 3, "the event at 0 fell out of the window")
        self.assertEqual(fails.sum("10.0.0.5", 12_000), 3)
        self.assertEqual(fails.add("10.0.0.6", 12_000), 1, "keys are separate")
        with self.assertRaises(ValueError):
            WindowedCounter("x:")

    def test_state_errors_become_readable_rule_errors(self):
        self.state.quota = 0
        with self.assertRaises(Err) as caught:
            WindowedCounter("fail:", minutes=1).add("a", 0)
        self.assertEqual(caught.exception.value, "state: quota-exceeded (counter `fail:a`)")

    def test_distinct_set(self):
        targets = DistinctSet("dst:", minutes=10)
        for host in ("a", "b", "a", "c"):
            n = targets.add("10.0.0.5", host, 1_000)
        self.assertEqual(n, 3)
        self.assertEqual(targets.items("10.0.0.5", 1_000, limit=2)[0], 3)

    def test_mark_once_expires(self):
        self.assertTrue(mark_once("fired:x", 1_000, 5_000))
        self.assertFalse(mark_once("fired:x", 3_000, 5_000))
        self.assertTrue(mark_once("fired:x", 7_000, 5_000), "expired at 6000")
        self.assertTrue(mark_once("fired:y", (1 << 63) - 10, 1 << 40), "the expiry is clamped to s64")


class FindingTests(unittest.TestCase):
    def test_builder(self):
        b = BatchBuilder()
        b.launch(7, "cmd.exe", "WINWORD.EXE", pid=42, ppid=100)
        ev = Batch(b.build())[0]
        f = (
            finding("WINWORD.EXE started cmd.exe")
            .severity(t.Severity.HIGH)
            .confidence(180)
            .technique("T1204.002", "T1059", "T1059")
            .event(ev)
            .host(ev.hostname)
            .user(None)
            .process(ev.parent_label, role="parent")
            .context("cmd_line", ev.process_cmd_line)
            .context("count", 3)
            .dedup_key("WS01|100")
            .build()
        )
        self.assertIsInstance(f, t.Finding)
        self.assertEqual(f.confidence, 100)
        self.assertEqual(f.techniques, ["T1204.002", "T1059"])
        self.assertEqual((f.evidence, f.time), ([7], 1_007))
        self.assertEqual(
            [(e.kind, e.value, e.role) for e in f.entities],
            [(t.EntityKind.HOST, "WS01", None), (t.EntityKind.PROCESS, "WINWORD.EXE (pid 100)", "parent")],
        )
        self.assertEqual(f.context, [("count", "3")], "None values are skipped")
        self.assertEqual(finding("x").build().dedup_key, "x")

    def test_bad_technique_id_is_an_err_naming_it(self):
        with self.assertRaises(Err) as caught:
            finding("x").technique("1059")
        self.assertIn("`1059` is not an ATT&CK technique id", caught.exception.value)


class ConfigTests(unittest.TestCase):
    PARAMS = Params().integer("threshold", "failures", 5).text_list("extra", "names").boolean("strict", "s", False)

    def test_defaults_and_overrides(self):
        cfg = Config([("threshold", t.Value_Integer(7))], self.PARAMS)
        self.assertEqual(cfg.integer("threshold", min=1), 7)
        self.assertEqual(cfg.text_list("extra"), [])
        self.assertFalse(cfg.boolean("strict"))
        self.assertEqual([p.name for p in self.PARAMS.wit()], ["threshold", "extra", "strict"])

    def test_errors_name_the_parameter(self):
        for config, message in [
            ([("threshold", t.Value_Integer(0))], "threshold: must be at least 1, got 0"),
            ([("threshold", t.Value_Text("5"))], "threshold: expected an integer, got a text"),
            ([("treshold", t.Value_Integer(5))], "treshold: unknown parameter (parameters: extra, strict, threshold)"),
        ]:
            with self.assertRaises(Err) as caught:
                Config(config, self.PARAMS).integer("threshold", min=1)
            self.assertEqual(caught.exception.value, message)


if __name__ == "__main__":
    unittest.main()
