/*
 * c-kit-probe: the C kit's test rule (tests/e2e/kits.rs). For every event it reports one
 * finding whose context shows what the kit's views, config, formatting and state helpers
 * gave, so that cases.toml can check each of them through the real host. An event whose
 * command line says FAIL makes `on_events` fail; on_tick reports the watermark.
 */
#include "yagura.h"

#include <string.h>

static const char *const TECHNIQUES[] = {"T0000"};
static const yg_event_class SUBSCRIPTIONS[] = {
    YG_CLASS_AUTHENTICATION, YG_CLASS_PROCESS, YG_CLASS_NETWORK, YG_CLASS_FILE,
    YG_CLASS_REGISTRY,       YG_CLASS_DNS,     YG_CLASS_HTTP,    YG_CLASS_JOB,
    YG_CLASS_SCRIPT,         YG_CLASS_OTHER,
};
static const char *const DEFAULT_NAMES[] = {"alpha", "beta"};
static const yg_param PARAMS[] = {
    YG_BOOL_PARAM("flag", "a boolean", false),
    YG_INT_PARAM("limit", "an integer in [1, 100]", 3),
    YG_FLOAT_PARAM("ratio", "a float", 0.5),
    YG_TEXT_PARAM("label", "a text", "probe"),
    YG_TEXT_LIST_PARAM_OF("names", "a text list", DEFAULT_NAMES),
    YG_BOOL_PARAM("misread", "when true, init reads `limit` as a text (a rule bug)", false),
    YG_BOOL_PARAM("tick", "when true, on_tick reports the watermark", false),
};

static const yg_rule_info INFO = {
    .id = "c-kit-probe",
    .name = "C kit probe",
    .description = "Reports what the C kit sees of every event (a test rule).",
    .version = "0.1.0",
    .severity = YG_SEVERITY_LOW,
    .techniques = TECHNIQUES,
    .n_techniques = YG_COUNT(TECHNIQUES),
    .subscriptions = SUBSCRIPTIONS,
    .n_subscriptions = YG_COUNT(SUBSCRIPTIONS),
    .params = PARAMS,
    .n_params = YG_COUNT(PARAMS),
};

/* The config as init read it, formatted once. */
static char config_text[512];
static bool tick;

static bool init(const yg_config *config, yg_error *err) {
  if (yg_config_bool(config, "misread")) yg_config_text(config, "limit");
  int64_t limit = yg_config_int_in(config, "limit", 1, 100);
  yg_str label = yg_config_text(config, "label");
  if (yg_eq(label, "refuse")) return yg_fail(err, "label `refuse` is refused by the rule");
  yg_str_list names = yg_config_text_list(config, "names");
  int n = yg_snprintf(config_text, sizeof config_text, "flag=%s limit=%lld ratio=%.2f label=" YG_FMT
                      " names=",
                      yg_config_bool(config, "flag") ? "true" : "false", (long long)limit,
                      yg_config_float(config, "ratio"), YG_ARG(label));
  for (size_t i = 0; i < names.len && n > 0 && (size_t)n < sizeof config_text; i++) {
    n += yg_snprintf(config_text + n, sizeof config_text - (size_t)n, "%s" YG_FMT,
                     i ? "," : "", YG_ARG(names.items[i]));
  }
  tick = yg_config_bool(config, "tick");
  yg_log(YG_LOG_DEBUG, "c-kit-probe: %s", config_text);
  return true;
}

static yg_str or_dash(yg_str s) { return yg_none(s) ? yg_cstr("-") : s; }

static bool on_events(const yg_batch *batch, yg_findings *out, yg_error *err) {
  for (size_t i = 0; i < yg_batch_len(batch); i++) {
    yg_event ev = yg_batch_event(batch, i);
    if (yg_contains_nocase(yg_process_cmd_line(&ev), "FAIL")) {
      return yg_fail(err, "asked to fail at seq %llu", (unsigned long long)ev.seq);
    }
    yg_str host = or_dash(yg_hostname(&ev));
    yg_finding *f = yg_report(out, "probe %llu", (unsigned long long)ev.seq);
    yg_add_event(f, &ev);
    yg_set_severity(f, YG_SEVERITY_LOW);
    yg_add_technique(f, "T0000");
    yg_add_technique(f, "T0000"); /* once */
    yg_add_host(f, yg_hostname(&ev), "recorder");
    yg_add_context(f, "class", yg_fmt("%d", (int)yg_class(&ev)));
    yg_add_context(f, "activity", yg_fmt("%d", (int)ev.activity));
    yg_add_context(f, "code", yg_fmt("%u", (unsigned)ev.code));
    yg_add_context(f, "user", or_dash(yg_qualified_user(&ev)));
    yg_add_context(f, "src", yg_fmt(YG_FMT " port %u host " YG_FMT, YG_ARG(or_dash(yg_src_ip(&ev))),
                                    (unsigned)yg_src_port(&ev),
                                    YG_ARG(or_dash(yg_src_hostname(&ev)))));
    yg_add_context(f, "dst", yg_fmt(YG_FMT " port %u", YG_ARG(or_dash(yg_dst_ip(&ev))),
                                    (unsigned)yg_dst_port(&ev)));
    yg_add_context(f, "process", or_dash(yg_process_label(&ev)));
    yg_add_context(f, "parent", or_dash(yg_parent_label(&ev)));
    yg_add_context(f, "guid", or_dash(yg_process_guid(&ev)));
    yg_add_context(f, "parent_guid", or_dash(yg_parent_guid(&ev)));
    yg_add_context(f, "channel", or_dash(yg_attribute(&ev, "SOURCE.CHANNEL")));
    yg_add_context(f, "absent", yg_attribute(&ev, "no.such.attribute")); /* skipped */
    yg_add_context(f, "config", yg_cstr(config_text));

    /* host state: a counter and a distinct set per host, and a once-per-minute mark */
    int64_t count = 0;
    uint32_t users = 0;
    if (!yg_counter_add(yg_fmt("n|" YG_FMT, YG_ARG(host)), ev.time, 60000, 1, &count) ||
        !yg_distinct_add(yg_fmt("u|" YG_FMT, YG_ARG(host)), or_dash(yg_user_name(&ev)), ev.time,
                         60000, &users)) {
      return yg_fail(err, "state: %s", yg_state_error_name(yg_last_state_error()));
    }
    yg_str_list recent;
    uint32_t distinct = yg_distinct_items(yg_fmt("u|" YG_FMT, YG_ARG(host)), ev.time, 60000, 1,
                                          &recent);
    bool first = yg_mark_once(yg_fmt("seen|" YG_FMT, YG_ARG(host)), ev.time, 60000);
    yg_add_context(f, "state",
                   yg_fmt("count=%lld sum=%lld users=%u/%u latest=" YG_FMT " %s", (long long)count,
                          (long long)yg_counter_sum(yg_fmt("n|" YG_FMT, YG_ARG(host)), ev.time,
                                                    60000),
                          (unsigned)users, (unsigned)distinct,
                          YG_ARG(recent.len ? recent.items[0] : yg_cstr("-")),
                          first ? "first" : "again"));
    yg_set_dedup_key(f, YG_FMT, YG_ARG(host));
  }
  return true;
}

static bool on_tick(int64_t watermark, yg_findings *out, yg_error *err) {
  (void)err;
  if (tick) {
    yg_finding *f = yg_report(out, "tick");
    yg_set_time(f, watermark);
    yg_add_context_int(f, "watermark", watermark);
  }
  return true;
}

const yg_rule yagura_rule = {
    .info = &INFO,
    .init = init,
    .on_events = on_events,
    .on_tick = on_tick,
};
