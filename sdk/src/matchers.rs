//! Matching names, paths and command lines: ASCII case-insensitive (Windows paths and
//! command lines are case-insensitive; non-ASCII letters compare exactly) and allocation-free
//! on the lookup side, so a rule's per-event path costs no allocation when nothing matches.

/// The last component of a Windows or POSIX path: everything after the last `\` or `/`.
///
/// `basename(r"C:\Windows\System32\cmd.exe") == "cmd.exe"`; a name without a separator is
/// returned as is, and a path ending in a separator gives `""`.
pub fn basename(path: &str) -> &str {
    match path.rfind(['\\', '/']) {
        Some(i) => &path[i + 1..],
        None => path,
    }
}

/// Whether `a` and `b` are equal, ignoring ASCII case.
pub fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
}

/// Whether `haystack` starts with `prefix`, ignoring ASCII case.
pub fn starts_with_ignore_case(haystack: &str, prefix: &str) -> bool {
    haystack
        .as_bytes()
        .get(..prefix.len())
        .is_some_and(|h| h.eq_ignore_ascii_case(prefix.as_bytes()))
}

/// Whether `haystack` ends with `suffix`, ignoring ASCII case.
pub fn ends_with_ignore_case(haystack: &str, suffix: &str) -> bool {
    let h = haystack.as_bytes();
    h.len() >= suffix.len() && h[h.len() - suffix.len()..].eq_ignore_ascii_case(suffix.as_bytes())
}

/// Whether `needle` occurs in `haystack`, ignoring ASCII case. An empty needle always occurs.
pub fn contains_ignore_case(haystack: &str, needle: &str) -> bool {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    let Some((&first, rest)) = n.split_first() else {
        return true;
    };
    if h.len() < n.len() {
        return false;
    }
    let first = first.to_ascii_lowercase();
    (0..=h.len() - n.len()).any(|i| {
        h[i].to_ascii_lowercase() == first && h[i + 1..i + n.len()].eq_ignore_ascii_case(rest)
    })
}

/// Whether any of `needles` occurs in `haystack`, ignoring ASCII case.
pub fn contains_any_ignore_case<S: AsRef<str>>(haystack: &str, needles: &[S]) -> bool {
    needles
        .iter()
        .any(|n| contains_ignore_case(haystack, n.as_ref()))
}

/// A set of file names (basenames), matched ignoring ASCII case.
///
/// Built once in `init`; [`NameSet::contains_path`] then matches an image path against it
/// without allocating.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct NameSet {
    /// lowercase basenames, without duplicates
    names: Vec<String>,
}

impl NameSet {
    /// A set of the given names. Paths are reduced to their basename: `C:\x\cmd.exe` adds
    /// `cmd.exe`.
    pub fn new<S: AsRef<str>>(names: &[S]) -> Self {
        let mut set = NameSet::default();
        set.extend(names);
        set
    }

    /// Adds a name (or the basename of a path). Empty names are ignored.
    pub fn insert(&mut self, name: &str) {
        let name = basename(name.trim());
        if !name.is_empty() && !self.contains(name) {
            self.names.push(name.to_ascii_lowercase());
        }
    }

    /// Adds every name of `names`.
    pub fn extend<S: AsRef<str>>(&mut self, names: impl IntoIterator<Item = S>) {
        for name in names {
            self.insert(name.as_ref());
        }
    }

    /// Whether `name` is in the set, ignoring ASCII case.
    pub fn contains(&self, name: &str) -> bool {
        self.names.iter().any(|n| n.eq_ignore_ascii_case(name))
    }

    /// Whether the basename of `path` is in the set, ignoring ASCII case.
    pub fn contains_path(&self, path: &str) -> bool {
        self.contains(basename(path))
    }

    /// The number of names.
    pub fn len(&self) -> usize {
        self.names.len()
    }

    /// Whether the set is empty.
    pub fn is_empty(&self) -> bool {
        self.names.is_empty()
    }

    /// The names, lowercase, in insertion order.
    pub fn iter(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basename_handles_both_separators() {
        assert_eq!(basename(r"C:\Windows\System32\cmd.exe"), "cmd.exe");
        assert_eq!(basename("/usr/bin/python3"), "python3");
        assert_eq!(basename(r"C:/mixed\path/WINWORD.EXE"), "WINWORD.EXE");
        assert_eq!(basename("cmd.exe"), "cmd.exe");
        assert_eq!(basename(r"C:\dir\"), "");
        assert_eq!(basename(""), "");
    }

    #[test]
    fn case_insensitive_comparisons() {
        assert!(eq_ignore_case("CMD.EXE", "cmd.exe"));
        assert!(!eq_ignore_case("cmd.exe", "cmd.ex"));
        assert!(starts_with_ignore_case("PowerShell -enc", "powershell"));
        assert!(!starts_with_ignore_case("pw", "pwsh"));
        assert!(ends_with_ignore_case(r"C:\x\RUNDLL32.exe", "rundll32.EXE"));
        assert!(!ends_with_ignore_case("exe", ".exe"));
        // Non-ASCII compares exactly and never panics on char boundaries.
        assert!(!eq_ignore_case("É", "é"));
        assert!(!starts_with_ignore_case("é", "\u{e9}x"));
    }

    #[test]
    fn substring_search() {
        assert!(contains_ignore_case(
            "powershell -NoP -EncodedCommand AAA",
            "-encodedcommand"
        ));
        assert!(contains_ignore_case("abc", ""));
        assert!(contains_ignore_case("abc", "ABC"));
        assert!(!contains_ignore_case("ab", "abc"));
        assert!(!contains_ignore_case("", "a"));
        assert!(contains_ignore_case("ééx", "X"));
        assert!(contains_any_ignore_case(
            "certutil -urlcache -f",
            &["-decode", "-URLCACHE"]
        ));
        assert!(!contains_any_ignore_case::<&str>("x", &[]));
        let owned = vec![String::from("mshta")];
        assert!(contains_any_ignore_case("MSHTA.exe vbscript:", &owned));
    }

    #[test]
    fn name_set_matches_basenames() {
        let mut set = NameSet::new(&[
            "cmd.exe",
            "PowerShell.exe",
            r"C:\Windows\wscript.exe",
            "",
            " ",
        ]);
        assert_eq!(set.len(), 3);
        assert!(set.contains("CMD.EXE"));
        assert!(set.contains_path(r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe"));
        assert!(set.contains_path("WScript.exe"));
        assert!(!set.contains_path(r"C:\Windows\System32\cmd.exe.bak"));
        assert!(!set.contains_path(r"C:\cmd.exe\notepad.exe"));
        set.extend(["cmd.exe", "mshta.exe"]);
        assert_eq!(
            set.iter().collect::<Vec<_>>(),
            ["cmd.exe", "powershell.exe", "wscript.exe", "mshta.exe"]
        );
        assert!(!set.is_empty());
        assert!(NameSet::default().is_empty());
    }
}
