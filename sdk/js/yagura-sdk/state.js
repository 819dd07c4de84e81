// Helpers over the host's `state` import: windowed counters, windowed distinct sets and
// markers with expiry, all in event time.
//
// State lives in the host, not in the guest: it survives a trap, a fresh instance and a new
// rule version, and every batch sees it. Module variables are a cache only. Keys are the
// rule's own (the host scopes them by rule and tenant); a key holds one kind of state, so give
// each helper its own prefix.
//
// A state error (`quota-exceeded`, `too-large`, `invalid`) is thrown as a `RuleError`
// (`state: quota-exceeded (counter `fail:10.0.0.5`)`), which fails the call with that message
// rather than trapping.
//
// 64-bit integers: times are s64 ms and windows u64 ms. The helpers take Numbers (or BigInts)
// and return Numbers. componentize-js wraps an out-of-range 64-bit value silently (it does not
// trap), so the helpers clamp the times they compute (`at + window`) to the s64 range.

import * as host from 'yagura:detection/state@0.1.0';

import { RuleError } from './rule.js';

export const S64_MAX = (1n << 63n) - 1n;
export const S64_MIN = -(1n << 63n);
const U64_MAX = (1n << 64n) - 1n;

/** `n` (a Number or BigInt integer) as a BigInt clamped to the WIT s64 range. */
export function clampS64(n) {
  const v = typeof n === 'bigint' ? n : BigInt(Math.trunc(Number(n)));
  return v < S64_MIN ? S64_MIN : v > S64_MAX ? S64_MAX : v;
}

function windowMs({ ms = 0, seconds = 0, minutes = 0 }) {
  const total = BigInt(Math.trunc(ms)) + BigInt(seconds) * 1000n + BigInt(minutes) * 60000n;
  if (total <= 0n) throw new RuleError(`a window must be at least 1 ms, got ${total}`);
  return total > U64_MAX ? U64_MAX : total;
}

function stateError(e, what, key) {
  // componentize-js throws a ComponentError whose `payload` is the WIT enum case's name
  const payload = e && Object.prototype.hasOwnProperty.call(e, 'payload') ? e.payload : e;
  return new RuleError(`state: ${payload} (${what} \`${key}\`)`);
}

/** A sum over a sliding window of event time, per key:
 * `const fails = new WindowedCounter('fail:', { minutes: 5 })`, then
 * `fails.add(src, ev.time)` returns the count in the window, as a Number. */
export class WindowedCounter {
  constructor(prefix, window = {}) {
    this.prefix = prefix;
    this.windowMs = windowMs(window);
  }

  /** Adds `delta` at event time `at`; returns the sum over the window. */
  add(key, at, delta = 1) {
    const full = this.prefix + key;
    try {
      return Number(host.counterAdd(full, clampS64(at), this.windowMs, clampS64(delta)));
    } catch (e) {
      throw stateError(e, 'counter', full);
    }
  }

  /** The sum over the window, without adding. */
  sum(key, at) {
    return Number(host.counterSum(this.prefix + key, clampS64(at), this.windowMs));
  }
}

/** Distinct items seen per key in a sliding window of event time:
 * `const targets = new DistinctSet('dst:', { minutes: 10 })`, then
 * `targets.add(src, dst, ev.time)` returns how many distinct items `src` has in the window. */
export class DistinctSet {
  constructor(prefix, window = {}) {
    this.prefix = prefix;
    this.windowMs = windowMs(window);
  }

  /** Records `item` at event time `at`; returns the distinct count in the window. */
  add(key, item, at) {
    const full = this.prefix + key;
    try {
      return host.distinctAdd(full, String(item), clampS64(at), this.windowMs);
    } catch (e) {
      throw stateError(e, 'distinct set', full);
    }
  }

  /** `{ count, items }`: the distinct count and up to `limit` items, most recent first. The
   * items are copied into the guest: keep this off the per-event path. */
  items(key, at, limit = 10) {
    const [count, items] = host.distinctItems(this.prefix + key, clampS64(at), this.windowMs, limit);
    return { count, items };
  }
}

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** True the first time `key` is marked, then false until the mark expires `expiresInMs` after
 * `at` (event time). The usual "report once per window" guard:
 * `if (count >= threshold && markOnce('fired:' + src, ev.time, windowMs)) { ... }` */
export function markOnce(key, at, expiresInMs) {
  if (get(key, at) !== undefined) return false;
  setValue(key, ONE, clampS64(at) + clampS64(Math.max(0, Number(expiresInMs))));
  return true;
}
const ONE = new Uint8Array([0x31]);

/** The bytes (`Uint8Array`) under `key`, unless they expired by event time `at`. */
export function get(key, at) {
  return host.get(key, clampS64(at)) ?? undefined;
}

/** The text under `key` (UTF-8), unless it expired by event time `at`. */
export function getText(key, at) {
  const bytes = get(key, at);
  return bytes === undefined ? undefined : decoder.decode(bytes);
}

/** Stores `value` (a `Uint8Array` or a string, stored as UTF-8) under `key` until event time
 * passes `expiresAt` (clamped to s64). */
export function setValue(key, value, expiresAt) {
  const bytes = typeof value === 'string' ? encoder.encode(value) : value;
  try {
    host.set(key, bytes, clampS64(expiresAt));
  } catch (e) {
    throw stateError(e, 'value', key);
  }
}

/** Removes `key`, of any kind of state. */
export function remove(key) {
  host.remove(key);
}
