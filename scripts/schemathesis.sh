#!/usr/bin/env bash
# Property-based API tests of a real `yagura serve` against its own OpenAPI document (issue 15,
# item 4): schemathesis with every check (5xx, response schema, status codes, content types,
# headers, schema-valid data refused / schema-invalid data accepted, auth, 405s, links), in a
# bounded time. Exits non-zero on any failure; the last line is a one-line summary.
#   scripts/schemathesis.sh                      # target/debug/yagura (built by `cargo xtask test`)
#   YAGURA_BIN=target/release/yagura SCHEMATHESIS_MAX_TIME=60 scripts/schemathesis.sh
# Settings (environment): YAGURA_BIN; SCHEMATHESIS_MAX_TIME (s, default 150: the whole run, which
# repeats fuzzing and stateful testing until it is spent); SCHEMATHESIS_MAX_EXAMPLES (per
# operation and round, default 40); SCHEMATHESIS_SEED (default: a fresh one, printed for replay);
# SCHEMATHESIS_REPORT_DIR (write reports there: SCHEMATHESIS_REPORT, default junit; ndjson
# holds every request, ~100 MB for 8 minutes).
# Needs python3 (pip installs the pinned schemathesis if it is missing) and curl.
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
bin=${YAGURA_BIN:-$root/target/debug/yagura}
max_time=${SCHEMATHESIS_MAX_TIME:-150}
max_examples=${SCHEMATHESIS_MAX_EXAMPLES:-40}
st_version=4.32.5
started=$(date +%s)

[ -x "$bin" ] || { echo "schemathesis.sh: no yagura binary at $bin (set YAGURA_BIN)" >&2; exit 2; }
if [ "$(python3 -c 'import importlib.metadata as m; print(m.version("schemathesis"))' 2>/dev/null)" != "$st_version" ]; then
  PIP_ROOT_USER_ACTION=ignore python3 -m pip install --quiet --disable-pip-version-check \
    "schemathesis==$st_version"
fi

work=$(mktemp -d)
pid=
cleanup() {
  if [ -n "$pid" ]; then kill "$pid" 2>/dev/null || true; wait "$pid" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

port=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
base="http://127.0.0.1:$port"
# --allow-unsigned: the seed pack below is built unsigned. --follow-registries: follows may be
# made (POST /v1/follows) of a registry on a loopback port nothing listens on (9, discard), so
# their checks run and fail with a registry error, and the server never connects elsewhere
"$bin" serve --store "$work/store" --listen "127.0.0.1:$port" --allow-unsigned --log warn \
  --follow-registries 127.0.0.1:9 >"$work/stdout" 2>"$work/stderr" &
pid=$!
for _ in $(seq 1 600); do
  grep -q "admin token" "$work/stdout" 2>/dev/null && curl -sf "$base/healthz" >/dev/null && break
  kill -0 "$pid" 2>/dev/null || { cat "$work/stderr" >&2; echo "schemathesis.sh: yagura serve exited" >&2; exit 2; }
  sleep 0.1
done
token=$(grep "admin token" "$work/stdout" | awk '{print $NF}')
curl -sf "$base/healthz" >/dev/null || { echo "schemathesis.sh: yagura serve did not come up" >&2; exit 2; }
# ygr_<id>_<secret>
admin_id=$(echo "$token" | cut -d_ -f2)
api() { curl -sf -H "Authorization: Bearer $token" "$@"; }

# Data for the operations that need something to exist: a second tenant, a trusted key, the core
# pack (its rule components are built by `cargo xtask test`) active on `default`, and the alerts
# of examples/events/core.ndjson. Without them most path parameters only ever meet 404s.
api -X POST "$base/v1/tenants" -d '{"name":"acme"}' >/dev/null
"$bin" key generate "$work/publisher" >/dev/null 2>&1
pubkey=$(tr -d '\n' <"$work/publisher.pub")
key_id=$(api -X POST "$base/v1/keys" -d "{\"public_key\":\"$pubkey\"}" |
  python3 -c 'import json, sys; print(json.load(sys.stdin)["id"])')
packs=() pack_names=() rules=() alerts=()
if (cd "$root" && "$bin" pack build rules/pack.toml --no-test --out "$work/core.ypack") >"$work/build.log" 2>&1; then
  api -X POST "$base/v1/packs" --data-binary @"$work/core.ypack" >/dev/null
  api -X POST "$base/v1/packs/yagura-core/activate" -d '{"version":"0.1.0","reason":"seed"}' >/dev/null
  api -X POST "$base/v1/events" --data-binary @"$root/examples/events/core.ndjson" >/dev/null
  packs=(yagura-core@0.1.0) pack_names=(yagura-core)
  rules=(lateral-movement emotet-macro-chain scan-detection)
  for _ in $(seq 1 100); do  # the engine evaluates a quiet queue after --flush-ms (1 s)
    mapfile -t alerts < <(api "$base/v1/alerts?limit=20" |
      python3 -c 'import json, sys; [print(a["id"]) for a in json.load(sys.stdin)["alerts"]]')
    [ "${#alerts[@]}" -gt 0 ] && break
    sleep 0.1
  done
else
  echo "schemathesis.sh: no seed pack (rule components not built?): $(tail -1 "$work/build.log")" >&2
  echo "schemathesis.sh: carrying on without packs, rules and alerts" >&2
fi
toml_list() { python3 -c 'import json, sys; print(json.dumps(sys.argv[1:]))' "$@"; }

# The admin token must outlive the run: `DELETE /v1/tokens/{id}` with its id (fuzzing reuses
# values from earlier responses, and `GET /v1/tokens` lists it) would turn every later answer
# into a 401. This hook swaps that one id for an unknown one; nothing else is touched.
cat >"$work/hooks.py" <<PY
import schemathesis

@schemathesis.hook
def before_call(context, case, kwargs):
    if case.method.upper() == "DELETE" and case.path == "/v1/tokens/{id}":
        if str((case.path_parameters or {}).get("id", "")).strip() == "$admin_id":
            case.path_parameters["id"] = "0000000000000000"
PY

# Realistic values, drawn for about half of the cases (the rest are generated), so requests get
# past the 404s into each operation's logic. Nothing is excluded:
# - GET /v1/alerts/stream never ends by itself: schemathesis reads an event stream until
#   max-stream-events events or the request timeout, so 1 s there keeps each call short.
cat >"$work/schemathesis.toml" <<TOML
[cache]
enabled = false

# A schema-valid request may still be refused with 422 when what it carries is checked past what
# a schema can say: a bundle's content and signature, a rule's parameter names and its init, an
# ed25519 point. 422 is this API's code for exactly that (docs/api.md, Errors); 400 stays a
# failure: the document must describe what the server refuses as malformed.
[checks.positive_data_acceptance]
expected-statuses = ["2xx", "3xx", 401, 403, 404, 409, 422, 429, "5xx"]

[dictionaries.tenants]
values = $(toml_list default acme)
[dictionaries.keys]
values = $(toml_list "$key_id")
[dictionaries.public-keys]
values = $(toml_list "$pubkey")
[dictionaries.repositories]
values = $(toml_list oci://127.0.0.1:9/acme/yagura-core oci://127.0.0.1:9/acme/other)
[dictionaries.requirements]
values = $(toml_list "^0.1" ">=1.2, <2")
[dictionaries.versions]
values = $(toml_list 0.1.0 "^0.1")
$([ "${#packs[@]}" -gt 0 ] && cat <<MORE
[dictionaries.packs]
values = $(toml_list "${packs[@]}")
[dictionaries.pack-names]
values = $(toml_list "${pack_names[@]}")
[dictionaries.rules]
values = $(toml_list "${rules[@]}")
MORE
)
$([ "${#alerts[@]}" -gt 0 ] && cat <<MORE
[dictionaries.alerts]
values = $(toml_list "${alerts[@]}")
MORE
)

[parameters]
"query.tenant" = { dictionary = "tenants", probability = 0.5 }
"body.tenant" = { dictionary = "tenants", probability = 0.5 }
"body.version" = { dictionary = "versions", probability = 0.5 }
"body.public_key" = { dictionary = "public-keys", probability = 0.5 }
"body.repository" = { dictionary = "repositories", probability = 0.5 }
"body.req" = { dictionary = "requirements", probability = 0.5 }

[[operations]]
include-name = "DELETE /v1/keys/{id}"
parameters = { "path.id" = { dictionary = "keys", probability = 0.5 } }

[[operations]]
include-name = "GET /v1/alerts/stream"
request-timeout = 1
max-stream-events = 1
$([ "${#packs[@]}" -gt 0 ] && cat <<MORE

[[operations]]
include-path = "/v1/packs/{pack}"
parameters = { "path.pack" = { dictionary = "packs", probability = 0.5 } }

[[operations]]
include-path = $(toml_list /v1/packs/{name}/activate /v1/packs/{name}/rollback /v1/packs/{name}/history)
parameters = { "path.name" = { dictionary = "pack-names", probability = 0.5 } }

[[operations]]
include-path = $(toml_list /v1/rules/{id}/config /v1/rules/{id}/enable /v1/rules/{id}/enabled)
parameters = { "path.id" = { dictionary = "rules", probability = 0.5 } }
MORE
)
$([ "${#alerts[@]}" -gt 0 ] && cat <<MORE

[[operations]]
include-name = "GET /v1/alerts/{id}"
parameters = { "path.id" = { dictionary = "alerts", probability = 0.5 } }
MORE
)
TOML

extra=()
[ -n "${SCHEMATHESIS_SEED:-}" ] && extra+=(--seed "$SCHEMATHESIS_SEED")
[ -n "${SCHEMATHESIS_REPORT_DIR:-}" ] &&
  extra+=(--report "${SCHEMATHESIS_REPORT:-junit}" --report-dir "$(realpath -m "$SCHEMATHESIS_REPORT_DIR")")
set +e
# --checks all: every check but max_response_time (a timing check, only on when given a limit)
# One worker: the server needs the other core, and on Python 3.11 two workers can trip a
# CPython bug in hypothesis's lambda descriptions ("AST constructor recursion depth mismatch").
# Run in $work: schemathesis writes a `.schemathesis/` folder into the current one.
(cd "$work" && SCHEMATHESIS_HOOKS="$work/hooks.py" python3 -m schemathesis.cli \
  --config-file "$work/schemathesis.toml" run "$base/v1/openapi.json" \
  --header "Authorization: Bearer $token" \
  --checks all --continue-on-failure \
  --max-time "$max_time" --max-examples "$max_examples" "${extra[@]}" \
  --workers 1 --request-timeout 30 --generation-database none --no-color) 2>&1 | tee "$work/st.log"
status=${PIPESTATUS[0]}
set -e

if ! kill -0 "$pid" 2>/dev/null; then
  echo "schemathesis.sh: yagura serve died during the run; its stderr:" >&2
  tail -20 "$work/stderr" >&2
  status=1
fi
if ! api -o /dev/null "$base/v1/tenants"; then
  echo "schemathesis.sh: the admin token no longer works; the results after its loss are void" >&2
  status=1
fi
if grep -q "request failed" "$work/stderr"; then
  echo "schemathesis.sh: the server logged failures (500s):" >&2
  grep "request failed" "$work/stderr" | head -20 >&2
fi
result=$(grep -E '^=+ .* in [0-9.]+s =+$' "$work/st.log" | tail -1 | sed -E 's/^=+ (.*) =+$/\1/')
seed=$(awk '/^Seed:/ {print $2}' "$work/st.log" | tail -1)
verdict=passed
[ "$status" -eq 0 ] || verdict=FAILED
echo "schemathesis $st_version: $verdict (${result:-no result}; seed ${seed:-?}; $(($(date +%s) - started)) s in all)"
exit "$status"
