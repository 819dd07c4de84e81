// Building findings: `finding(title)` returns a `FindingBuilder`; chain what you know and call
// `build()` for the WIT `finding` record.
//
//     finding(`${parent} started ${child}`)
//       .severity('high').confidence(80)
//       .technique('T1204.002', 'T1059')
//       .event(ev)                                 // evidence: ev's seq; time: ev's time
//       .host(ev.hostname)
//       .process(ev.parentLabel, 'parent')
//       .context('cmd_line', ev.processCmdLine)
//       .dedupKey(`${host}|${parentId}`)
//       .build()
//
// Entities and context entries whose value is `undefined`, `null` or empty are skipped, so
// optional event fields can be passed straight in. ATT&CK ids are checked (`T1059`,
// `T1021.002`) and severities too: a wrong one throws a `RuleError` that names it.

import { RuleError } from './rule.js';
import { clampS64 } from './state.js';

const TECHNIQUE = /^T\d{4}(\.\d{3})?$/;
export const SEVERITIES = ['informational', 'low', 'medium', 'high', 'critical'];
export const ENTITY_KINDS = ['host', 'user', 'ip', 'process', 'file', 'other'];

/** A finding under construction. Defaults: severity medium, confidence 50, time 0 (set it, or
 * use `event(ev)`), dedup key the title. */
export class FindingBuilder {
  constructor(title) {
    this.f = {
      title: String(title),
      description: '',
      severity: 'medium',
      confidence: 50,
      techniques: [],
      entities: [],
      evidence: [],
      dedupKey: undefined,
      time: 0n,
      context: [],
    };
  }

  description(text) {
    this.f.description = String(text);
    return this;
  }

  /** `'informational'`, `'low'`, `'medium'`, `'high'` or `'critical'`. */
  severity(severity) {
    if (!SEVERITIES.includes(severity)) {
      throw new RuleError(
        `finding \`${this.f.title}\`: \`${severity}\` is not a severity (${SEVERITIES.join(', ')})`,
      );
    }
    this.f.severity = severity;
    return this;
  }

  /** 0 to 100; clamped. */
  confidence(confidence) {
    this.f.confidence = Math.max(0, Math.min(100, Math.trunc(Number(confidence)) || 0));
    return this;
  }

  /** MITRE ATT&CK technique ids: `T1059`, `T1021.002`. */
  technique(...ids) {
    for (const id of ids) {
      if (!TECHNIQUE.test(id)) {
        throw new RuleError(
          `finding \`${this.f.title}\`: \`${id}\` is not an ATT&CK technique id (T1234 or T1234.001)`,
        );
      }
      if (!this.f.techniques.includes(id)) this.f.techniques.push(id);
    }
    return this;
  }

  /** An entity of any kind; skipped when `value` is `undefined`, `null` or empty. */
  entity(kind, value, role) {
    if (!ENTITY_KINDS.includes(kind)) {
      throw new RuleError(
        `finding \`${this.f.title}\`: \`${kind}\` is not an entity kind (${ENTITY_KINDS.join(', ')})`,
      );
    }
    if (value != null && value !== '') {
      this.f.entities.push({ kind, value: String(value), role: role ?? undefined });
    }
    return this;
  }

  host(name, role) {
    return this.entity('host', name, role);
  }

  user(name, role) {
    return this.entity('user', name, role);
  }

  ip(address, role) {
    return this.entity('ip', address, role);
  }

  process(label, role) {
    return this.entity('process', label, role);
  }

  file(path, role) {
    return this.entity('file', path, role);
  }

  /** `seq` of the events that support the finding (Numbers or BigInts). */
  evidence(...seqs) {
    for (const seq of seqs) {
      const big = BigInt(seq);
      if (!this.f.evidence.includes(big)) this.f.evidence.push(big);
    }
    return this;
  }

  /** Cites an `Event`: adds its exact (BigInt) `seq` as evidence and takes its time. */
  event(ev) {
    this.evidence(ev.raw.seq);
    this.f.time = BigInt(ev.raw.time);
    return this;
  }

  /** Event time of the finding, ms since the Unix epoch (clamped to s64). */
  time(ms) {
    this.f.time = clampS64(ms);
    return this;
  }

  /** Findings of this rule with the same key are one alert, updated. */
  dedupKey(key) {
    this.f.dedupKey = String(key);
    return this;
  }

  /** A key/value fact shown with the alert; skipped when `value` is `undefined` or `null`. */
  context(key, value) {
    if (value != null) this.f.context.push([String(key), String(value)]);
    return this;
  }

  /** The WIT `finding` record. */
  build() {
    return { ...this.f, dedupKey: this.f.dedupKey ?? this.f.title };
  }
}

/** Starts a finding with its title. */
export function finding(title) {
  return new FindingBuilder(title);
}
