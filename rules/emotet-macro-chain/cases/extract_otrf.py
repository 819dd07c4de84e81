#!/usr/bin/env python3
"""Writes otrf-empire-wmi.jsonl, a real WMI-launched Empire stager, and
otrf-empire-wmi-after-word.jsonl, the same preceded by a synthetic Word launch, for two cases.

Source of the real lines: OTRF Security-Datasets (Mordor), MIT licence, capture
`empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod_2020-09-21001437` (../shared/data/otrf/). Kept
verbatim (NXLog flat JSON): the Sysmon 1 of WmiPrvSE.exe starting `powershell -noP -sta -w 1
-enc …` on WORKSTATION6, its two Sysmon 11 `__PSScriptPolicyTest_*` writes, its Sysmon 3
connection to 10.10.10.5:80 and its Sysmon 1 `whoami` child.

The first line is NOT from the capture: a Sysmon 1 of WINWORD.EXE opening a .docm on the same
host 33 s earlier, written in the same NXLog shape (built from the powershell line, with the
fields of a Word launch). It turns the remote-WMI execution into the WMI broken-link variant of
a macro chain; without it the capture must stay quiet (it does: no Office runs there).

Run: python3 rules/emotet-macro-chain/cases/extract_otrf.py (needs ../shared/data).
"""

import gzip
import json
import pathlib

HERE = pathlib.Path(__file__).resolve().parent
SRC = HERE.parents[2] / ".." / "shared" / "data" / "otrf" / (
    "empire_wmi_dcerpc_wmi_IWbemServices_ExecMethod_2020-09-21001437.json.gz"
)
OUT = HERE / "otrf-empire-wmi-after-word.jsonl"
ALONE = HERE / "otrf-empire-wmi.jsonl"
STAGER = "{d273d0f0-28bd-5f68-af08-000000000800}"


def main():
    kept = []
    with gzip.open(SRC, "rt", encoding="utf-8") as f:
        for line in f:
            e = json.loads(line)
            if e.get("Channel") != "Microsoft-Windows-Sysmon/Operational":
                continue
            eid = e.get("EventID")
            mine = e.get("ProcessGuid") == STAGER
            child = e.get("ParentProcessGuid") == STAGER and eid == 1 and "whoami" in e.get("Image", "")
            if (mine and eid in (1, 3, 11)) or child:
                kept.append(line.rstrip("\n"))
    stager = json.loads(kept[0])
    word = dict(stager)
    word.update(
        {
            "EventTime": "2020-09-21 00:14:20",
            "EventReceivedTime": "2020-09-21 00:14:22",
            "@timestamp": "2020-09-21T04:14:22.000Z",
            "RecordNumber": 1,
            "ProcessGuid": "{d273d0f0-28a4-5f68-ad08-000000000800}",
            "Image": r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
            "CommandLine": r'"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE" /n "C:\Users\pgustavo\Downloads\Invoice_0921.docm" /o ""',
            "CurrentDirectory": "C:\\Users\\pgustavo\\Documents\\",
            "Description": "Microsoft Word",
            "Product": "Microsoft Office",
            "OriginalFileName": "WinWord.exe",
            "IntegrityLevel": "Medium",
            "Hashes": "SHA256=0000000000000000000000000000000000000000000000000000000000000000",
            "ParentProcessGuid": "{d273d0f0-2800-5f68-0a00-000000000800}",
            "ParentProcessId": 4312,
            "ParentImage": r"C:\Windows\explorer.exe",
            "ParentCommandLine": r"C:\Windows\Explorer.EXE",
            "Message": "Process Create: (synthetic Word launch, not from the OTRF capture)",
        }
    )
    lines = [json.dumps(word, separators=(",", ":"))] + kept
    OUT.write_text("\n".join(lines) + "\n")
    ALONE.write_text("\n".join(kept) + "\n")
    print(f"{len(lines)} lines written to {OUT}, {len(kept)} to {ALONE}")


if __name__ == "__main__":
    main()
