// Matching names, paths and command lines, ignoring case.
//
// Build matchers once (at module level or in `init`) and use them per event: names and needles
// are lower-cased once, so a per-event check costs one `toLowerCase()` of the event's text and
// a `Set` lookup or substring search. Windows paths and command lines are case-insensitive.

/** The last component of a Windows or POSIX path: `basename('C:\\Windows\\cmd.exe')` is
 * `'cmd.exe'`; a name without a separator is returned as is. */
export function basename(path) {
  const cut = Math.max(path.lastIndexOf('\\'), path.lastIndexOf('/'));
  return cut >= 0 ? path.slice(cut + 1) : path;
}

export function eqIgnoreCase(a, b) {
  return a.toLowerCase() === b.toLowerCase();
}

export function startsWithIgnoreCase(text, prefix) {
  return text.toLowerCase().startsWith(prefix.toLowerCase());
}

export function endsWithIgnoreCase(text, suffix) {
  return text.toLowerCase().endsWith(suffix.toLowerCase());
}

/** Whether any of `needles` occurs in `text`, ignoring case. For a fixed list, build a
 * `ContainsAny` once instead. */
export function containsAny(text, needles) {
  const low = text.toLowerCase();
  return needles.some((n) => low.includes(n.toLowerCase()));
}

/** A set of file names (basenames), matched ignoring case:
 * `new NameSet(['cmd.exe']).containsPath('C:\\Windows\\System32\\CMD.EXE') === true`. */
export class NameSet {
  constructor(names = []) {
    this.names = new Set();
    this.extend(names);
  }

  /** Adds a name; a path is reduced to its basename. */
  add(name) {
    const base = basename(String(name));
    if (base) this.names.add(base.toLowerCase());
    return this;
  }

  extend(names) {
    for (const name of names) this.add(name);
    return this;
  }

  /** Whether `name` (a basename) is in the set; `undefined` is not. */
  contains(name) {
    return name != null && this.names.has(name.toLowerCase());
  }

  /** Whether the basename of `path` is in the set; `undefined` is not. */
  containsPath(path) {
    return path != null && this.names.has(basename(path).toLowerCase());
  }

  get size() {
    return this.names.size;
  }
}

/** Substrings looked for in a text, ignoring case: `new ContainsAny(['-enc', ' -e '])`.
 * `match(text)` returns the first needle found (as given) or `undefined`; `test(text)` the
 * yes/no answer. */
export class ContainsAny {
  constructor(needles) {
    this.needles = needles.filter((n) => n).map((n) => [n.toLowerCase(), n]);
  }

  match(text) {
    if (!text) return undefined;
    const low = text.toLowerCase();
    for (const [needle, original] of this.needles) {
      if (low.includes(needle)) return original;
    }
    return undefined;
  }

  test(text) {
    return this.match(text) !== undefined;
  }
}
