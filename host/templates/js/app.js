// Rule `{{id}}`: PowerShell started with an encoded command (`-enc <base64>`), which hides what
// the script does (ATT&CK T1059.001, T1027).
//
// Scaffolded by `yagura rule new --lang js`: an example detection to replace with yours. Keep
// the cases in cases.toml in step with it; `yagura rule build` then `yagura rule test`.
//
// How the pieces fit (docs/writing-rules-js.md):
// - `export const rule` is the WIT interface `rule`: `info`, `init`, `onEvents`, `onTick`
//   (camelCase). `defineRule` turns exceptions into rule errors instead of traps.
// - `yagura-sdk` is the kit: `Batch`/`Event` views, matchers, state helpers, a finding builder.
//   `yagura rule build` stages it beside this file; there is nothing to `npm install`.
// - WIT enums and severities are strings (`'create'`, `'high'`); 64-bit integers are BigInts in
//   the raw records, Numbers in the kit's views (`ev.time`, `ev.seq`).
// - No stdout, clock or randomness: `console.log` goes nowhere; log with `log.info(...)`.

import { Batch, Config, ContainsAny, NameSet, Params, basename, defineRule, finding } from 'yagura-sdk';

const RULE_ID = '{{id}}';

// PowerShell hosts.
const POWERSHELL = ['powershell.exe', 'pwsh.exe'];

// Spellings of `-EncodedCommand` (PowerShell accepts any unambiguous prefix).
const ENCODED = new ContainsAny(['-enc', ' -e ', ' -ec ']);

const PARAMS = new Params().textList('extra_hosts', 'more PowerShell host images (basenames) to watch');

// Module variables are this instance's cache, rebuilt by `init`; lasting state belongs in the
// host (WindowedCounter, DistinctSet, markOnce from yagura-sdk).
let hosts = new NameSet(POWERSHELL);

export const rule = defineRule({
  info() {
    return {
      id: RULE_ID,
      name: 'Encoded PowerShell command',
      description: 'PowerShell was started with an encoded command (-EncodedCommand).',
      version: '0.1.0',
      severity: 'medium',
      techniques: ['T1059.001', 'T1027'],
      subscriptions: ['process'],
      params: PARAMS.wit(),
    };
  },

  init(config) {
    const cfg = new Config(config, PARAMS);
    hosts = new NameSet(POWERSHELL).extend(cfg.textList('extra_hosts'));
  },

  onEvents(batch) {
    const out = [];
    for (const ev of new Batch(batch)) {
      if (ev.activity !== 'create') continue;
      const image = ev.processImage;
      if (!hosts.containsPath(image)) continue;
      const cmd = ev.processCmdLine;
      if (!ENCODED.test(cmd)) continue;
      const host = ev.hostname ?? '';
      out.push(
        finding(`${basename(image)} ran an encoded command`)
          .description(`${image} was started with an encoded command on ${host}: \`${cmd}\``)
          .severity('medium')
          .confidence(70)
          .technique('T1059.001', 'T1027')
          .event(ev)
          .dedupKey(`${host}|${ev.processPid ?? 0}`)
          .context('cmd_line', cmd)
          .host(host)
          .user(ev.qualifiedUser)
          .process(ev.processLabel, 'actor')
          .process(ev.parentLabel, 'parent')
          .build(),
      );
    }
    return out;
  },

  onTick(watermark) {
    return [];
  },
});
