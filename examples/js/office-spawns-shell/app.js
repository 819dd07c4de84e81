// js-office-spawns-shell: an Office application starts a shell, a script host or a
// living-off-the-land binary (T1204.002, T1059) — rules/office-spawns-shell, in JavaScript.
//
// The same detection as the Rust rule, written with the JavaScript kit (sdk/js/yagura-sdk): it
// passes the same cases (rules/office-spawns-shell/cases/) and reports the same findings, under
// its own rule id. Built by `cargo xtask build-rules` into target/rules/js-office-spawns-shell.wasm.

import { Batch, Config, NameSet, Params, basename, defineRule, finding } from 'yagura-sdk';

const RULE_ID = 'js-office-spawns-shell';

// Office applications whose children are suspicious.
const OFFICE = [
  'winword.exe',
  'excel.exe',
  'powerpnt.exe',
  'outlook.exe',
  'onenote.exe',
  'msaccess.exe',
  'mspub.exe',
  'visio.exe',
];

// Shells, script hosts and LOLBins a document has no business starting.
const SHELLS = [
  'cmd.exe',
  'powershell.exe',
  'pwsh.exe',
  'wscript.exe',
  'cscript.exe',
  'mshta.exe',
  'rundll32.exe',
  'regsvr32.exe',
  'certutil.exe',
  'bitsadmin.exe',
  'wmic.exe',
];

const PARAMS = new Params()
  .textList('extra_parents', 'more parent image names (basenames such as `hwp.exe`) to treat as Office')
  .textList('extra_children', 'more child image names (basenames such as `msbuild.exe`) to treat as shells');

// Built in `init`; module variables are the instance's cache (one instance per rule and tenant).
let parents = new NameSet(OFFICE);
let children = new NameSet(SHELLS);

// Launches only; an adapter that cannot tell says `unknown`.
const LAUNCH = new Set(['create', 'unknown']);

export const rule = defineRule({
  info() {
    return {
      id: RULE_ID,
      name: 'Office application starts a shell (JavaScript)',
      description:
        'An Office application (Word, Excel, PowerPoint, Outlook…) started a shell, a script ' +
        'host or a living-off-the-land binary, as a malicious macro does.',
      version: '0.1.0',
      severity: 'high',
      techniques: ['T1204.002', 'T1059'],
      subscriptions: ['process'],
      params: PARAMS.wit(),
    };
  },

  init(config) {
    const cfg = new Config(config, PARAMS);
    parents = new NameSet(OFFICE).extend(cfg.textList('extra_parents'));
    children = new NameSet(SHELLS).extend(cfg.textList('extra_children'));
  },

  onEvents(batch) {
    const out = [];
    for (const ev of new Batch(batch)) {
      if (!LAUNCH.has(ev.activity)) continue;
      // Office parents are the rarer match: test them first.
      const parent = ev.parentImage;
      if (!parents.containsPath(parent)) continue;
      const child = ev.processImage;
      if (children.containsPath(child)) out.push(report(ev, parent, child));
    }
    return out;
  },
});

/** The finding for a matching launch. */
function report(ev, parent, child) {
  const host = ev.hostname ?? '';
  const parentId = ev.parentGuid ?? (ev.parentPid ? String(ev.parentPid) : parent.toLowerCase());
  return finding(`${basename(parent)} started ${basename(child)}`)
    .description(
      `${parent} started ${child} on ${host || 'an unnamed host'}: Office applications do ` +
        'not start shells or script hosts unless a document told them to.',
    )
    .severity('high')
    .confidence(80)
    .technique('T1204.002', 'T1059')
    .event(ev)
    .dedupKey(`${host}|${parentId}`)
    .host(host)
    .user(ev.qualifiedUser)
    .process(ev.parentLabel, 'parent')
    .process(ev.processLabel, 'child')
    .context('parent_image', parent)
    .context('image', child)
    .context('cmd_line', ev.processCmdLine)
    .context('parent_cmd_line', ev.parentCmdLine)
    .build();
}
