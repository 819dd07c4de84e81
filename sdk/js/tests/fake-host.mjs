// A Node.js module hook that stands in for the host's imports, so that the kit's unit tests run
// in plain Node (no component, no host): `yagura:detection/state@0.1.0` becomes an in-memory
// store on `globalThis.__yaguraState`, `yagura:detection/log@0.1.0` a recorder.

const STATE = `
const s = (globalThis.__yaguraState ??= { values: new Map(), counters: new Map(), quota: Infinity });
class ComponentError extends Error {
  constructor(value) { super(String(value)); Object.defineProperty(this, 'payload', { value }); }
}
const check = (n, what) => { if (typeof n !== 'bigint') throw new TypeError(what + ' must be a BigInt'); };
export function counterAdd(key, at, windowMs, delta) {
  check(at, 'at'); check(windowMs, 'window'); check(delta, 'delta');
  if (s.counters.size >= s.quota && !s.counters.has(key)) throw new ComponentError('quota-exceeded');
  const list = s.counters.get(key) ?? [];
  list.push([at, delta]);
  s.counters.set(key, list);
  return counterSum(key, at, windowMs);
}
export function counterSum(key, at, windowMs) {
  const list = s.counters.get(key) ?? [];
  const t = list.reduce((m, [a]) => (a > m ? a : m), at);
  return list.filter(([a]) => a > t - windowMs && a <= t).reduce((n, [, d]) => n + d, 0n);
}
export function distinctAdd() { return 0; }
export function distinctItems() { return [0, []]; }
export function get(key, at) {
  check(at, 'at');
  const v = s.values.get(key);
  return v && v[1] >= at ? v[0] : undefined;
}
export function set(key, value, expiresAt) {
  check(expiresAt, 'expiresAt');
  if (!(value instanceof Uint8Array)) throw new TypeError('value must be bytes');
  s.values.set(key, [value, expiresAt]);
}
export function remove(key) { s.values.delete(key); s.counters.delete(key); }
`;

const LOG = `
export const lines = (globalThis.__yaguraLog ??= []);
export function log(level, message) { lines.push([level, message]); }
`;

const MODULES = {
  'yagura:detection/state@0.1.0': STATE,
  'yagura:detection/log@0.1.0': LOG,
};

export async function resolve(specifier, context, next) {
  if (specifier in MODULES) {
    return { url: `data:text/javascript,${encodeURIComponent(MODULES[specifier])}`, shortCircuit: true };
  }
  return next(specifier, context);
}
