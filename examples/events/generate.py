#!/usr/bin/env python3
"""Writes sample.ndjson: a small, deterministic day in a Windows network, in Yagura's
normalized-event JSON (docs/events.md), with three attacks the example rules catch:

1. WS01: a Word document starts an encoded PowerShell command (office-spawns-shell).
2. 10.0.0.66 scans 30 TCP ports of 10.0.0.10; most are refused (vertical-port-scan).
3. 10.0.0.66 fails to log on to DC01 as six different users (py-failed-logon-burst).

Everything else is background: ordinary process starts, allowed web flows, successful logons.
Run `python3 examples/events/generate.py > examples/events/sample.ndjson` to regenerate.
"""
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

out.sort(key=lambda e: e["time"])
for e in out:
    print(json.dumps(e, separators=(",", ":")))
