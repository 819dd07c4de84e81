"""Matching names, paths and command lines, ignoring case.

Build matchers once (in `init` or at module level) and use them per event: the sets and needles
are lower-cased once, so a per-event check costs one `lower()` of the event's text and a set or
substring lookup. Windows paths and command lines are case-insensitive. Python's `str.lower()`
folds non-ASCII letters too, where the Rust SDK compares those exactly: a difference only for
names with non-ASCII capitals.
"""

from typing import Iterable, Optional


def basename(path: str) -> str:
    """The last component of a Windows or POSIX path: everything after the last `\\` or `/`.

    `basename("C:\\Windows\\System32\\cmd.exe") == "cmd.exe"`; a name without a separator is
    returned as is, a path ending in a separator gives `""`.
    """
    cut = max(path.rfind("\\"), path.rfind("/"))
    return path[cut + 1 :] if cut >= 0 else path


def eq_ignore_case(a: str, b: str) -> bool:
    """Whether `a` and `b` are equal, ignoring case."""
    return a.lower() == b.lower()


def starts_with_ignore_case(text: str, prefix: str) -> bool:
    """Whether `text` starts with `prefix`, ignoring case."""
    return text.lower().startswith(prefix.lower())


def ends_with_ignore_case(text: str, suffix: str) -> bool:
    """Whether `text` ends with `suffix`, ignoring case."""
    return text.lower().endswith(suffix.lower())


def contains_any(text: str, needles: Iterable[str]) -> bool:
    """Whether any of `needles` occurs in `text`, ignoring case. For a fixed list, build a
    `ContainsAny` once instead."""
    low = text.lower()
    return any(n.lower() in low for n in needles)


class NameSet:
    """A set of file names (basenames), matched ignoring case.

    >>> shells = NameSet(["cmd.exe", "PowerShell.exe"])
    >>> shells.contains_path("C:\\\\Windows\\\\System32\\\\CMD.EXE")
    True
    """

    __slots__ = ("_names",)

    def __init__(self, names: Iterable[str] = ()) -> None:
        self._names = {n.lower() for n in names if n}

    def add(self, name: str) -> None:
        """Adds a name; a path is reduced to its basename."""
        name = basename(name)
        if name:
            self._names.add(name.lower())

    def extend(self, names: Iterable[str]) -> None:
        for name in names:
            self.add(name)

    def contains(self, name: Optional[str]) -> bool:
        """Whether `name` (a basename) is in the set; `None` is not."""
        return name is not None and name.lower() in self._names

    def contains_path(self, path: Optional[str]) -> bool:
        """Whether the basename of `path` is in the set; `None` is not."""
        return path is not None and basename(path).lower() in self._names

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and self.contains(name)

    def __len__(self) -> int:
        return len(self._names)

    def __iter__(self):
        return iter(sorted(self._names))

    def __repr__(self) -> str:
        return f"NameSet({sorted(self._names)!r})"


class ContainsAny:
    """Substrings looked for in a text, ignoring case: `ContainsAny(["-enc", "downloadstring"])`.

    `match(text)` returns the first needle found (as given) or `None`; `bool(...)` of that is
    the yes/no answer.
    """

    __slots__ = ("_needles",)

    def __init__(self, needles: Iterable[str]) -> None:
        self._needles = [(n.lower(), n) for n in needles if n]

    def match(self, text: Optional[str]) -> Optional[str]:
        if not text:
            return None
        low = text.lower()
        for needle, original in self._needles:
            if needle in low:
                return original
        return None

    def __call__(self, text: Optional[str]) -> bool:
        return self.match(text) is not None

    def __repr__(self) -> str:
        return f"ContainsAny({[n for _, n in self._needles]!r})"
