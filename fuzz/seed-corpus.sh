#!/usr/bin/env bash
# Seeds fuzz/corpus/<target>/ from the committed samples (tests/data, examples/events).
# The corpora are not committed (fuzz/.gitignore); run this before the first `cargo fuzz run`.
# Line formats get one seed per sample file, prefixed with the byte that picks the format in
# fuzz_targets/line_formats.rs (0 ndjson, 1 ocsf, 2 winevent-json, 3 ecs, 4 zeek-conn, 5 syslog).
set -euo pipefail
cd "$(dirname "$0")"
root=..
data=$root/tests/data
corpus=corpus
mkdir -p "$corpus"/{normalized,line_formats,evtx,detect}

# normalized: one event per seed (parse_event reads one JSON object)
n=0
while IFS= read -r line; do
    [ -n "$line" ] || continue
    printf '%s' "$line" >"$corpus/normalized/sample-$n.json"
    n=$((n + 1))
done < <(cat "$root/examples/events/sample.ndjson" "$data/ocsf/bad.ndjson")

# the first 8 lines of the gzipped Windows JSON sample (the whole is 550 KB)
winjson=$(mktemp)
trap 'rm -f "$winjson"' EXIT
zcat "$data/windows/otrf_empire_psexec_lines_1150-1449.json.gz" | head -n 8 >"$winjson" || true

seed() { # seed FORMAT_BYTE NAME FILE: the byte, then the file's first 40 lines
    { printf "\\x$(printf %02x "$1")"; head -n 40 "$3"; } >"$corpus/line_formats/$2"
}
seed 0 ndjson-sample "$root/examples/events/sample.ndjson"
seed 0 ndjson-bad "$data/ocsf/bad.ndjson"
seed 1 ocsf-classes "$data/ocsf/classes.ndjson"
seed 1 ocsf-bad "$data/ocsf/bad.ndjson"
seed 2 winjson-otrf "$winjson"
seed 3 ecs-winlogbeat "$data/ecs/winlogbeat.ndjson"
seed 4 zeek-two-blocks "$data/network/conn-two-blocks.log"
seed 4 zeek-underscored "$data/network/conn-underscored.json"
seed 5 syslog-cef "$data/network/cef.log"
seed 5 syslog-netfilter "$data/network/netfilter.log"

# evtx: the two small logs (one 64 KiB chunk each) and the first chunk of the large one
cp "$data/evtx/powershell_payload_download_no_office.evtx" "$corpus/evtx/"
cp "$data/evtx/sysmon_psexec_as_system.evtx" "$corpus/evtx/"
head -c 69632 "$data/evtx/system_7045_mass_service_install_tchopper.evtx" \
    >"$corpus/evtx/system_7045_first_chunk.evtx"

# detect: every sample as it is on disk (after gzip), whatever its format
cp "$root/examples/events/sample.ndjson" "$data"/ocsf/*.ndjson "$data"/ecs/*.ndjson \
    "$data"/network/* "$corpus/detect/"
cp "$winjson" "$corpus/detect/winjson-otrf.json"
cp "$data/evtx/sysmon_psexec_as_system.evtx" "$corpus/detect/"

for t in normalized line_formats evtx detect; do
    echo "$t: $(ls "$corpus/$t" | wc -l) seeds, $(du -sh "$corpus/$t" | cut -f1)"
done
