#!/bin/bash
# Peak memory of `yagura serve` while 16 clients post the same gzip body at once (31 MiB of
# NDJSON in ~240 KB), once per --ingest-decoders value given; docs/performance.md, "Ingest
# memory". Needs a release build (cargo build --release -p yagura), curl and python3.
#   scripts/ingest-memory.sh 16 2
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${YAGURA_BIN:-$root/target/release/yagura}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
python3 - "$root/examples/events/sample.ndjson" "$work/body.gz" <<'PY'
import gzip, sys
lines = open(sys.argv[1]).read().splitlines()
out, size, i = [], 0, 0
while size < 31 * 1024 * 1024:
    line = lines[i % len(lines)]
    out.append(line); size += len(line) + 1; i += 1
open(sys.argv[2], "wb").write(gzip.compress(("\n".join(out) + "\n").encode(), 9))
PY
port=18180
for decoders in "${@:-16 2}"; do
  port=$((port + 1))
  store="$work/store-$decoders"
  "$bin" serve --store "$store" --listen "127.0.0.1:$port" --ingest-decoders "$decoders" \
    --ingest-in-flight 64 --max-events-mib 64 >"$work/out" 2>"$work/err" &
  pid=$!
  for _ in $(seq 1 300); do grep -q "admin token" "$work/out" 2>/dev/null && break; sleep 0.1; done
  token=$(grep "admin token" "$work/out" | awk '{print $NF}')
  idle=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
  codes=()
  for _ in $(seq 1 16); do
    curl -s -o /dev/null -w "%{http_code}\n" -H "Authorization: Bearer $token" \
      --data-binary @"$work/body.gz" "http://127.0.0.1:$port/v1/events" >>"$work/codes-$decoders" &
    codes+=($!)
  done
  wait "${codes[@]}"
  peak=$(awk '/VmHWM/ {print int($2 / 1024)}' "/proc/$pid/status")
  accepted=$(grep -c 200 "$work/codes-$decoders" || true)
  # after the load: the engine has evaluated every event taken (its queue is empty), then
  # five quiet seconds
  for _ in $(seq 1 600); do
    curl -s -H "Authorization: Bearer $token" "http://127.0.0.1:$port/metrics" |
      grep -q 'yagura_engine_queue_events{tenant="default"} 0' && break
    sleep 0.5
  done
  sleep 5
  after=$(awk '/VmRSS/ {print int($2 / 1024)}' "/proc/$pid/status")
  echo "ingest-decoders $decoders: peak RSS ${peak} MiB, ${accepted}/16 accepted (the rest 429), RSS ${idle} MiB idle before, ${after} MiB once drained"
  kill "$pid"; wait "$pid" 2>/dev/null || true
done
