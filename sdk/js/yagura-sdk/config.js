// Rule parameters and the config `init` receives, typed.
//
// Declare the parameters once; `info()` returns `PARAMS.wit()` and `init(config)` reads them
// through a `Config`, which overlays the config on the defaults and throws a `RuleError`
// naming the parameter when a value is unknown, of the wrong type or out of range:
//
//     const PARAMS = new Params().integer('threshold', 'failures that raise a finding', 5);
//     init(config) { threshold = new Config(config, PARAMS).integer('threshold', { min: 1 }); }
//
// WIT `value` cases are `{ tag, val }` objects; `integer` is an s64, a BigInt in
// componentize-js. `Config.integer` returns a Number and refuses one beyond 2^53 (use
// `bigint(name)` for those).

import { RuleError } from './rule.js';

const TYPE_NAMES = {
  boolean: 'a boolean',
  integer: 'an integer',
  float: 'a float',
  text: 'a text',
  'text-list': 'a list of texts',
};

/** The parameters a rule accepts, with their descriptions and defaults (chainable). */
export class Params {
  constructor() {
    this.params = [];
  }

  add(name, description, tag, val) {
    this.params.push({ name, description, default: { tag, val } });
    return this;
  }

  boolean(name, description, fallback = false) {
    return this.add(name, description, 'boolean', Boolean(fallback));
  }

  integer(name, description, fallback = 0) {
    const v = typeof fallback === 'bigint' ? fallback : BigInt(Math.trunc(fallback));
    return this.add(name, description, 'integer', v);
  }

  float(name, description, fallback = 0) {
    return this.add(name, description, 'float', Number(fallback));
  }

  text(name, description, fallback = '') {
    return this.add(name, description, 'text', String(fallback));
  }

  textList(name, description, fallback = []) {
    return this.add(name, description, 'text-list', fallback.map(String));
  }

  /** The WIT `param` list for `info()`'s `params`. */
  wit() {
    return this.params.slice();
  }
}

/** `init`'s config (a list of `[name, value]`) overlaid on the parameters' defaults. Unknown
 * names are refused. */
export class Config {
  constructor(config, params) {
    this.values = new Map(params.wit().map((p) => [p.name, p.default]));
    for (const [name, value] of config) {
      if (!this.values.has(name)) {
        const known = [...this.values.keys()].sort().join(', ') || 'none';
        throw new RuleError(`${name}: unknown parameter (parameters: ${known})`);
      }
      this.values.set(name, value);
    }
  }

  get(name, tag) {
    const value = this.values.get(name);
    if (value === undefined) throw new RuleError(`${name}: no such parameter`);
    if (value.tag !== tag) {
      const got = TYPE_NAMES[value.tag] ?? 'another type';
      throw new RuleError(`${name}: expected ${TYPE_NAMES[tag]}, got ${got}`);
    }
    return value.val;
  }

  boolean(name) {
    return this.get(name, 'boolean');
  }

  /** An integer parameter as a Number, checked against `min` and `max` when given. */
  integer(name, { min, max } = {}) {
    const big = this.bigint(name);
    if (big > BigInt(Number.MAX_SAFE_INTEGER) || big < BigInt(Number.MIN_SAFE_INTEGER)) {
      throw new RuleError(`${name}: ${big} is too large for this rule (at most 2^53)`);
    }
    const n = Number(big);
    if (min !== undefined && n < min) throw new RuleError(`${name}: must be at least ${min}, got ${n}`);
    if (max !== undefined && n > max) throw new RuleError(`${name}: must be at most ${max}, got ${n}`);
    return n;
  }

  /** An integer parameter as the exact BigInt. */
  bigint(name) {
    return BigInt(this.get(name, 'integer'));
  }

  float(name) {
    return this.get(name, 'float');
  }

  text(name) {
    return this.get(name, 'text');
  }

  textList(name) {
    return this.get(name, 'text-list');
  }
}
