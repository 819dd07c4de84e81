// Defining the exported `rule` interface, failing a call with a readable message, and logging.
//
// componentize-js turns what an export throws into the WIT `result`'s error only when the
// thrown value is not an `Error` (or carries a `payload`); a plain `Error` traps the call.
// `defineRule` wraps the four functions so that any exception becomes a rule error with its
// message, and `RuleError` is the error to throw on purpose.

import { log as hostLog } from 'yagura:detection/log@0.1.0';

/** An expected failure: thrown from `init`, `onEvents` or `onTick`, it fails the call with
 * `message` (componentize-js reads the `payload`), instead of trapping. */
export class RuleError extends Error {
  constructor(message) {
    super(message);
    this.name = 'RuleError';
    Object.defineProperty(this, 'payload', { value: message, enumerable: false });
  }
}

function asRuleError(e, where) {
  if (e instanceof RuleError) return e;
  const text = e instanceof Error ? `${e.name}: ${e.message}` : String(e);
  return new RuleError(`${where}: ${text}`);
}

/**
 * The `rule` export: `export const rule = defineRule({ info, init, onEvents, onTick })`.
 *
 * `init` and `onTick` may be left out (no parameters; nothing times out). An exception in
 * `init`, `onEvents` or `onTick` fails that call with its message (a rule error the host counts
 * as a fault) rather than trapping the instance.
 */
export function defineRule({ info, init, onEvents, onTick }) {
  if (typeof info !== 'function' || typeof onEvents !== 'function') {
    throw new TypeError('defineRule needs at least `info` and `onEvents` functions');
  }
  return {
    info() {
      return info();
    },
    init(config) {
      try {
        if (init) init(config);
      } catch (e) {
        throw asRuleError(e, 'init');
      }
    },
    onEvents(batch) {
      try {
        return onEvents(batch) ?? [];
      } catch (e) {
        throw asRuleError(e, 'onEvents');
      }
    },
    onTick(watermark) {
      try {
        return onTick ? onTick(Number(watermark)) ?? [] : [];
      } catch (e) {
        throw asRuleError(e, 'onTick');
      }
    },
  };
}

/** Logs to the operator's log, tagged with the rule id by the host. `console.log` goes
 * nowhere: the component is built without stdio. */
export const log = {
  trace: (message) => hostLog('trace', String(message)),
  debug: (message) => hostLog('debug', String(message)),
  info: (message) => hostLog('info', String(message)),
  warn: (message) => hostLog('warn', String(message)),
  error: (message) => hostLog('error', String(message)),
};
