/*
 * c-office-spawns-shell: an Office application starts a shell, a script host or a
 * living-off-the-land binary (T1204.002, T1059) — rules/office-spawns-shell, in C.
 *
 * The same detection as the Rust rule, written with the C kit (sdk/c/yagura.h): it passes the
 * same cases (cases.toml, on the events of cases/, copies of the Rust rule's) and reports the
 * same findings, under its own rule id. Built by `cargo xtask build-rules` (through
 * `yagura rule build`) into target/rules/c-office-spawns-shell.wasm.
 */
#include "yagura.h"

/* Office applications whose children are suspicious. */
static const char *const OFFICE[] = {
    "winword.exe", "excel.exe",  "powerpnt.exe", "outlook.exe",
    "onenote.exe", "msaccess.exe", "mspub.exe",  "visio.exe",
};

/* Shells, script hosts and LOLBins a document has no business starting. */
static const char *const SHELLS[] = {
    "cmd.exe",      "powershell.exe", "pwsh.exe",      "wscript.exe",
    "cscript.exe",  "mshta.exe",      "rundll32.exe",  "regsvr32.exe",
    "certutil.exe", "bitsadmin.exe",  "wmic.exe",
};

static const char *const TECHNIQUES[] = {"T1204.002", "T1059"};
static const yg_event_class SUBSCRIPTIONS[] = {YG_CLASS_PROCESS};
static const yg_param PARAMS[] = {
    YG_TEXT_LIST_PARAM("extra_parents",
                       "more parent image names (basenames such as `hwp.exe`) to treat as Office"),
    YG_TEXT_LIST_PARAM("extra_children",
                       "more child image names (basenames such as `msbuild.exe`) to treat as "
                       "shells"),
};

static const yg_rule_info INFO = {
    .id = "c-office-spawns-shell",
    .name = "Office application starts a shell (C)",
    .description = "An Office application (Word, Excel, PowerPoint, Outlook…) started a shell, "
                   "a script host or a living-off-the-land binary, as a malicious macro does.",
    .version = "0.1.0",
    .severity = YG_SEVERITY_HIGH,
    .techniques = TECHNIQUES,
    .n_techniques = YG_COUNT(TECHNIQUES),
    .subscriptions = SUBSCRIPTIONS,
    .n_subscriptions = YG_COUNT(SUBSCRIPTIONS),
    .params = PARAMS,
    .n_params = YG_COUNT(PARAMS),
};

/* Built in `init`; globals are the instance's cache (one instance per rule and tenant). */
static yg_name_set parents, children;

static bool init(const yg_config *config, yg_error *err) {
  (void)err;
  yg_name_set_init(&parents, OFFICE, YG_COUNT(OFFICE));
  yg_name_set_add_list(&parents, yg_config_text_list(config, "extra_parents"));
  yg_name_set_init(&children, SHELLS, YG_COUNT(SHELLS));
  yg_name_set_add_list(&children, yg_config_text_list(config, "extra_children"));
  return true;
}

/* The finding for a matching launch. */
static void report(yg_findings *out, const yg_event *ev, yg_str parent, yg_str child) {
  yg_str host = yg_hostname(ev);
  yg_str parent_id = yg_parent_guid(ev);
  if (yg_none(parent_id)) {
    uint32_t pid = yg_parent_pid(ev);
    parent_id = pid ? yg_fmt("%u", (unsigned)pid) : yg_fmt(YG_FMT, YG_ARG(parent));
    if (!pid) {
      /* the lowercase image, as the Rust rule keys a parent it knows nothing else of */
      char *p = (char *)parent_id.ptr;
      for (size_t i = 0; i < parent_id.len; i++) {
        if (p[i] >= 'A' && p[i] <= 'Z') p[i] = (char)(p[i] + 32);
      }
    }
  }
  yg_str parent_name = yg_basename(parent), child_name = yg_basename(child);
  yg_finding *f = yg_report(out, YG_FMT " started " YG_FMT, YG_ARG(parent_name),
                            YG_ARG(child_name));
  yg_set_description(f,
                     YG_FMT " started " YG_FMT " on " YG_FMT
                            ": Office applications do not start shells or script hosts unless "
                            "a document told them to.",
                     YG_ARG(parent), YG_ARG(child),
                     YG_ARG(host.len ? host : yg_cstr("an unnamed host")));
  yg_set_severity(f, YG_SEVERITY_HIGH);
  yg_set_confidence(f, 80);
  yg_add_technique(f, "T1204.002");
  yg_add_technique(f, "T1059");
  yg_add_event(f, ev);
  yg_set_dedup_key(f, YG_FMT "|" YG_FMT, YG_ARG(host), YG_ARG(parent_id));
  yg_add_host(f, host, NULL);
  yg_add_user(f, yg_qualified_user(ev), NULL);
  yg_add_process(f, yg_parent_label(ev), "parent");
  yg_add_process(f, yg_process_label(ev), "child");
  yg_add_context(f, "parent_image", parent);
  yg_add_context(f, "image", child);
  yg_add_context(f, "cmd_line", yg_process_cmd_line(ev));
  yg_add_context(f, "parent_cmd_line", yg_parent_cmd_line(ev));
}

static bool on_events(const yg_batch *batch, yg_findings *out, yg_error *err) {
  (void)err;
  for (size_t i = 0; i < yg_batch_len(batch); i++) {
    yg_event ev = yg_batch_event(batch, i);
    /* Launches only; an adapter that cannot tell says `unknown`. */
    if (ev.activity != YG_ACTIVITY_CREATE && ev.activity != YG_ACTIVITY_UNKNOWN) continue;
    /* Office parents are the rarer match: test them first. */
    yg_str parent = yg_parent_image(&ev);
    if (!yg_name_set_contains_path(&parents, parent)) continue;
    yg_str child = yg_process_image(&ev);
    if (yg_name_set_contains_path(&children, child)) report(out, &ev, parent, child);
  }
  return true;
}

const yg_rule yagura_rule = {
    .info = &INFO,
    .init = init,
    .on_events = on_events,
};
