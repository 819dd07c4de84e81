#!/usr/bin/env python3
"""Writes the event files of rules/scan-detection/cases.toml.

Run from anywhere: python3 rules/scan-detection/cases/generate.py
Every file is normalized NDJSON (docs/events.md) except the Zeek TSV logs. The connections
are written from documented scanner behaviour, not copied from captures:
- nmap -sS: a SYN per port; closed ports answer RST (Zeek REJ), filtered ones nothing (S0),
  open ones SYN-ACK, which nmap tears down with a RST (RSTO, history ShR).
- masscan: the same half-open probes at a fixed rate, in random port order.
- a host sweep: one port (or ICMP echo) on each address of a range; absent hosts do not
  answer (S0 / no_answer).
"""
import gzip
import io
import ipaddress
import json
import os
import random

HERE = os.path.dirname(os.path.abspath(__file__))
T0 = 1714557600000  # 2024-05-01T10:00:00Z


def event(ms, src, dst, dport=None, disposition=None, transport="tcp", sport=40000,
          state=None, extra=None):
    e = {"time": T0 + ms, "class": "network", "activity": "traffic",
         "src": {"ip": src, "port": sport}, "dst": {"ip": dst}}
    if dport is not None:
        e["dst"]["port"] = dport
    net = {"transport": transport}
    if disposition:
        net["disposition"] = disposition
    if state:
        net["state"] = state
    e["network"] = net
    if extra:
        e.update(extra)
    return json.dumps(e, separators=(",", ":"))


def write(name, lines):
    with open(os.path.join(HERE, name), "w", encoding="utf-8") as f:
        f.write("\n".join(lines) + "\n")


# 1000 well-known-ish ports, in a fixed shuffled order
rng = random.Random(4)
PORTS = list(range(1, 1001))
rng.shuffle(PORTS)


def vertical(n, disposition, step_ms=100, src="10.0.0.5", dst="10.0.0.9", state=None):
    return [event(i * step_ms, src, dst, PORTS[i], disposition, sport=40000 + i, state=state)
            for i in range(n)]


write("vertical-rejected-10.ndjson", vertical(10, "rejected", state="REJ"))
write("vertical-rejected-9.ndjson", vertical(9, "rejected", state="REJ"))
write("vertical-allowed-20.ndjson", vertical(20, "allowed"))
write("vertical-allowed-19.ndjson", vertical(19, "allowed"))
write("vertical-rejected-slow.ndjson", vertical(20, "rejected", step_ms=10_000, state="REJ"))
write("vertical-allowlisted.ndjson", vertical(100, "rejected", src="10.0.5.7", state="REJ"))
write("masscan-1000-ports.ndjson",
      vertical(1000, "no_answer", step_ms=10, src="192.0.2.66", dst="10.0.0.20", state="S0"))
# a scan that goes on for 150 s, one refused port a second
write("vertical-sustained.ndjson", vertical(150, "rejected", step_ms=1_000, state="REJ"))

# established-only traffic to many ports of one server
write("ftp-passive-39-ports.ndjson", [
    event(i * 1_500, "10.0.1.20", "10.0.2.30", 50000 + i * 7, "established", sport=41000 + i,
          state="SF") for i in range(39)])
write("health-checks-25-ports.ndjson", [
    event(r * 5_000 + i * 10, "10.0.9.2", "10.0.2.40", 8000 + i, "established",
          sport=30000 + r * 25 + i, state="SF")
    for r in range(12) for i in range(25)])


def sweep(n, disposition, step_ms=100, src="10.0.0.5", net="10.0.3.0", dport=445,
          transport="tcp", state=None):
    base = ipaddress.ip_address(net)
    return [event(i * step_ms, src, str(base + 1 + i), dport, disposition, transport=transport,
                  sport=40000 + i, state=state) for i in range(n)]


write("sweep-no-answer-15.ndjson", sweep(15, "no_answer", state="S0"))
write("sweep-no-answer-14.ndjson", sweep(14, "no_answer", state="S0"))
write("sweep-allowed-30.ndjson", sweep(30, "allowed"))
write("sweep-allowed-29.ndjson", sweep(29, "allowed"))
write("sweep-no-answer-slow.ndjson", sweep(30, "no_answer", step_ms=5_000, state="S0"))
write("ping-sweep.ndjson", [
    event(i * 50, "10.0.0.5", f"10.0.4.{i + 1}", None, "no_answer", transport="icmp",
          sport=0, state="OTH") for i in range(20)])
write("ipv6-vertical.ndjson",
      vertical(12, "rejected", src="2001:db8::5", dst="2001:db8::9", state="REJ"))
write("ipv6-sweep.ndjson",
      sweep(16, "no_answer", src="2001:db8::5", net="2001:db8:1::", dport=22, state="S0"))

# a management server (Sysmon 3: TCP connections are logged once made) reaching 50 hosts
write("management-server-50-hosts.ndjson", [
    event(i * 1_000, "10.0.0.2", f"10.0.6.{i + 1}", 445, "established", sport=50000 + i,
          extra={"source": {"format": "evtx", "code": 3}, "device": {"hostname": "SCCM01"}})
    for i in range(50)])
# a DNS resolver asking 40 authoritative servers (Sysmon 3 UDP: no disposition)
write("dns-resolver-40-servers.ndjson", [
    event(i * 1_000, "10.0.0.53", str(ipaddress.ip_address("198.51.100.1") + i), 53, None,
          transport="udp", sport=53000 + i,
          extra={"source": {"format": "evtx", "code": 3}, "device": {"hostname": "DNS01"}})
    for i in range(40)])

# SSH brute force: 61 connections to port 22 of one host
write("ssh-bruteforce.ndjson", [
    event(i * 900, "10.0.0.5", "10.0.0.9", 22, "established", sport=50000 + i, state="SF")
    for i in range(61)])

# a source that sweeps 20 hosts on 445 and then scans one host's ports
both = sweep(20, "no_answer", state="S0")
both += [event(3_000 + i * 100, "10.0.0.5", "10.0.3.100", PORTS[i], "rejected",
               sport=41000 + i, state="REJ") for i in range(25)]
write("sweep-and-vertical.ndjson", both)

# two scanners at once: two alerts
two = sweep(15, "no_answer", state="S0") + sweep(15, "no_answer", src="10.0.0.6",
                                                 net="10.0.7.0", state="S0")
two.sort(key=lambda line: json.loads(line)["time"])
write("two-sweepers.ndjson", two)

# a huge sweep: one source, 40,000 addresses of 10.64.0.0/16 on port 445 in 40 s, four times
# the 10,000 items the host keeps per distinct set: the rule must report with bounded state.
# (Kept at 40,000 so that every rule's cases still run quickly in a debug build.)
base = ipaddress.ip_address("10.64.0.0")
# mtime=0: the same bytes on every run
with open(os.path.join(HERE, "huge-sweep.ndjson.gz"), "wb") as raw, \
        gzip.GzipFile(fileobj=raw, mode="wb", compresslevel=9, mtime=0) as gz, \
        io.TextIOWrapper(gz, encoding="utf-8") as f:
    for i in range(40_000):
        f.write(event(i, "10.0.0.66", str(base + 1 + i), 445, "no_answer",
                      sport=40000 + i % 20000, state="S0") + "\n")

# Zeek TSV: an nmap -sS of 10 ports, 8 closed (REJ) and 2 open (RSTO, history ShR)
ZEEK_HEADER = [
    "#separator \\x09", "#set_separator\t,", "#empty_field\t(empty)", "#unset_field\t-",
    "#path\tconn", "#open\t2024-05-01-10-00-00",
    "#fields\tts\tuid\tid.orig_h\tid.orig_p\tid.resp_h\tid.resp_p\tproto\tservice\tduration"
    "\torig_bytes\tresp_bytes\tconn_state\tlocal_orig\tlocal_resp\tmissed_bytes\thistory"
    "\torig_pkts\torig_ip_bytes\tresp_pkts\tresp_ip_bytes\ttunnel_parents",
    "#types\ttime\tstring\taddr\tport\taddr\tport\tenum\tstring\tinterval\tcount\tcount"
    "\tstring\tbool\tbool\tcount\tstring\tcount\tcount\tcount\tcount\tset[string]",
]


def zeek(rows, open_state, open_history):
    lines = list(ZEEK_HEADER)
    for i, port in enumerate(rows):
        ts = f"{(T0 + i * 10) // 1000}.{(T0 + i * 10) % 1000:03d}000"
        if i < 8:
            state, hist, ob, rb, op, rp = "REJ", "Sr", 0, 0, 1, 1
        else:
            state, hist = open_state, open_history
            ob, rb = (0, 0) if "D" not in hist else (120, 2400)
            op, rp = (2, 1) if "D" not in hist else (8, 7)
        lines.append("\t".join(map(str, [
            ts, f"C{i:04d}zz", "10.0.0.5", 62379, "10.0.0.9", port, "tcp", "-", "0.000100",
            ob, rb, state, "T", "T", 0, hist, op, op * 44, rp, rp * 40, "-"])))
    lines.append("#close\t2024-05-01-10-00-01")
    return lines


TEN = [21, 22, 23, 25, 53, 80, 110, 135, 139, 443]
write("zeek-syn-scan.conn.log", zeek(TEN, "RSTO", "ShR"))
write("zeek-refused-and-aborted-sessions.conn.log", zeek(TEN, "RSTO", "ShADadR"))
