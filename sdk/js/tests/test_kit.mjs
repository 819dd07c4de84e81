// Unit tests of the JavaScript kit in plain Node.js (20+), with the host's imports faked by
// ./fake-host.mjs: `node sdk/js/tests/test_kit.mjs`. No npm packages needed.

import assert from 'node:assert/strict';
import { register } from 'node:module';
import { test } from 'node:test';

register('./fake-host.mjs', import.meta.url);
const kit = await import('../yagura-sdk/index.js');
const {
  Batch, Config, ContainsAny, NameSet, Params, RuleError, WindowedCounter, basename, defineRule,
  finding, formatGuid, formatIp, markOnce, log,
} = kit;

const enc = new TextEncoder();

/** A WIT batch of one process event, its texts in one blob, as componentize-js lowers it. */
function processBatch() {
  let blob = '';
  const span = (s) => {
    const start = enc.encode(blob).length;
    blob += s;
    return { start, len: enc.encode(s).length };
  };
  const raw = {
    events: [
      {
        seq: 42n,
        time: 1715677200000n,
        activity: 'create',
        outcome: 'unknown',
        code: 1,
        hostname: span('WS01'),
        body: {
          tag: 'process',
          val: {
            process: {
              pid: 6200,
              guid: { hi: 0x5770385fc22a43e0n, lo: 0xbf4c06f5698ffbd9n },
              image: span('C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe'),
              cmdLine: span('powershell -enc AAAA — ü'),
              hashes: undefined,
              integrity: 'medium',
              parentPid: 0,
              parentGuid: undefined,
              parentImage: span('C:\\Program Files\\Office\\WINWORD.EXE'),
              parentCmdLine: undefined,
            },
            user: { name: span('alice'), domain: span('CORP'), sid: undefined, logonId: 0n },
            target: undefined,
          },
        },
      },
    ],
    attributes: [],
  };
  raw.attributes.push({ event: 0, key: span('source.channel'), value: span('Sysmon') });
  raw.strings = enc.encode(blob);
  return raw;
}

test('event views decode spans and turn 64-bit header fields into Numbers', () => {
  const [ev] = [...new Batch(processBatch())];
  assert.equal(ev.seq, 42);
  assert.equal(ev.time, 1715677200000);
  assert.equal(ev.eventClass, 'process');
  assert.equal(ev.hostname, 'WS01');
  assert.equal(ev.processCmdLine, 'powershell -enc AAAA — ü');
  assert.equal(ev.processLabel, 'powershell.exe (pid 6200)');
  assert.equal(ev.parentLabel, 'WINWORD.EXE');
  assert.equal(ev.parentPid, undefined);
  assert.equal(ev.qualifiedUser, 'CORP\\alice');
  assert.equal(ev.processGuid, '{5770385F-C22A-43E0-BF4C-06F5698FFBD9}');
  assert.equal(ev.attribute('Source.Channel'), 'Sysmon');
  assert.equal(ev.srcIp, undefined);
});

test('addresses and GUIDs format like the host', () => {
  assert.equal(formatIp({ tag: 'v4', val: 0x0a000042 }), '10.0.0.66');
  assert.equal(formatIp({ tag: 'v6', val: [0xfe80000000000000n, 1n] }), 'fe80::1');
  assert.equal(formatIp({ tag: 'v6', val: [0n, 0n] }), '::');
  assert.equal(formatIp({ tag: 'v6', val: [0x20010db800000000n, 0x0001000000000001n] }), '2001:db8::1:0:0:1');
  assert.equal(formatGuid(undefined), undefined);
});

test('matchers ignore case', () => {
  const shells = new NameSet(['cmd.exe', 'PowerShell.exe']);
  assert.ok(shells.containsPath('C:\\Windows\\System32\\CMD.EXE'));
  assert.ok(!shells.containsPath('C:\\x\\cmd.exe.bak'));
  assert.ok(!shells.containsPath(undefined));
  assert.equal(basename('a/b\\c.exe'), 'c.exe');
  const enc = new ContainsAny(['-enc', ' -e ']);
  assert.equal(enc.match('POWERSHELL -ENC x'), '-enc');
  assert.ok(!enc.test(undefined));
});

test('findings: evidence and time stay exact BigInts, empty entities are skipped', () => {
  const [ev] = [...new Batch(processBatch())];
  const f = finding('t')
    .severity('high')
    .technique('T1059', 'T1059.001', 'T1059')
    .event(ev)
    .host(ev.hostname)
    .user(undefined)
    .process(ev.processLabel, 'actor')
    .context('missing', undefined)
    .context('n', 3)
    .build();
  assert.deepEqual(f.evidence, [42n]);
  assert.equal(f.time, 1715677200000n);
  assert.deepEqual(f.techniques, ['T1059', 'T1059.001']);
  assert.deepEqual(f.entities.map((e) => `${e.kind}:${e.value}/${e.role}`), [
    'host:WS01/undefined',
    'process:powershell.exe (pid 6200)/actor',
  ]);
  assert.deepEqual(f.context, [['n', '3']]);
  assert.equal(f.dedupKey, 't');
  assert.throws(() => finding('t').technique('T59'), /`T59` is not an ATT&CK technique id/);
  assert.throws(() => finding('t').severity('severe'), /`severe` is not a severity/);
});

test('config errors name the parameter', () => {
  const params = new Params().integer('threshold', 'd', 5).textList('extra', 'd');
  assert.deepEqual(params.wit()[0].default, { tag: 'integer', val: 5n });
  const cfg = new Config([['threshold', { tag: 'integer', val: 7n }]], params);
  assert.equal(cfg.integer('threshold', { min: 1 }), 7);
  assert.deepEqual(cfg.textList('extra'), []);
  assert.throws(() => new Config([['nope', { tag: 'boolean', val: true }]], params), /nope: unknown parameter \(parameters: extra, threshold\)/);
  const zero = new Config([['threshold', { tag: 'integer', val: 0n }]], params);
  assert.throws(() => zero.integer('threshold', { min: 1 }), /threshold: must be at least 1, got 0/);
  assert.throws(() => cfg.text('threshold'), /threshold: expected a text, got an integer/);
});

test('state helpers pass BigInts to the host and return Numbers', () => {
  const fails = new WindowedCounter('fail:', { minutes: 5 });
  assert.equal(fails.add('10.0.0.5', 1000), 1);
  assert.equal(fails.add('10.0.0.5', 2000), 2);
  assert.equal(fails.add('10.0.0.5', 2000 + 5 * 60000), 1);
  assert.ok(markOnce('fired', 1000, 60000));
  assert.ok(!markOnce('fired', 2000, 60000));
  assert.ok(markOnce('fired', 70000, 60000));
  assert.ok(markOnce('far', Number.MAX_SAFE_INTEGER, Number.MAX_SAFE_INTEGER)); // clamped, no wrap
  globalThis.__yaguraState.quota = 0;
  assert.throws(() => fails.add('other', 1), (e) => e instanceof RuleError && e.payload === 'state: quota-exceeded (counter `fail:other`)');
  globalThis.__yaguraState.quota = Infinity;
});

test('defineRule: errors carry a payload; init and onTick are optional', () => {
  const rule = defineRule({
    info: () => ({ id: 'r' }),
    onEvents() {
      return null.x;
    },
  });
  rule.init([]);
  assert.deepEqual(rule.onTick(5n), []);
  assert.throws(() => rule.onEvents({}), (e) => e instanceof RuleError && /^onEvents: TypeError: /.test(e.payload));
  log.warn('careful');
  assert.deepEqual(globalThis.__yaguraLog.at(-1), ['warn', 'careful']);
});
