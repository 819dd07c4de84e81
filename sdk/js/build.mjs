#!/usr/bin/env node
// Builds a JavaScript rule into a WASI-free WebAssembly component with componentize-js.
//
//     node sdk/js/build.mjs SRC_DIR OUT.wasm [--wit FILE_OR_DIR]
//
// SRC_DIR holds the rule's `app.js` (the entry, which exports `rule`) and any modules it
// imports by relative path. The rule imports the kit as `yagura-sdk`: componentize-js has no
// package resolution, so this script stages the rule's .js/.mjs files and the kit
// (./yagura-sdk/) in a temporary folder and points `yagura-sdk` imports at the staged kit.
// The WIT defaults to this checkout's wit/types.wit; the world is `detection-rule`.
//
// Every componentize-js feature that needs WASI is disabled (stdio, random, clocks, http,
// fetch-event), so the component imports only yagura:detection/{log,state}: `console.log`,
// `Math.random` seeded at run time, `Date.now` and `fetch` are not available to a rule.

import { componentize } from '@bytecodealliance/componentize-js';
import { cp, mkdir, mkdtemp, readdir, readFile, rename, rm, writeFile } from 'node:fs/promises';
import { spawnSync } from 'node:child_process';
import { tmpdir } from 'node:os';
import { dirname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const HERE = dirname(fileURLToPath(import.meta.url));
const KIT = join(HERE, 'yagura-sdk');
const WORLD = 'detection-rule';
const DISABLED = ['stdio', 'random', 'clocks', 'http', 'fetch-event'];
const SKIP_DIRS = new Set(['node_modules', 'target']);
const SPECIFIER = /(\bfrom\s*|\bimport\s*\(\s*|\bimport\s+)(['"])yagura-sdk\2/g;

function usage(message) {
  console.error(`build.mjs: ${message}\nusage: node build.mjs SRC_DIR OUT.wasm [--wit FILE_OR_DIR]`);
  process.exit(2);
}

const args = process.argv.slice(2);
let wit = resolve(HERE, '..', '..', 'wit', 'types.wit');
const positional = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--wit') {
    if (i + 1 >= args.length) usage('--wit needs a path');
    wit = resolve(args[++i]);
  } else {
    positional.push(args[i]);
  }
}
if (positional.length !== 2) usage('expected SRC_DIR and OUT.wasm');
const src = resolve(positional[0]);
const out = resolve(positional[1]);

/** Copies the .js/.mjs files under `from` to `to`, pointing `yagura-sdk` imports at `kitEntry`. */
async function stage(from, to, kitEntry) {
  const entries = await readdir(from, { withFileTypes: true });
  for (const entry of entries) {
    const path = join(from, entry.name);
    const dest = join(to, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name) && !entry.name.startsWith('.')) {
        await stage(path, dest, kitEntry);
      }
    } else if (/\.m?js$/.test(entry.name)) {
      let rel = relative(dirname(dest), kitEntry).split(sep).join('/');
      if (!rel.startsWith('.')) rel = `./${rel}`;
      const text = (await readFile(path, 'utf8')).replace(SPECIFIER, `$1$2${rel}$2`);
      await mkdir(dirname(dest), { recursive: true });
      await writeFile(dest, text);
    }
  }
}

/** The rule's own .js/.mjs files under `dir`, for the syntax check. */
async function sources(dir) {
  const out = [];
  for (const entry of await readdir(dir, { withFileTypes: true })) {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) {
      if (!SKIP_DIRS.has(entry.name) && !entry.name.startsWith('.')) out.push(...(await sources(path)));
    } else if (/\.m?js$/.test(entry.name)) {
      out.push(path);
    }
  }
  return out;
}

/** Node's own syntax check of each source file, as ES modules: componentize-js reports a syntax
 * error without its place, Node names the file and line. Exits on the first error. */
async function checkSyntax(dir) {
  for (const file of await sources(dir)) {
    const r = spawnSync(process.execPath, ['--experimental-default-type=module', '--check', file], {
      encoding: 'utf8',
    });
    if (r.status !== 0) {
      console.error(`build.mjs: ${file} does not parse:\n${r.stderr.replace(/\nNode\.js v[\d.]+\s*$/, '').trim()}`);
      process.exit(1);
    }
  }
}

await checkSyntax(src);
const started = Date.now();
const work = await mkdtemp(join(tmpdir(), 'yagura-js-'));
try {
  const staged = join(work, 'src');
  await cp(KIT, join(staged, 'yagura-sdk'), { recursive: true });
  try {
    await stage(src, staged, join(staged, 'yagura-sdk', 'index.js'));
    await readFile(join(staged, 'app.js'));
  } catch (e) {
    throw new Error(`${src} has no app.js (the rule's entry module): ${e.message}`);
  }
  const { component } = await componentize({
    sourcePath: join(staged, 'app.js'),
    witPath: wit,
    worldName: WORLD,
    disableFeatures: DISABLED,
  });
  await mkdir(dirname(out), { recursive: true });
  const tmp = `${out}.tmp`;
  await writeFile(tmp, component);
  await rename(tmp, out);
  const kib = (component.length / 1024).toFixed(0);
  console.log(`componentized ${relative(process.cwd(), src) || '.'} -> ${out} (${kib} KiB, ${((Date.now() - started) / 1000).toFixed(1)} s)`);
} catch (e) {
  console.error(`build.mjs: cannot build ${src}: ${e.stack ?? e}`);
  process.exitCode = 1;
} finally {
  await rm(work, { recursive: true, force: true });
}
