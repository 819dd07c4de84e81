#!/usr/bin/env python3
"""Writes sample.ndjson: a small, deterministic day in a Windows network, in Yagura's
normalized-event JSON (docs/events.md), with three attacks the example rules catch:

1. WS01: a Word document starts an encoded PowerShell command (office-spawns-shell).
2. 10.0.0.66 scans 30 TCP ports of 10.0.0.10; most are refused (vertical-port-scan).
3. 10.0.0.66 fails to log on to DC01 as six different users (py-failed-logon-burst).

Everything else is background: ordinary process starts, allowed web flows, successful logons.
A second file, core.ndjson, is the same morning with the attacks the core pack
(rules/pack.toml: lateral-movement, emotet-macro-chain, scan-detection) is for:

1. WS01, 10:01: alice opens invoice.docm; the macro runs `cmd /c powershell -enc`, PowerShell
   downloads 885.dll into %TEMP%, rundll32 runs it and a Run key keeps it (emotet-macro-chain).
2. 10:05: from WS01 (10.0.1.11) alice's account logs on over the network to SRV01, SRV02 and
   FS01, and SRV01 installs the PSEXESVC service: fan-out and remote execution
   (lateral-movement).
3. 10:02: 10.0.0.66 probes 30 TCP ports of 10.0.0.10 in 15 s, most refused (scan-detection).
4. 10:03: 10.0.0.66 fails to log on to DC01 twelve times as six users: a password spray
   (lateral-movement).
Its background adds an administrator's encoded PowerShell with no Office involved.

Run `python3 examples/events/generate.py` to regenerate both files (beside this script).
"""
import os
import json

BASE = 1_714_557_600_000  # 2024-05-01T10:00:00Z
out = []


def ev(t, **fields):
    out.append({"time": BASE + t, **fields})


def proc(t, host, user, image, cmd, parent, parent_cmd, pid, ppid):
    ev(t, **{"class": "process", "activity": "create", "outcome": "success",
             "source": {"format": "sample", "code": 1, "channel": "Microsoft-Windows-Sysmon/Operational"},
             "device": {"hostname": host, "domain": "CORP"},
             "actor": {"user": {"name": user, "domain": "CORP"},
                       "process": {"pid": ppid, "image": parent, "cmd_line": parent_cmd}},
             "process": {"pid": pid, "image": image, "cmd_line": cmd, "parent_pid": ppid,
                         "parent_image": parent, "parent_cmd_line": parent_cmd, "integrity": "medium"}})


def flow(t, src, sport, dst, dport, disposition, direction="lateral", host=None):
    ev(t, **{"class": "network", "activity": "traffic",
             "source": {"format": "sample"},
             "device": {"hostname": host or "FW01"},
             "src": {"ip": src, "port": sport}, "dst": {"ip": dst, "port": dport},
             "network": {"transport": "tcp", "protocol_num": 6, "disposition": disposition,
                         "direction": direction}})


def logon(t, ok, user, src, host="DC01"):
    ev(t, **{"class": "authentication", "activity": "logon", "outcome": "success" if ok else "failure",
             "source": {"format": "sample", "code": 4624 if ok else 4625, "channel": "Security"},
             "device": {"hostname": host, "domain": "CORP"},
             "user": {"name": user, "domain": "CORP"},
             "src": {"ip": src, "port": 50000 + len(out)},
             "auth": {"logon_type": 3, "protocol": "ntlm",
                      **({} if ok else {"status_code": "0xc000006a"})}})


EXPLORER = r"C:\Windows\explorer.exe"
# background: people at work
for i, (host, user) in enumerate([("WS01", "alice"), ("WS02", "bob"), ("WS03", "carol")]):
    proc(1_000 + i, host, user, r"C:\Program Files\Google\Chrome\Application\chrome.exe",
         "chrome.exe", EXPLORER, "explorer.exe", 4100 + i, 3000 + i)
    proc(2_000 + i, host, user, r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
         r'"WINWORD.EXE" /n "C:\Users\%s\Documents\report.docx"' % user, EXPLORER, "explorer.exe", 5100 + i, 3000 + i)
    logon(3_000 + i, True, user, "10.0.1.%d" % (11 + i))
    for j in range(5):
        flow(4_000 + 10 * i + j, "10.0.1.%d" % (11 + i), 51000 + j, "93.184.216.34", 443, "allowed",
             direction="outbound")
# a benign admin shell, not started by Office
proc(6_000, "WS02", "bob", r"C:\Windows\System32\cmd.exe", "cmd.exe /c ipconfig /all", EXPLORER, "explorer.exe", 6200, 3001)
# attack 1: Word starts encoded PowerShell on WS01
proc(60_000, "WS01", "alice", r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
     "powershell.exe -nop -w hidden -enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQAIABOAGUAdAAuAFcAZQBiAEMAbABpAGUAbgB0ACkA",
     r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
     r'"WINWORD.EXE" /n "C:\Users\alice\Downloads\invoice.doc"', 7300, 5100)
# attack 2: vertical port scan, 30 ports in 15 s
for k, port in enumerate([21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995,
                          1433, 1723, 3306, 3389, 5900, 8080, 8443, 5985, 5986, 389, 636, 88, 464, 593, 3268]):
    flow(120_000 + 500 * k, "10.0.0.66", 40000 + k, "10.0.0.10", port,
         "established" if port in (53, 88, 135, 389, 445) else "rejected")
# attack 3: failed logons from the scanner host, six users in 10 s
for k, user in enumerate(["administrator", "admin", "alice", "bob", "svc_backup", "helpdesk"]):
    logon(200_000 + 2_000 * k, False, user, "10.0.0.66")



SYSMON = "Microsoft-Windows-Sysmon/Operational"


def guid(n):
    return "{5770385F-C22A-43E0-BF4C-%012d}" % n


def proc_tree(t, host, user, image, cmd, parent, parent_cmd, pid, ppid, g=None, pg=None):
    """A process start; with GUIDs (Sysmon 1) when given, as process-tree rules follow them."""
    proc(t, host, user, image, cmd, parent, parent_cmd, pid, ppid)
    e = out[-1]
    if g:
        e["process"]["guid"] = guid(g)
        e["process"]["start_time"] = BASE + t
    if pg:
        e["process"]["parent_guid"] = guid(pg)
        e["actor"]["process"]["guid"] = guid(pg)


def by_process(host, user, pid, image, g):
    return {"device": {"hostname": host, "domain": "CORP"},
            "actor": {"user": {"name": user, "domain": "CORP"},
                      "process": {"pid": pid, "image": image, "guid": guid(g)}}}


def write(name, events):
    events.sort(key=lambda e: e["time"])
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), name)
    with open(path, "w") as f:
        for e in events:
            f.write(json.dumps(e, separators=(",", ":")) + "\n")


write("sample.ndjson", out)

# core.ndjson: the same people, the core pack's attacks
out = []
EXPLORER = r"C:\Windows\explorer.exe"
WORD = r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE"
CMD = r"C:\Windows\System32\cmd.exe"
POWERSHELL = r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"
RUNDLL32 = r"C:\Windows\SysWOW64\rundll32.exe"
ENC = "JABjAGwAaQBlAG4AdAAgAD0AIABOAGUAdwAtAE8AYgBqAGUAYwB0ACAATgBlAHQALgBXAGUAYgBDAGwAaQBlAG4AdAA7AA=="

# background: people at work
for i, (host, user) in enumerate([("WS01", "alice"), ("WS02", "bob"), ("WS03", "carol")]):
    proc_tree(1_000 + i, host, user, r"C:\Program Files\Google\Chrome\Application\chrome.exe",
         "chrome.exe", EXPLORER, "explorer.exe", 4100 + i, 3000 + i)
    logon(3_000 + i, True, user, "10.0.1.%d" % (11 + i))
    for j in range(5):
        flow(4_000 + 10 * i + j, "10.0.1.%d" % (11 + i), 51000 + j, "93.184.216.34", 443, "allowed",
             direction="outbound")
# bob and carol edit reports; Word starts nothing
for i, (host, user) in enumerate([("WS02", "bob"), ("WS03", "carol")]):
    proc_tree(2_000 + i, host, user, WORD, r'"WINWORD.EXE" /n "C:\Users\%s\Documents\report.docx"' % user,
         EXPLORER, "explorer.exe", 5101 + i, 3001 + i)
# an administrator's encoded PowerShell on SRV02, no Office involved (not an attack)
proc_tree(6_000, "SRV02", "admin", POWERSHELL, "powershell.exe -NoProfile -EncodedCommand RwBlAHQALQBTAGUAcgB2AGkAYwBlAA==",
     EXPLORER, "explorer.exe", 6200, 3100)

# attack 1: the Emotet macro chain on WS01
INVOICE = r'"WINWORD.EXE" /n "C:\Users\alice\Downloads\invoice.docm"'
proc_tree(60_000, "WS01", "alice", WORD, INVOICE, EXPLORER, "explorer.exe", 5100, 3000, g=11, pg=10)
proc_tree(62_000, "WS01", "alice", CMD, "cmd /c powershell -w hidden -enc " + ENC, WORD, INVOICE, 7200, 5100, g=21, pg=11)
proc_tree(62_500, "WS01", "alice", POWERSHELL, "powershell -w hidden -enc " + ENC, CMD,
     "cmd /c powershell -w hidden -enc " + ENC, 7300, 7200, g=22, pg=21)
ev(63_000, **{"class": "network", "activity": "traffic", "source": {"format": "sample", "code": 3, "channel": SYSMON},
              **by_process("WS01", "alice", 7300, POWERSHELL, 22),
              "src": {"ip": "10.0.1.11", "port": 49812}, "dst": {"ip": "203.0.113.45", "port": 80},
              "network": {"transport": "tcp", "direction": "outbound", "disposition": "established"}})
DLL = r"C:\Users\alice\AppData\Local\Temp\885.dll"
ev(65_000, **{"class": "file", "activity": "create", "source": {"format": "sample", "code": 11, "channel": SYSMON},
              **by_process("WS01", "alice", 7300, POWERSHELL, 22), "file": {"path": DLL}})
proc_tree(67_000, "WS01", "alice", RUNDLL32, '%s "%s",Control_RunDLL' % (RUNDLL32, DLL), POWERSHELL,
     "powershell -w hidden -enc " + ENC, 7400, 7300, g=23, pg=22)
ev(70_000, **{"class": "registry", "activity": "modify", "source": {"format": "sample", "code": 13, "channel": SYSMON},
              **by_process("WS01", "alice", 7400, RUNDLL32, 23),
              "registry": {"key": r"HKU\S-1-5-21-1004336348-1177238915-682003330-1104\Software\Microsoft\Windows\CurrentVersion\Run\Kx3",
                           "value_name": "Kx3", "value_data": '%s "%s",Control_RunDLL' % (RUNDLL32, DLL)}})

# attack 2: lateral movement with alice's account from WS01
for k, host in enumerate(["SRV01", "SRV02", "FS01"]):
    logon(300_000 + 20_000 * k, True, "alice", "10.0.1.11", host=host)
ev(302_000, **{"class": "job", "activity": "create", "outcome": "success",
               "source": {"format": "sample", "code": 7045, "channel": "System"},
               "device": {"hostname": "SRV01", "domain": "CORP"},
               "actor": {"user": {"name": "alice", "domain": "CORP"}},
               "job": {"kind": "service", "name": "PSEXESVC", "command": r"%SystemRoot%\PSEXESVC.exe"}})

# attack 3: vertical port scan, 30 ports in 15 s
for k, port in enumerate([21, 22, 23, 25, 53, 80, 110, 111, 135, 139, 143, 443, 445, 993, 995,
                          1433, 1723, 3306, 3389, 5900, 8080, 8443, 5985, 5986, 389, 636, 88, 464, 593, 3268]):
    flow(120_000 + 500 * k, "10.0.0.66", 40000 + k, "10.0.0.10", port,
         "established" if port in (53, 88, 135, 389, 445) else "rejected")
# attack 4: password spray from the scanner host, six users twice in 30 s
for k, user in enumerate(["administrator", "admin", "alice", "bob", "svc_backup", "helpdesk"] * 2):
    logon(200_000 + 2_500 * k, False, user, "10.0.0.66")

write("core.ndjson", out)
