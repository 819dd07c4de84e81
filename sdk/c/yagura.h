/*
 * yagura.h — the Yagura C rule kit.
 *
 * A detection rule in C fills in a `yg_rule` named `yagura_rule`; the kit implements the
 * component's exports (yagura:detection/rule@0.1.0) around it: it turns the rule's static
 * description into `rule-info`, hands `init` a typed config with the defaults filled in, gives
 * `on_events` event views over the batch, collects findings from a builder, and frees what
 * the canonical ABI hands over. The generated bindings (bindings/yagura_rule.h, made by
 * `wit-bindgen c` from wit/types.wit) stay reachable for what the views do not cover.
 *
 * Conventions:
 * - Text is `yg_str`: a pointer and a length, NOT NUL-terminated (WIT strings and the batch's
 *   text spans carry lengths). Print it with `printf`-style `YG_FMT` / `YG_ARG(s)`. An absent
 *   value (WIT `none`) has `ptr == NULL`; `yg_none(s)` tells. Absent numbers are 0.
 * - Text the kit makes for you (labels, formatted GUIDs and addresses, `yg_fmt`) lives in a
 *   scratch area that the kit frees when the current export call returns. Copy what must
 *   outlive the call (`yg_name_set_add` copies).
 * - No WASI: rules have no files, clock, environment or stdout. libc's `printf`, `snprintf`
 *   (its stdio), `puts`, `fopen`, `time`, `getenv` would import WASI and `yagura rule build`
 *   refuses the result. Use `yg_log`, `yg_fmt` and `yg_snprintf`; `malloc` and `string.h`
 *   are fine.
 * - Out of memory traps the call (the host counts a fault); nothing else in the kit traps.
 *
 * docs/writing-rules-c.md walks through a rule from `yagura rule new --lang c` to a signed pack.
 */
#ifndef YAGURA_H
#define YAGURA_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "yagura_rule.h"

#ifdef __cplusplus
extern "C" {
#endif

/* ---- text ------------------------------------------------------------------------------ */

/** Borrowed UTF-8 text with a length; `ptr == NULL` means absent. */
typedef struct yg_str {
  const char *ptr;
  size_t len;
} yg_str;

/** A list of texts (config lists, distinct items). */
typedef struct yg_str_list {
  const yg_str *items;
  size_t len;
} yg_str_list;

/** `printf("…" YG_FMT "…", YG_ARG(s))` prints a `yg_str`. */
#define YG_FMT "%.*s"
#define YG_ARG(s) (int)(s).len, ((s).ptr ? (s).ptr : "")
/** The number of elements of a static array. */
#define YG_COUNT(array) (sizeof(array) / sizeof((array)[0]))

/** A NUL-terminated string as a `yg_str` (NULL stays absent). */
yg_str yg_cstr(const char *s);
/** True when the value is absent (WIT `none`). */
static inline bool yg_none(yg_str s) { return s.ptr == NULL; }
/** True when the value is absent or empty. */
static inline bool yg_empty(yg_str s) { return s.len == 0; }
/** Exact comparison with a NUL-terminated string. */
bool yg_eq(yg_str a, const char *b);
/** Comparisons ignoring ASCII case (Windows paths and names). */
bool yg_eq_nocase(yg_str a, const char *b);
bool yg_starts_with_nocase(yg_str text, const char *prefix);
bool yg_ends_with_nocase(yg_str text, const char *suffix);
bool yg_contains_nocase(yg_str text, const char *needle);
/** The index of the first of `needles` that `text` contains ignoring case, else -1. */
int yg_contains_any(yg_str text, const char *const *needles, size_t count);
/** The last component of a Windows or POSIX path: `C:\x\cmd.exe` → `cmd.exe`. */
yg_str yg_basename(yg_str path);
/** `snprintf` into the scratch area (freed when the export call returns). */
yg_str yg_fmt(const char *format, ...) __attribute__((format(printf, 1, 2)));
yg_str yg_vfmt(const char *format, va_list args);
/** `snprintf` without libc's stdio (which would import WASI): at most `size` bytes with the
 * NUL; returns the length the whole text needs. */
int yg_snprintf(char *buf, size_t size, const char *format, ...)
    __attribute__((format(printf, 3, 4)));

/* ---- the names of WIT enums ------------------------------------------------------------ */

typedef yagura_detection_types_event_class_t yg_event_class;
#define YG_CLASS_AUTHENTICATION YAGURA_DETECTION_TYPES_EVENT_CLASS_AUTHENTICATION
#define YG_CLASS_PROCESS YAGURA_DETECTION_TYPES_EVENT_CLASS_PROCESS
#define YG_CLASS_NETWORK YAGURA_DETECTION_TYPES_EVENT_CLASS_NETWORK
#define YG_CLASS_FILE YAGURA_DETECTION_TYPES_EVENT_CLASS_FILE
#define YG_CLASS_REGISTRY YAGURA_DETECTION_TYPES_EVENT_CLASS_REGISTRY
#define YG_CLASS_DNS YAGURA_DETECTION_TYPES_EVENT_CLASS_DNS
#define YG_CLASS_HTTP YAGURA_DETECTION_TYPES_EVENT_CLASS_HTTP
#define YG_CLASS_JOB YAGURA_DETECTION_TYPES_EVENT_CLASS_JOB
#define YG_CLASS_SCRIPT YAGURA_DETECTION_TYPES_EVENT_CLASS_SCRIPT
#define YG_CLASS_OTHER YAGURA_DETECTION_TYPES_EVENT_CLASS_OTHER

typedef yagura_detection_types_activity_t yg_activity;
#define YG_ACTIVITY_UNKNOWN YAGURA_DETECTION_TYPES_ACTIVITY_UNKNOWN
#define YG_ACTIVITY_CREATE YAGURA_DETECTION_TYPES_ACTIVITY_CREATE
#define YG_ACTIVITY_DELETE YAGURA_DETECTION_TYPES_ACTIVITY_DELETE
#define YG_ACTIVITY_MODIFY YAGURA_DETECTION_TYPES_ACTIVITY_MODIFY
#define YG_ACTIVITY_RENAME YAGURA_DETECTION_TYPES_ACTIVITY_RENAME
#define YG_ACTIVITY_OPEN YAGURA_DETECTION_TYPES_ACTIVITY_OPEN
#define YG_ACTIVITY_LOGON YAGURA_DETECTION_TYPES_ACTIVITY_LOGON
#define YG_ACTIVITY_LOGOFF YAGURA_DETECTION_TYPES_ACTIVITY_LOGOFF
#define YG_ACTIVITY_TICKET_REQUEST YAGURA_DETECTION_TYPES_ACTIVITY_TICKET_REQUEST
#define YG_ACTIVITY_SERVICE_TICKET YAGURA_DETECTION_TYPES_ACTIVITY_SERVICE_TICKET
#define YG_ACTIVITY_CREDENTIAL_VALIDATION YAGURA_DETECTION_TYPES_ACTIVITY_CREDENTIAL_VALIDATION
#define YG_ACTIVITY_TRAFFIC YAGURA_DETECTION_TYPES_ACTIVITY_TRAFFIC
#define YG_ACTIVITY_REFUSE YAGURA_DETECTION_TYPES_ACTIVITY_REFUSE
#define YG_ACTIVITY_QUERY YAGURA_DETECTION_TYPES_ACTIVITY_QUERY
#define YG_ACTIVITY_EXECUTE YAGURA_DETECTION_TYPES_ACTIVITY_EXECUTE
#define YG_ACTIVITY_OTHER YAGURA_DETECTION_TYPES_ACTIVITY_OTHER

typedef yagura_detection_types_outcome_t yg_outcome;
#define YG_OUTCOME_UNKNOWN YAGURA_DETECTION_TYPES_OUTCOME_UNKNOWN
#define YG_OUTCOME_SUCCESS YAGURA_DETECTION_TYPES_OUTCOME_SUCCESS
#define YG_OUTCOME_FAILURE YAGURA_DETECTION_TYPES_OUTCOME_FAILURE

typedef yagura_detection_types_severity_t yg_severity;
#define YG_SEVERITY_INFORMATIONAL YAGURA_DETECTION_TYPES_SEVERITY_INFORMATIONAL
#define YG_SEVERITY_LOW YAGURA_DETECTION_TYPES_SEVERITY_LOW
#define YG_SEVERITY_MEDIUM YAGURA_DETECTION_TYPES_SEVERITY_MEDIUM
#define YG_SEVERITY_HIGH YAGURA_DETECTION_TYPES_SEVERITY_HIGH
#define YG_SEVERITY_CRITICAL YAGURA_DETECTION_TYPES_SEVERITY_CRITICAL

typedef yagura_detection_types_entity_kind_t yg_entity_kind;
#define YG_ENTITY_HOST YAGURA_DETECTION_TYPES_ENTITY_KIND_HOST
#define YG_ENTITY_USER YAGURA_DETECTION_TYPES_ENTITY_KIND_USER
#define YG_ENTITY_IP YAGURA_DETECTION_TYPES_ENTITY_KIND_IP
#define YG_ENTITY_PROCESS YAGURA_DETECTION_TYPES_ENTITY_KIND_PROCESS
#define YG_ENTITY_FILE YAGURA_DETECTION_TYPES_ENTITY_KIND_FILE
#define YG_ENTITY_OTHER YAGURA_DETECTION_TYPES_ENTITY_KIND_OTHER

typedef yagura_detection_log_level_t yg_log_level;
#define YG_LOG_TRACE YAGURA_DETECTION_LOG_LEVEL_TRACE
#define YG_LOG_DEBUG YAGURA_DETECTION_LOG_LEVEL_DEBUG
#define YG_LOG_INFO YAGURA_DETECTION_LOG_LEVEL_INFO
#define YG_LOG_WARN YAGURA_DETECTION_LOG_LEVEL_WARN
#define YG_LOG_ERROR YAGURA_DETECTION_LOG_LEVEL_ERROR

/* ---- the rule's description and parameters --------------------------------------------- */

typedef enum yg_param_type {
  YG_PARAM_BOOL,
  YG_PARAM_INT,
  YG_PARAM_FLOAT,
  YG_PARAM_TEXT,
  YG_PARAM_TEXT_LIST,
} yg_param_type;

/** A configuration parameter: its name, what it does, and its type and default. */
typedef struct yg_param {
  const char *name;
  const char *description;
  yg_param_type type;
  bool boolean;
  int64_t integer;
  double number;
  const char *text;
  /** the default of a text list: `n_text_list` strings (NULL: empty) */
  const char *const *text_list;
  size_t n_text_list;
} yg_param;

#define YG_BOOL_PARAM(NAME, DESCRIPTION, DEFAULT) \
  { .name = (NAME), .description = (DESCRIPTION), .type = YG_PARAM_BOOL, .boolean = (DEFAULT) }
#define YG_INT_PARAM(NAME, DESCRIPTION, DEFAULT) \
  { .name = (NAME), .description = (DESCRIPTION), .type = YG_PARAM_INT, .integer = (DEFAULT) }
#define YG_FLOAT_PARAM(NAME, DESCRIPTION, DEFAULT) \
  { .name = (NAME), .description = (DESCRIPTION), .type = YG_PARAM_FLOAT, .number = (DEFAULT) }
#define YG_TEXT_PARAM(NAME, DESCRIPTION, DEFAULT) \
  { .name = (NAME), .description = (DESCRIPTION), .type = YG_PARAM_TEXT, .text = (DEFAULT) }
/** A text list parameter whose default is empty. */
#define YG_TEXT_LIST_PARAM(NAME, DESCRIPTION) \
  { .name = (NAME), .description = (DESCRIPTION), .type = YG_PARAM_TEXT_LIST }
/** A text list parameter whose default is the static array `DEFAULTS`. */
#define YG_TEXT_LIST_PARAM_OF(NAME, DESCRIPTION, DEFAULTS)                                   \
  {                                                                                          \
    .name = (NAME), .description = (DESCRIPTION), .type = YG_PARAM_TEXT_LIST,                \
    .text_list = (DEFAULTS), .n_text_list = YG_COUNT(DEFAULTS)                               \
  }

/** What the rule is (WIT `rule-info`); static data, read once at load. */
typedef struct yg_rule_info {
  /** stable id, lowercase with dashes */
  const char *id;
  const char *name;
  const char *description;
  /** the rule's semver version */
  const char *version;
  yg_severity severity;
  /** MITRE ATT&CK technique ids */
  const char *const *techniques;
  size_t n_techniques;
  /** the only event classes the host will send */
  const yg_event_class *subscriptions;
  size_t n_subscriptions;
  const yg_param *params;
  size_t n_params;
} yg_rule_info;

/* ---- errors and config ----------------------------------------------------------------- */

/** Where a callback puts its error message; set it with `yg_fail`. */
typedef struct yg_error {
  char *message;
} yg_error;

/** Sets the error message (printf-style) and returns false: `return yg_fail(err, "…");`. */
bool yg_fail(yg_error *err, const char *format, ...) __attribute__((format(printf, 2, 3)));

/** The per-tenant settings `init` receives: the given values over the params' defaults. */
typedef struct yg_config yg_config;

/* Typed reads. The host has checked names and types against the params, so a read of a
 * name the rule did not declare as that type is the rule's own bug: it reads as false/0/empty
 * and `init` fails with a message naming the parameter. */
bool yg_config_bool(const yg_config *config, const char *name);
int64_t yg_config_int(const yg_config *config, const char *name);
/** An integer that must lie in [min, max]; outside, `init` fails naming the parameter. */
int64_t yg_config_int_in(const yg_config *config, const char *name, int64_t min, int64_t max);
double yg_config_float(const yg_config *config, const char *name);
yg_str yg_config_text(const yg_config *config, const char *name);
/** A text list; the items live until `init` returns. */
yg_str_list yg_config_text_list(const yg_config *config, const char *name);

/* ---- events ---------------------------------------------------------------------------- */

typedef yagura_detection_types_batch_t yg_batch;
typedef yagura_detection_types_user_t yg_user;
typedef yagura_detection_types_endpoint_t yg_endpoint;
typedef yagura_detection_types_ip_address_t yg_ip;
typedef yagura_detection_types_guid_t yg_guid;
typedef yagura_detection_types_process_t yg_process;
typedef yagura_detection_types_actor_process_t yg_actor_process;
typedef yagura_detection_types_authentication_t yg_authentication;
typedef yagura_detection_types_process_activity_t yg_process_activity;
typedef yagura_detection_types_network_activity_t yg_network_activity;
typedef yagura_detection_types_file_activity_t yg_file_activity;
typedef yagura_detection_types_registry_activity_t yg_registry_activity;
typedef yagura_detection_types_query_activity_t yg_query_activity;
typedef yagura_detection_types_job_activity_t yg_job_activity;
typedef yagura_detection_types_script_activity_t yg_script_activity;

/** One event of a batch: the batch (whose strings its text spans point into), the WIT record
 * and its index. Made by `yg_batch_event`; valid while the batch is (this `on_events` call). */
typedef struct yg_event {
  const yg_batch *batch;
  const yagura_detection_types_event_t *raw;
  size_t index;
  /** the ingest sequence number; findings cite events by it */
  uint64_t seq;
  /** event time, ms since the Unix epoch, UTC */
  int64_t time;
  yg_activity activity;
  yg_outcome outcome;
  /** the source's event code (Windows EventID, Sysmon id); 0: none */
  uint32_t code;
} yg_event;

static inline size_t yg_batch_len(const yg_batch *batch) { return batch->events.len; }
/** The event at `index` (< `yg_batch_len`). */
yg_event yg_batch_event(const yg_batch *batch, size_t index);

/** A text span of the event's batch; `none` stays absent. */
yg_str yg_text(const yg_event *ev, yagura_detection_types_option_text_t text);
/** The event's class (the body's case). */
yg_event_class yg_class(const yg_event *ev);
/** The host the event was recorded on. */
yg_str yg_hostname(const yg_event *ev);

/* The class's record, or NULL when the event is of another class. */
const yg_authentication *yg_authentication_of(const yg_event *ev);
const yg_process_activity *yg_process_activity_of(const yg_event *ev);
const yg_network_activity *yg_network_of(const yg_event *ev);
const yg_file_activity *yg_file_of(const yg_event *ev);
const yg_registry_activity *yg_registry_of(const yg_event *ev);
/** DNS and HTTP events share one record. */
const yg_query_activity *yg_query_of(const yg_event *ev);
const yg_job_activity *yg_job_of(const yg_event *ev);
const yg_script_activity *yg_script_of(const yg_event *ev);

/* Processes: the launched process with its parent (process events), else the actor process
 * of a network, file, registry, DNS, HTTP or script event. Absent pids are 0. */
yg_str yg_process_image(const yg_event *ev);
/** Process events only. */
yg_str yg_process_cmd_line(const yg_event *ev);
uint32_t yg_process_pid(const yg_event *ev);
/** `{5770385F-C22A-43E0-BF4C-06F5698FFBD9}`, in the scratch area; absent when unknown. */
yg_str yg_process_guid(const yg_event *ev);
yg_str yg_parent_image(const yg_event *ev);
yg_str yg_parent_cmd_line(const yg_event *ev);
uint32_t yg_parent_pid(const yg_event *ev);
yg_str yg_parent_guid(const yg_event *ev);
/** `cmd.exe (pid 42)`, `cmd.exe` or `pid 42` as the Rust SDK labels processes; absent when
 * neither image nor pid is known. In the scratch area. */
yg_str yg_process_label(const yg_event *ev);
yg_str yg_parent_label(const yg_event *ev);

/* The account: who logged on, runs the process, opened the file… NULL when none. */
const yg_user *yg_user_of(const yg_event *ev);
yg_str yg_user_name(const yg_event *ev);
yg_str yg_user_domain(const yg_event *ev);
/** `DOMAIN\name`, or `name` without a domain; absent without a name. In the scratch area. */
yg_str yg_qualified_user(const yg_event *ev);

/* Endpoints: the source (authentication, network, file, DNS, HTTP) and the destination
 * (network, DNS, HTTP); NULL when the class has none. */
const yg_endpoint *yg_src(const yg_event *ev);
const yg_endpoint *yg_dst(const yg_event *ev);
/** The address as text (`10.0.0.5`, `fe80::1`) in the scratch area; absent when unknown. */
yg_str yg_src_ip(const yg_event *ev);
yg_str yg_dst_ip(const yg_event *ev);
uint16_t yg_src_port(const yg_event *ev);
uint16_t yg_dst_port(const yg_event *ev);
yg_str yg_src_hostname(const yg_event *ev);
yg_str yg_dst_hostname(const yg_event *ev);

/** The value of the first attribute named `key` (ignoring case): `source.channel`,
 * `device.domain`, `process.cwd`… (docs/wit.md lists them); absent when there is none. */
yg_str yg_attribute(const yg_event *ev, const char *key);

/** An address or GUID as text, in the scratch area. */
yg_str yg_format_ip(const yg_ip *ip);
yg_str yg_format_guid(const yg_guid *guid);

/* ---- matchers -------------------------------------------------------------------------- */

/** A set of names matched ignoring ASCII case, typically process image basenames. */
typedef struct yg_name_set {
  char **names;
  size_t *lens;
  size_t len;
  size_t cap;
} yg_name_set;

/** Empties the set and fills it with `count` names. */
void yg_name_set_init(yg_name_set *set, const char *const *names, size_t count);
/** Adds a copy of `name` (empty and absent names are ignored). */
void yg_name_set_add(yg_name_set *set, yg_str name);
/** Adds every name of a list (a config text list). */
void yg_name_set_add_list(yg_name_set *set, yg_str_list names);
void yg_name_set_free(yg_name_set *set);
bool yg_name_set_contains(const yg_name_set *set, yg_str name);
/** Whether the basename of `path` is in the set. */
bool yg_name_set_contains_path(const yg_name_set *set, yg_str path);

/* ---- findings -------------------------------------------------------------------------- */

typedef yagura_detection_types_finding_t yg_finding;

/** The findings a callback reports; the kit hands them to the host. */
typedef struct yg_findings {
  yg_finding **items;
  size_t len;
  size_t cap;
} yg_findings;

/** Starts a finding with its title (printf-style). Defaults: severity medium, confidence 50,
 * time 0 (cite an event with `yg_add_event`, or `yg_set_time`), dedup key the title. The
 * pointer stays valid until the callback returns, whatever else is reported. */
yg_finding *yg_report(yg_findings *out, const char *title_format, ...)
    __attribute__((format(printf, 2, 3)));
void yg_set_description(yg_finding *f, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
void yg_set_severity(yg_finding *f, yg_severity severity);
/** 0 to 100 (higher is clamped). */
void yg_set_confidence(yg_finding *f, unsigned confidence);
/** Findings of this rule with the same key are one alert, updated. */
void yg_set_dedup_key(yg_finding *f, const char *format, ...)
    __attribute__((format(printf, 2, 3)));
/** Event time of the finding, ms since the Unix epoch. */
void yg_set_time(yg_finding *f, int64_t time_ms);
/** An ATT&CK technique id (`T1059.001`); a repeated id is added once. */
void yg_add_technique(yg_finding *f, const char *id);
/** Cites an event: adds its `seq` as evidence and takes its time. */
void yg_add_event(yg_finding *f, const yg_event *ev);
/** Adds a `seq` as evidence (once). */
void yg_add_evidence(yg_finding *f, uint64_t seq);
/** An entity; skipped when `value` is absent or empty. `role` may be NULL. */
void yg_add_entity(yg_finding *f, yg_entity_kind kind, yg_str value, const char *role);
void yg_add_host(yg_finding *f, yg_str name, const char *role);
void yg_add_user(yg_finding *f, yg_str name, const char *role);
void yg_add_ip(yg_finding *f, yg_str address, const char *role);
void yg_add_process(yg_finding *f, yg_str label, const char *role);
void yg_add_file(yg_finding *f, yg_str path, const char *role);
/** A key/value fact shown with the alert; skipped when `value` is absent. */
void yg_add_context(yg_finding *f, const char *key, yg_str value);
void yg_add_context_int(yg_finding *f, const char *key, int64_t value);

/* ---- host state and log ---------------------------------------------------------------- */

typedef yagura_detection_state_state_error_t yg_state_error;

/* State calls that can fail return false and leave the reason in `yg_last_state_error()`
 * (`quota-exceeded`, `too-large`, `invalid`). Keys and times as in docs/wit.md: event times
 * in ms, windows anchored at the newest event of the key. */

/** Adds `delta` at `at` to the counter `key`; `*sum` gets the sum over the window. */
bool yg_counter_add(yg_str key, int64_t at, uint64_t window_ms, int64_t delta, int64_t *sum);
/** The counter's sum over its window, without adding. */
int64_t yg_counter_sum(yg_str key, int64_t at, uint64_t window_ms);
/** Records `item` under `key`; `*count` gets the distinct items in the window. */
bool yg_distinct_add(yg_str key, yg_str item, int64_t at, uint64_t window_ms, uint32_t *count);
/** The distinct count, and up to `limit` items (most recent first, in the scratch area). */
uint32_t yg_distinct_items(yg_str key, int64_t at, uint64_t window_ms, uint32_t limit,
                           yg_str_list *items);
/** The bytes under `key` unless expired by `at`, in the scratch area; absent when none. */
yg_str yg_state_get(yg_str key, int64_t at);
/** Stores `len` bytes under `key` until event time passes `expires_at`. */
bool yg_state_set(yg_str key, const void *value, size_t len, int64_t expires_at);
void yg_state_remove(yg_str key);
/** True the first time `key` is marked, then false until the mark expires `expires_in_ms`
 * after `at`: the "report once per window" guard. */
bool yg_mark_once(yg_str key, int64_t at, int64_t expires_in_ms);
yg_state_error yg_last_state_error(void);
/** `quota-exceeded`, `too-large` or `invalid`. */
const char *yg_state_error_name(yg_state_error error);

/** A message to the operator's log, tagged with the rule id by the host. */
void yg_log(yg_log_level level, const char *format, ...) __attribute__((format(printf, 2, 3)));

/* ---- the rule -------------------------------------------------------------------------- */

/** The rule: its description and callbacks. Define exactly one, named `yagura_rule`:
 *
 *     const yg_rule yagura_rule = {
 *         .info = &INFO, .init = init, .on_events = on_events,
 *     };
 *
 * `init` (optional) applies the tenant's settings; `on_events` evaluates a batch;
 * `on_tick` (optional) reports what timed out when event time reaches `watermark`. A callback
 * that returns false with `yg_fail` reports an error: at `init` the host refuses the config,
 * elsewhere it counts a rule fault and drops the call's findings. */
typedef struct yg_rule {
  const yg_rule_info *info;
  bool (*init)(const yg_config *config, yg_error *err);
  bool (*on_events)(const yg_batch *batch, yg_findings *out, yg_error *err);
  bool (*on_tick)(int64_t watermark, yg_findings *out, yg_error *err);
} yg_rule;

extern const yg_rule yagura_rule;

#ifdef __cplusplus
}
#endif

#endif /* YAGURA_H */
