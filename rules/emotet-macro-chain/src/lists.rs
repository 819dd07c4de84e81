//! The names and paths the chain is made of: Office applications, the shells and LOLBins a
//! macro starts, the parents of the indirect launches, user-writable folders and the file
//! extensions of payloads and documents. Every test here is allocation-free.

use yagura_sdk::matchers::{basename, contains_ignore_case, ends_with_ignore_case};

/// Office applications whose macros start chains (Word, Excel, PowerPoint, Outlook, OneNote,
/// Access, Publisher, Visio) and the Equation Editor of CVE-2017-11882.
pub const OFFICE: &[&str] = &[
    "winword.exe",
    "excel.exe",
    "powerpnt.exe",
    "outlook.exe",
    "onenote.exe",
    "msaccess.exe",
    "mspub.exe",
    "visio.exe",
    "eqnedt32.exe",
];

/// Shells, script hosts and LOLBins a document has no business starting.
pub const SHELLS: &[&str] = &[
    "cmd.exe",
    "powershell.exe",
    "pwsh.exe",
    "wscript.exe",
    "cscript.exe",
    "mshta.exe",
    "rundll32.exe",
    "regsvr32.exe",
    "certutil.exe",
    "bitsadmin.exe",
    "wmic.exe",
];

/// Parents of the launches that break the Office parent-child link: WMI `Win32_Process`
/// create (WmiPrvSE.exe) and COM `ShellBrowserWindow`/`ShellWindows` (explorer.exe).
pub const INDIRECT_PARENTS: &[&str] = &["wmiprvse.exe", "explorer.exe"];

/// Binaries that load a DLL named on their command line.
pub const DLL_LOADERS: &[&str] = &["rundll32.exe", "regsvr32.exe"];

/// Folders a standard user can write to, as path fragments (`\` on both sides so that
/// `\Temp\` does not match `\Templates\`).
const USER_WRITABLE: &[&str] = &[
    r"\AppData\",
    r"\Temp\",
    r"\Tmp\",
    r"\ProgramData\",
    r"\Users\Public\",
    r"\Downloads\",
    r"\Desktop\",
    r"\Documents\",
];

/// Extensions of files that run: programs, DLLs and their disguises.
const EXECUTABLE: &[&str] = &[
    ".exe", ".dll", ".scr", ".ocx", ".cpl", ".com", ".pif", ".sys", ".drv",
];

/// Extensions of documents Office opens (macro-enabled or not: an RTF or DOC carries macros
/// and exploits as well).
const DOCUMENT: &[&str] = &[
    ".doc", ".docm", ".docx", ".dot", ".dotm", ".rtf", ".xls", ".xlsm", ".xlsb", ".xlsx", ".xlam",
    ".xla", ".xlt", ".xltm", ".csv", ".ppt", ".pptm", ".pptx", ".ppsm", ".pps", ".potm", ".one",
    ".onepkg", ".mdb", ".accdb", ".pub", ".vsd", ".vsdm", ".msg", ".eml",
];

/// Whether `path` lies in a user-writable folder: one of the built-in fragments or one of
/// `extra` (tenant fragments such as `\PerfLogs\`).
pub fn is_user_writable(path: &str, extra: &[String]) -> bool {
    USER_WRITABLE
        .iter()
        .any(|dir| contains_ignore_case(path, dir))
        || extra.iter().any(|dir| contains_ignore_case(path, dir))
}

/// Environment variables of user-writable folders, as command lines name them.
const USER_WRITABLE_VARS: &[&str] = &[
    "%temp%",
    "%tmp%",
    "%appdata%",
    "%localappdata%",
    "%public%",
    "%programdata%",
    "%userprofile%",
    "$env:temp",
    "$env:appdata",
    "$env:localappdata",
    "$env:public",
    "$env:programdata",
    "$env:userprofile",
];

/// Whether a command line names a file in a user-writable folder: by path, by environment
/// variable, or by a `..\` path relative to the document's folder (Excel 4.0 macro droppers
/// write `..\name.ocx` and run `regsvr32 ..\name.ocx`).
pub fn references_user_writable(cmd: &str, extra: &[String]) -> bool {
    is_user_writable(cmd, extra)
        || USER_WRITABLE_VARS
            .iter()
            .any(|var| contains_ignore_case(cmd, var))
        || cmd.contains(r"..\")
}

/// Whether the file name of `path` has the extension of a program or a DLL.
pub fn is_executable(path: &str) -> bool {
    let name = basename(path);
    EXECUTABLE
        .iter()
        .any(|ext| ends_with_ignore_case(name, ext))
}

/// Whether the file name of `path` has a document extension.
pub fn is_document(path: &str) -> bool {
    let name = basename(path);
    DOCUMENT.iter().any(|ext| ends_with_ignore_case(name, ext))
}

/// Whether Office writing `path` shows it opening a document: the `~$name.docx` owner file
/// Word, Excel and PowerPoint create next to a document they open, or a document saved into
/// the Internet cache (`INetCache\Content.Outlook`, `Content.MSO`) to be opened from a mail
/// or a web page. Other document writes (a report an automation server saves) do not count.
pub fn is_opened_document(path: &str) -> bool {
    is_document(path)
        && (basename(path).starts_with("~$") || contains_ignore_case(path, r"\INetCache\"))
}

/// Whether an Office command line says Office was started as a COM automation server
/// (`/automation -Embedding`, DCOM, a report generator), not to open a document for a user.
pub fn is_automation(cmd_line: &str) -> bool {
    contains_ignore_case(cmd_line, "-embedding") || contains_ignore_case(cmd_line, "/automation")
}

/// Whether a registry key is an autostart Run key: `…\CurrentVersion\Run`, `RunOnce`,
/// `RunOnceEx`, `RunServices`, `Policies\Explorer\Run`, under HKLM or a user hive.
pub fn is_run_key(key: &str) -> bool {
    contains_ignore_case(key, r"\CurrentVersion\Run")
        || contains_ignore_case(key, r"\Policies\Explorer\Run")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_writable_folders() {
        let none: &[String] = &[];
        for path in [
            r"C:\Users\bob\AppData\Local\Temp\x.exe",
            r"C:\Users\bob\AppData\Roaming\Abc\abc.dll",
            r"C:\ProgramData\hdtw.dll",
            r"C:\Users\Public\Documents\a.ocx",
            r"C:\Users\bob\Downloads\setup.exe",
            r"C:\Windows\Temp\x.exe",
        ] {
            assert!(is_user_writable(path, none), "{path}");
        }
        for path in [
            r"C:\Windows\System32\cmd.exe",
            r"C:\Program Files\Microsoft Office\root\Office16\WINWORD.EXE",
            r"C:\Users\bob\Templates\Normal.dotm",
            "",
        ] {
            assert!(!is_user_writable(path, none), "{path}");
        }
        let extra = [r"\PerfLogs\".to_owned()];
        assert!(is_user_writable(r"C:\PerfLogs\x.exe", &extra));
    }

    #[test]
    fn extensions() {
        assert!(is_executable(r"C:\x\Payload.DLL"));
        assert!(is_executable("a.exe"));
        assert!(!is_executable(r"C:\x.exe\readme.txt"));
        assert!(!is_executable(r"C:\x\__PSScriptPolicyTest_ab.ps1"));
        assert!(is_document(r"C:\Users\bob\Downloads\Invoice 0042.docm"));
        assert!(is_document("report.XLSM"));
        assert!(!is_document(r"C:\x\~WRS{1234}.tmp"));
    }

    #[test]
    fn command_lines_naming_user_folders() {
        let none: &[String] = &[];
        assert!(references_user_writable(r"rundll32 %TEMP%\x.dll,#1", none));
        assert!(references_user_writable(r"regsvr32 -s ..\Drezd.red", none));
        assert!(references_user_writable(
            r"rundll32 C:\Users\Public\x.dll,DllRegisterServer",
            none
        ));
        assert!(!references_user_writable(
            r"rundll32 C:\Windows\System32\shell32.dll,Control_RunDLL",
            none
        ));
    }

    #[test]
    fn opened_documents() {
        assert!(is_opened_document(r"C:\Users\bob\Documents\~$voice.docm"));
        assert!(is_opened_document(
            r"C:\Users\bob\AppData\Local\Microsoft\Windows\INetCache\Content.Outlook\X1\Invoice.doc"
        ));
        assert!(!is_opened_document(r"C:\Reports\q3.xlsx"));
        assert!(!is_opened_document(r"C:\Users\bob\Documents\~$voice.tmp"));
    }

    #[test]
    fn automation_and_run_keys() {
        assert!(is_automation(r#""EXCEL.EXE" /automation -Embedding"#));
        assert!(!is_automation(r#""WINWORD.EXE" /n "C:\a.docm""#));
        assert!(is_run_key(
            r"HKU\S-1-5-21-1\Software\Microsoft\Windows\CurrentVersion\Run\abc"
        ));
        assert!(is_run_key(
            r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\RunOnce\x"
        ));
        assert!(!is_run_key(
            r"HKLM\SOFTWARE\Microsoft\Windows\CurrentVersion\Explorer\x"
        ));
    }
}
