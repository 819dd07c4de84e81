// yagura-sdk: the JavaScript kit for Yagura detection rules.
//
// Used inside componentize-js guests built against the WIT world
// `yagura:detection/detection-rule@0.1.0` (wit/types.wit). An ES module with no dependencies
// beyond the host's `yagura:detection/{log,state}@0.1.0` imports, which componentize-js
// provides. A rule imports it as `yagura-sdk`; `sdk/js/build.mjs` (run by `yagura rule build`
// and `cargo xtask build-rules`) stages it beside the rule and points the import at it.
//
// # Layout
// - `rule`: `defineRule` (the `rule` export, exceptions turned into rule errors), `RuleError`,
//   `log`.
// - `event`: `Batch` and `Event`, typed access to the batch's events with their text spans
//   decoded on demand; `formatIp`, `formatGuid`.
// - `matchers`: `basename`, `NameSet`, `ContainsAny`, case-insensitive comparisons.
// - `state`: `WindowedCounter`, `DistinctSet`, `markOnce` and the raw key/value store over the
//   host's `state` import, in event time; state errors become `RuleError`s.
// - `finding`: `FindingBuilder` (`finding('title')…build()`) with ATT&CK ids, entities with
//   roles, evidence, context and a dedup key.
// - `config`: typed parameters (`Params`) and typed reading of `init`'s config (`Config`).
//
// 64-bit integers: componentize-js gives WIT u64/s64 as BigInt. The kit hands out Numbers where
// they are exact (event time, seq, counter sums, integer parameters) and takes Numbers or
// BigInts; see each module.

export { Config, Params } from './config.js';
export { Batch, Event, formatGuid, formatIp } from './event.js';
export { ENTITY_KINDS, FindingBuilder, SEVERITIES, finding } from './finding.js';
export {
  ContainsAny,
  NameSet,
  basename,
  containsAny,
  endsWithIgnoreCase,
  eqIgnoreCase,
  startsWithIgnoreCase,
} from './matchers.js';
export { RuleError, defineRule, log } from './rule.js';
export {
  DistinctSet,
  S64_MAX,
  S64_MIN,
  WindowedCounter,
  clampS64,
  get,
  getText,
  markOnce,
  remove,
  setValue,
} from './state.js';
