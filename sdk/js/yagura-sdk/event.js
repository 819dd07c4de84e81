// Typed access to a batch of events: `new Batch(batch)` wraps the WIT `batch` that `onEvents`
// receives and yields an `Event` view per event.
//
// The WIT sends every text as a span (`{ start, len }`) into one byte blob per batch,
// `batch.strings` (a `Uint8Array`). The views decode a span only when a field is read, so a
// rule that looks at two fields of each event decodes two strings per event, not thirty.
// Numbers the WIT sends as 0 for "unknown" (pids, ports, codes) read as `undefined`.
//
// 64-bit integers: componentize-js gives WIT u64/s64 as `BigInt`. The views turn `time` and
// `seq` into `Number`s, exact up to 2^53 (ms times for 285,000 years from 1970; nine quadrillion
// events); `ev.raw` keeps the `BigInt`s. GUID and IPv6 halves are formatted from the
// `BigInt`s, never through `Number`.
//
//     for (const ev of new Batch(batch)) {
//       if (ev.eventClass === 'process' && shells.containsPath(ev.processImage)) { ... }
//     }
//
// Spans index their own batch only: keep decoded strings, never an `Event`, across calls.

import { basename } from './matchers.js';

const decoder = new TextDecoder();

// Bodies with a `src` endpoint, with a `dst` endpoint, and whose process is an actor-process.
const WITH_SRC = new Set(['authentication', 'network', 'file', 'dns', 'http']);
const WITH_DST = new Set(['network', 'dns', 'http']);
const WITH_ACTOR = new Set(['network', 'file', 'registry', 'dns', 'http', 'script']);

const MASK16 = 0xffffn;

function hex(n, width) {
  return n.toString(16).toUpperCase().padStart(width, '0');
}

/** A WIT `ip-address` as text: `10.0.0.5`, `fe80::1`. IPv4 is a u32 in network order, IPv6
 * two u64 halves (`BigInt`), most significant first. */
export function formatIp(ip) {
  if (ip == null) return undefined;
  if (ip.tag === 'v4') {
    const v = ip.val >>> 0;
    return `${v >>> 24}.${(v >>> 16) & 255}.${(v >>> 8) & 255}.${v & 255}`;
  }
  const [hi, lo] = ip.val;
  const words = [];
  for (const half of [BigInt(hi), BigInt(lo)]) {
    for (let shift = 48n; shift >= 0n; shift -= 16n) words.push(Number((half >> shift) & MASK16));
  }
  // RFC 5952: the longest run (of two or more) of zero words becomes `::`
  let best = -1;
  let bestLen = 1;
  for (let i = 0; i < 8; ) {
    if (words[i] !== 0) {
      i += 1;
      continue;
    }
    let j = i;
    while (j < 8 && words[j] === 0) j += 1;
    if (j - i > bestLen) {
      best = i;
      bestLen = j - i;
    }
    i = j;
  }
  const part = (ws) => ws.map((w) => w.toString(16)).join(':');
  if (best < 0) return part(words);
  return `${part(words.slice(0, best))}::${part(words.slice(best + bestLen))}`;
}

/** A WIT `guid` in the Windows form the host writes: `{5770385F-C22A-43E0-BF4C-06F5698FFBD9}`. */
export function formatGuid(guid) {
  if (guid == null) return undefined;
  const hi = BigInt(guid.hi);
  const lo = BigInt(guid.lo);
  return `{${hex(hi >> 32n, 8)}-${hex((hi >> 16n) & MASK16, 4)}-${hex(hi & MASK16, 4)}-${hex(
    lo >> 48n,
    4,
  )}-${hex(lo & 0xffffffffffffn, 12)}}`;
}

function nonzero(n) {
  return n ? n : undefined;
}

function label(image, pid) {
  const name = image ? basename(image) : undefined;
  if (name && pid) return `${name} (pid ${pid})`;
  if (name) return name;
  if (pid) return `pid ${pid}`;
  return undefined;
}

/** A batch of events as `onEvents` receives it; iterate it for `Event` views. `raw` is the WIT
 * record (`strings`, `events`, `attributes`), for what the views do not cover. */
export class Batch {
  constructor(raw) {
    this.raw = raw;
    this.strings = raw.strings;
  }

  get length() {
    return this.raw.events.length;
  }

  *[Symbol.iterator]() {
    const events = this.raw.events;
    for (let i = 0; i < events.length; i++) yield new Event(this, i, events[i]);
  }

  at(index) {
    const raw = this.raw.events[index];
    return raw === undefined ? undefined : new Event(this, index, raw);
  }

  /** Decodes a `text` span of this batch; `undefined` stays `undefined`. */
  text(span) {
    if (span == null) return undefined;
    return decoder.decode(this.strings.subarray(span.start, span.start + span.len));
  }

  /** The `[key, value]` attributes of the event at `index`, decoded. Attributes are ordered by
   * event index, so this is a binary search. */
  attributesOf(index) {
    const attrs = this.raw.attributes;
    let lo = 0;
    let hi = attrs.length;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if (attrs[mid].event < index) lo = mid + 1;
      else hi = mid;
    }
    const out = [];
    for (let i = lo; i < attrs.length && attrs[i].event === index; i++) {
      out.push([this.text(attrs[i].key) ?? '', this.text(attrs[i].value) ?? '']);
    }
    return out;
  }
}

/** A view of one event of a `Batch`: the header, the class, and the facts rules read most,
 * decoded on access. `raw` is the WIT `event` record and `body` its class's record. */
export class Event {
  constructor(batch, index, raw) {
    this.batch = batch;
    this.index = index;
    this.raw = raw;
  }

  text(span) {
    return this.batch.text(span);
  }

  // --- the header ---

  /** Ingest sequence number as a Number (exact below 2^53); `raw.seq` is the BigInt. */
  get seq() {
    return Number(this.raw.seq);
  }

  /** Event time, ms since the Unix epoch, UTC, as a Number. */
  get time() {
    return Number(this.raw.time);
  }

  /** `'create'`, `'logon'`, `'unknown'`… (the WIT enum's case names, kebab-case). */
  get activity() {
    return this.raw.activity;
  }

  /** `'success'`, `'failure'` or `'unknown'`. */
  get outcome() {
    return this.raw.outcome;
  }

  /** The source's event code (Windows EventID, Sysmon id); `undefined` when 0. */
  get code() {
    return nonzero(this.raw.code);
  }

  get hostname() {
    return this.text(this.raw.hostname);
  }

  /** The event's class, the case of its body: `'process'`, `'authentication'`… */
  get eventClass() {
    return this.raw.body.tag;
  }

  /** The class's record (`authentication`, `process-activity`…); `undefined` for `other`. */
  get body() {
    return this.raw.body.val;
  }

  // --- processes ---

  /** The launched, ended or accessed process with its parent (process events only). */
  get process() {
    const body = this.raw.body;
    return body.tag === 'process' ? body.val.process : undefined;
  }

  /** The process behind a network, file, registry, DNS, HTTP or script event. */
  get actorProcess() {
    const body = this.raw.body;
    return WITH_ACTOR.has(body.tag) ? body.val.process : undefined;
  }

  /** The image path of the event's process: the launched one, else the actor. */
  get processImage() {
    const p = this.process ?? this.actorProcess;
    return p ? this.text(p.image) : undefined;
  }

  get processCmdLine() {
    const p = this.process;
    return p ? this.text(p.cmdLine) : undefined;
  }

  get processPid() {
    const p = this.process ?? this.actorProcess;
    return p ? nonzero(p.pid) : undefined;
  }

  /** The process GUID in its Windows form (`{…}`). */
  get processGuid() {
    const p = this.process ?? this.actorProcess;
    return p ? formatGuid(p.guid) : undefined;
  }

  get parentImage() {
    const p = this.process;
    return p ? this.text(p.parentImage) : undefined;
  }

  get parentCmdLine() {
    const p = this.process;
    return p ? this.text(p.parentCmdLine) : undefined;
  }

  get parentPid() {
    const p = this.process;
    return p ? nonzero(p.parentPid) : undefined;
  }

  get parentGuid() {
    const p = this.process;
    return p ? formatGuid(p.parentGuid) : undefined;
  }

  /** `cmd.exe (pid 42)`: the image's basename and pid, as the Rust SDK labels processes. */
  get processLabel() {
    return label(this.processImage, this.processPid);
  }

  get parentLabel() {
    return label(this.parentImage, this.parentPid);
  }

  // --- the user ---

  /** The body's account: who logged on, runs the process, opened the file… */
  get user() {
    const body = this.raw.body;
    return body.tag === 'other' ? undefined : (body.val.user ?? undefined);
  }

  get userName() {
    const u = this.user;
    return u ? this.text(u.name) : undefined;
  }

  get userDomain() {
    const u = this.user;
    return u ? this.text(u.domain) : undefined;
  }

  /** `DOMAIN\name`, or `name` without a domain. */
  get qualifiedUser() {
    const name = this.userName;
    if (!name) return undefined;
    const domain = this.userDomain;
    return domain ? `${domain}\\${name}` : name;
  }

  // --- endpoints ---

  get src() {
    const body = this.raw.body;
    return WITH_SRC.has(body.tag) ? body.val.src : undefined;
  }

  get dst() {
    const body = this.raw.body;
    return WITH_DST.has(body.tag) ? body.val.dst : undefined;
  }

  get srcIp() {
    return formatIp(this.src?.ip);
  }

  get srcPort() {
    return nonzero(this.src?.port);
  }

  get srcHostname() {
    return this.text(this.src?.hostname);
  }

  get dstIp() {
    return formatIp(this.dst?.ip);
  }

  get dstPort() {
    return nonzero(this.dst?.port);
  }

  get dstHostname() {
    return this.text(this.dst?.hostname);
  }

  // --- attributes ---

  /** The value of the first attribute named `key` (ignoring case): `source.channel`,
   * `device.domain`, `process.cwd`… (docs/wit.md lists them). */
  attribute(key) {
    const want = key.toLowerCase();
    for (const [k, v] of this.batch.attributesOf(this.index)) {
      if (k.toLowerCase() === want) return v;
    }
    return undefined;
  }

  /** Every attribute of the event as decoded `[key, value]` pairs. */
  attributes() {
    return this.batch.attributesOf(this.index);
  }
}
