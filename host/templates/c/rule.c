/*
 * Rule `{{id}}`: PowerShell started with an encoded command (`-enc <base64>`), which hides
 * what the script does (ATT&CK T1059.001, T1027).
 *
 * Scaffolded by `yagura rule new --lang c`: an example detection to replace with yours. Keep
 * the cases in cases.toml in step with it; `yagura rule build` then `yagura rule test`.
 *
 * How the pieces fit (docs/writing-rules-c.md):
 * - yagura.h is the kit: event views (`yg_event`, `yg_process_image`…), matchers
 *   (`yg_name_set`, `yg_contains_any`), a finding builder (`yg_report`, `yg_add_*`), host
 *   state (`yg_counter_add`, `yg_mark_once`…) and typed config (`yg_config_*`).
 *   `yagura rule build` writes it, with the `wit-bindgen c` bindings, under target/yagura-kit/c.
 * - Text is `yg_str` (pointer + length, no NUL): print it with YG_FMT / YG_ARG.
 * - No WASI: no printf, files or clock. Log with `yg_log`; fail a call with
 *   `return yg_fail(err, "…")`.
 * - Every `.c` file of this folder (and of src/) is compiled into the rule.
 */
#include "yagura.h"

/* PowerShell hosts. */
static const char *const POWERSHELL[] = {"powershell.exe", "pwsh.exe"};

/* Spellings of `-EncodedCommand` (PowerShell accepts any unambiguous prefix). */
static const char *const ENCODED[] = {"-enc", " -e ", " -ec "};

static const char *const TECHNIQUES[] = {"T1059.001", "T1027"};
static const yg_event_class SUBSCRIPTIONS[] = {YG_CLASS_PROCESS};
static const yg_param PARAMS[] = {
    YG_TEXT_LIST_PARAM("extra_hosts", "more PowerShell host images (basenames) to watch"),
};

static const yg_rule_info INFO = {
    .id = "{{id}}",
    .name = "Encoded PowerShell command",
    .description = "PowerShell was started with an encoded command (-EncodedCommand).",
    .version = "0.1.0",
    .severity = YG_SEVERITY_MEDIUM,
    .techniques = TECHNIQUES,
    .n_techniques = YG_COUNT(TECHNIQUES),
    .subscriptions = SUBSCRIPTIONS,
    .n_subscriptions = YG_COUNT(SUBSCRIPTIONS),
    .params = PARAMS,
    .n_params = YG_COUNT(PARAMS),
};

/* Globals are this instance's cache, rebuilt by `init`; lasting state belongs in the host
 * (yg_counter_add, yg_distinct_add, yg_mark_once). */
static yg_name_set hosts;

static bool init(const yg_config *config, yg_error *err) {
  (void)err;
  yg_name_set_init(&hosts, POWERSHELL, YG_COUNT(POWERSHELL));
  yg_name_set_add_list(&hosts, yg_config_text_list(config, "extra_hosts"));
  return true;
}

static bool on_events(const yg_batch *batch, yg_findings *out, yg_error *err) {
  (void)err;
  for (size_t i = 0; i < yg_batch_len(batch); i++) {
    yg_event ev = yg_batch_event(batch, i);
    if (ev.activity != YG_ACTIVITY_CREATE) continue;
    yg_str image = yg_process_image(&ev);
    if (!yg_name_set_contains_path(&hosts, image)) continue;
    yg_str cmd = yg_process_cmd_line(&ev);
    if (yg_contains_any(cmd, ENCODED, YG_COUNT(ENCODED)) < 0) continue;
    yg_str host = yg_hostname(&ev);
    yg_str name = yg_basename(image);
    yg_finding *f = yg_report(out, YG_FMT " ran an encoded command", YG_ARG(name));
    yg_set_description(f, YG_FMT " was started with an encoded command on " YG_FMT ": `" YG_FMT "`",
                       YG_ARG(image), YG_ARG(host), YG_ARG(cmd));
    yg_set_severity(f, YG_SEVERITY_MEDIUM);
    yg_set_confidence(f, 70);
    yg_add_technique(f, "T1059.001");
    yg_add_technique(f, "T1027");
    yg_add_event(f, &ev);
    yg_set_dedup_key(f, YG_FMT "|%u", YG_ARG(host), (unsigned)yg_process_pid(&ev));
    yg_add_context(f, "cmd_line", cmd);
    yg_add_host(f, host, NULL);
    yg_add_user(f, yg_qualified_user(&ev), NULL);
    yg_add_process(f, yg_process_label(&ev), "actor");
    yg_add_process(f, yg_parent_label(&ev), "parent");
  }
  return true;
}

const yg_rule yagura_rule = {
    .info = &INFO,
    .init = init,
    .on_events = on_events,
};
