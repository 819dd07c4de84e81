//! The event mix of the swap and shadow benchmarks (a module of theirs, not a benchmark).

/// Event `i` of the mix, as Yagura's NDJSON: process launches and network flows, 1 ms apart
/// from `t0`, over 40 hosts; one launch in 500 is Word starting PowerShell, one flow source in
/// 50 scans ports.
pub fn line(i: usize, t0: i64) -> String {
    const IMAGES: [&str; 4] = [
        r"C:\\Program Files\\Google\\Chrome\\Application\\chrome.exe",
        r"C:\\Windows\\System32\\svchost.exe",
        r"C:\\Windows\\System32\\conhost.exe",
        r"C:\\Program Files\\Microsoft VS Code\\Code.exe",
    ];
    let time = t0 + i as i64;
    let host = format!("WS{:02}", i % 40);
    if i.is_multiple_of(2) {
        let (image, parent) = if i % 1000 == 998 {
            (
                r"C:\\Windows\\System32\\WindowsPowerShell\\v1.0\\powershell.exe",
                r"C:\\Program Files\\Microsoft Office\\root\\Office16\\WINWORD.EXE",
            )
        } else {
            (IMAGES[i % 4], r"C:\\Windows\\explorer.exe")
        };
        format!(
            r#"{{"time":{time},"class":"process","activity":"create","device":{{"hostname":"{host}"}},"actor":{{"user":{{"name":"u{}","domain":"CORP"}}}},"process":{{"pid":{},"image":"{image}","cmd_line":"x.exe","parent_image":"{parent}"}}}}"#,
            i % 30,
            1000 + i % 5000
        )
    } else {
        let src = i % 50;
        let port = if src == 7 { 1 + (i / 50) % 1000 } else { 443 };
        format!(
            r#"{{"time":{time},"class":"network","activity":"open","device":{{"hostname":"{host}"}},"src":{{"ip":"10.0.0.{src}","port":{}}},"dst":{{"ip":"10.0.1.{}","port":{port}}}}}"#,
            40000 + i % 20000,
            i % 200
        )
    }
}
