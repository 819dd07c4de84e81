//! Findings: what rules report, stamped by the host, and their OCSF Detection Finding form
//! (class_uid 2004), the JSON every output of Yagura writes.

use serde::{Deserialize, Serialize};
use serde_json::{Map, Value as Json, json};
use sha2::{Digest, Sha256};

use crate::event::{Endpoint, Event, Process, User, format_guid, format_rfc3339_ms};

/// The OCSF version findings declare, and the profiles whose attributes they use (`time_dt`
/// is the `datetime` profile's, `device` the `host` profile's): without them the official
/// schema refuses the finding. `scripts/ocsf_check.py` holds findings to it.
pub const OCSF_VERSION: &str = "1.3.0";
const OCSF_PROFILES: [&str; 2] = ["datetime", "host"];

/// Finding severity (the WIT `severity`), ordered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Informational,
    Low,
    Medium,
    High,
    Critical,
}

impl Severity {
    /// OCSF severity_id: 1 informational … 5 critical.
    pub(crate) fn ocsf_id(self) -> u8 {
        self as u8 + 1
    }

    /// OCSF severity caption.
    pub(crate) fn caption(self) -> &'static str {
        match self {
            Severity::Informational => "Informational",
            Severity::Low => "Low",
            Severity::Medium => "Medium",
            Severity::High => "High",
            Severity::Critical => "Critical",
        }
    }
}

/// The kind of thing an entity names.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EntityKind {
    Host,
    User,
    Ip,
    Process,
    File,
    Other,
}

impl EntityKind {
    /// OCSF observable type_id and caption.
    fn ocsf_type(self) -> (u8, &'static str) {
        match self {
            EntityKind::Host => (1, "Hostname"),
            EntityKind::Ip => (2, "IP Address"),
            EntityKind::User => (4, "User Name"),
            EntityKind::File => (7, "File Name"),
            EntityKind::Process => (9, "Process Name"),
            EntityKind::Other => (99, "Other"),
        }
    }

    /// The kind's name: `host`, `user`, `ip`, `process`, `file`, `other`.
    pub fn as_str(self) -> &'static str {
        match self {
            EntityKind::Host => "host",
            EntityKind::User => "user",
            EntityKind::Ip => "ip",
            EntityKind::Process => "process",
            EntityKind::File => "file",
            EntityKind::Other => "other",
        }
    }
}

/// Something a finding names.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entity {
    pub kind: EntityKind,
    pub value: String,
    pub role: Option<String>,
}

/// A finding as a rule reported it, with the rule's id, version and author and the event it
/// matched added by the host.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Finding {
    pub rule_id: String,
    pub rule_version: String,
    /// the rule's author, as its pack says
    #[serde(skip_serializing_if = "Option::is_none")]
    pub rule_author: Option<String>,
    /// The newest event of the call's batch the finding names as evidence: the event that
    /// matched. None for findings of a tick (a window closing) or that name no event of the
    /// batch. Its device and key fields become the OCSF `device` and `evidences`.
    #[serde(skip)]
    pub matched: Option<Box<Event>>,
    pub title: String,
    pub description: String,
    pub severity: Severity,
    pub confidence: u8,
    pub techniques: Vec<String>,
    pub entities: Vec<Entity>,
    /// `seq` of the supporting events
    pub evidence: Vec<u64>,
    pub dedup_key: String,
    /// event time, ms since the Unix epoch
    pub time: i64,
    pub context: Vec<(String, String)>,
}

impl Finding {
    /// A stable id: the same rule, dedup key, time and evidence give the same id, so replays
    /// are reproducible.
    pub fn uid(&self) -> String {
        let mut h = Sha256::new();
        h.update(self.rule_id.as_bytes());
        h.update([0]);
        h.update(self.dedup_key.as_bytes());
        h.update([0]);
        h.update(self.time.to_le_bytes());
        for seq in &self.evidence {
            h.update(seq.to_le_bytes());
        }
        let digest = h.finalize();
        format!("{}-{}", self.rule_id, hex::encode(&digest[..8]))
    }

    /// The OCSF Detection Finding (class 2004) form of the finding.
    pub fn to_ocsf(&self, rule_name: &str) -> Json {
        let attacks: Vec<Json> = self
            .techniques
            .iter()
            .map(|t| json!({ "technique": { "uid": t } }))
            .collect();
        let observables: Vec<Json> = self
            .entities
            .iter()
            .map(|e| {
                let (type_id, type_name) = e.kind.ocsf_type();
                let name = match &e.role {
                    Some(role) => format!("{role}.{}", e.kind.as_str()),
                    None => e.kind.as_str().to_owned(),
                };
                json!({ "name": name, "type_id": type_id, "type": type_name, "value": e.value })
            })
            .collect();
        let related: Vec<Json> = self
            .evidence
            .iter()
            .map(|seq| json!({ "uid": seq.to_string() }))
            .collect();
        let context: Map<String, Json> = self
            .context
            .iter()
            .map(|(k, v)| (k.clone(), Json::String(v.clone())))
            .collect();
        let mut unmapped = json!({ "dedup_key": self.dedup_key, "context": context });
        if let Some(author) = &self.rule_author {
            unmapped["rule_author"] = json!(author);
        }
        let mut analytic = json!({
            "uid": self.rule_id,
            "name": rule_name,
            "type_id": 1,
            "type": "Rule",
            "version": self.rule_version,
        });
        // A rule that runs other rules (the Sigma engine) names the one that matched: its
        // analytic comes first, the component's is related; its author, licence and
        // references are the ones shown.
        if let Some(uid) = self.context_value("analytic.uid") {
            let engine = analytic;
            analytic = json!({
                "uid": uid,
                "name": self.context_value("analytic.name").unwrap_or(uid),
                "type_id": 1,
                "type": "Rule",
                "related_analytics": [engine],
            });
            for (key, field) in [
                ("analytic.author", "rule_author"),
                ("analytic.license", "rule_license"),
                ("analytic.references", "rule_references"),
            ] {
                if let Some(value) = self.context_value(key) {
                    unmapped[field] = json!(value);
                }
            }
        }
        let mut ocsf = json!({
            "class_uid": 2004,
            "class_name": "Detection Finding",
            "category_uid": 2,
            "activity_id": 1,
            "type_uid": 200401,
            "time": self.time,
            "time_dt": format_rfc3339_ms(self.time),
            "severity_id": self.severity.ocsf_id(),
            "severity": self.severity.caption(),
            "confidence_score": self.confidence,
            "confidence_id": confidence_id(self.confidence),
            "status_id": 1,
            "message": self.title,
            "finding_info": {
                "uid": self.uid(),
                "title": self.title,
                "desc": self.description,
                "analytic": analytic,
                "attacks": attacks,
                "related_events": related,
            },
            "observables": observables,
            "metadata": {
                "version": OCSF_VERSION,
                "profiles": OCSF_PROFILES,
                "product": { "name": "Yagura", "vendor_name": "Yagura", "version": env!("CARGO_PKG_VERSION") },
            },
            "unmapped": unmapped,
        });
        if let Some(device) = self.device() {
            ocsf["device"] = device;
        }
        let resources = self.resources();
        if !resources.is_empty() {
            ocsf["resources"] = Json::Array(resources);
        }
        if let Some(event) = &self.matched {
            ocsf["evidences"] = json!([evidence(event)]);
        }
        ocsf
    }

    /// The value of a `context` key, the first if it repeats.
    pub fn context_value(&self, key: &str) -> Option<&str> {
        self.context
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    /// The OCSF `device` the finding is about: the matched event's device, else the host the
    /// finding names (as target first).
    fn device(&self) -> Option<Json> {
        let mut device = Map::new();
        if let Some(event) = &self.matched {
            let d = &event.device;
            put_host(&mut device, d.hostname.as_deref());
            put(&mut device, "domain", d.domain.as_deref());
            if let Some(ip) = d.ip {
                device.insert("ip".into(), json!(ip.to_string()));
            }
        }
        if device.is_empty() {
            let hosts = || self.entities.iter().filter(|e| e.kind == EntityKind::Host);
            let host = hosts()
                .find(|e| e.role.as_deref() == Some("target"))
                .or_else(|| hosts().next())?;
            put_host(&mut device, Some(&host.value));
        }
        device.insert("type_id".into(), json!(0));
        device.insert("type".into(), json!("Unknown"));
        Some(Json::Object(device))
    }
}

impl Finding {
    /// The OCSF `resources` (what the activity was aimed at): the entities the rule names as
    /// `target` or `destination`, else the hosts it names without a role.
    fn resources(&self) -> Vec<Json> {
        let aimed = |e: &&Entity| matches!(e.role.as_deref(), Some("target" | "destination"));
        let mut chosen: Vec<&Entity> = self.entities.iter().filter(aimed).collect();
        if chosen.is_empty() {
            chosen = self
                .entities
                .iter()
                .filter(|e| e.kind == EntityKind::Host && e.role.is_none())
                .collect();
        }
        chosen
            .into_iter()
            .map(|e| json!({ "name": e.value, "type": e.kind.as_str() }))
            .collect()
    }
}

/// OCSF `confidence_id` from the 0-100 score: 1 Low below 40, 2 Medium below 70, else 3 High.
fn confidence_id(score: u8) -> u8 {
    match score {
        0..40 => 1,
        40..70 => 2,
        _ => 3,
    }
}

/// The OCSF `evidences` entry of a matched event: who acted, on what, from where to where,
/// and in `data` the event's place in Yagura (seq) and in its source.
fn evidence(event: &Event) -> Json {
    let mut out = Map::new();
    let mut actor = Map::new();
    if let Some(user) = event.actor.user.as_ref().and_then(user) {
        actor.insert("user".into(), user);
    }
    if let Some(process) = event.actor.process.as_ref().and_then(process) {
        actor.insert("process".into(), process);
    }
    if !actor.is_empty() {
        out.insert("actor".into(), Json::Object(actor));
    }
    if let Some(p) = event.process.as_ref().and_then(process) {
        out.insert("process".into(), p);
    }
    if let Some(u) = event.user.as_ref().and_then(user) {
        out.insert("user".into(), u);
    }
    if let Some(e) = event.src.as_ref().and_then(endpoint) {
        out.insert("src_endpoint".into(), e);
    }
    if let Some(e) = event.dst.as_ref().and_then(endpoint) {
        out.insert("dst_endpoint".into(), e);
    }
    if let Some(path) = event.file.as_ref().and_then(|f| f.path.as_deref()) {
        out.insert("file".into(), file(path));
    }
    let mut data = Map::new();
    data.insert("seq".into(), json!(event.seq));
    data.insert("class".into(), json!(event.class.as_str()));
    let source = &event.source;
    put(
        &mut data,
        "format",
        Some(source.format.as_str()).filter(|f| !f.is_empty()),
    );
    if let Some(code) = source.code {
        data.insert("event_code".into(), json!(code));
    }
    put(&mut data, "channel", source.channel.as_deref());
    put(&mut data, "provider", source.provider.as_deref());
    if let Some(id) = source.record_id {
        data.insert("record_id".into(), json!(id));
    }
    out.insert("data".into(), Json::Object(data));
    Json::Object(out)
}

/// A host name as OCSF's `hostname` when it is one by OCSF's pattern (dot-separated labels of
/// ASCII letters, digits and inner `-`), else as the free-form `name` (a NetBIOS name with
/// `_` or a non-ASCII letter): the schema refuses it as a hostname.
fn put_host(map: &mut Map<String, Json>, host: Option<&str>) {
    if let Some(host) = host {
        let key = if is_hostname(host) {
            "hostname"
        } else {
            "name"
        };
        map.insert(key.into(), json!(host));
    }
}

fn is_hostname(s: &str) -> bool {
    s.split('.').all(|label| {
        !label.is_empty()
            && label
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !label.starts_with('-')
            && !label.ends_with('-')
    })
}

fn put(map: &mut Map<String, Json>, key: &str, value: Option<&str>) {
    if let Some(v) = value {
        map.insert(key.into(), json!(v));
    }
}

/// An OCSF `user`; None without a name or uid (the object needs one).
fn user(u: &User) -> Option<Json> {
    if u.name.is_none() && u.uid.is_none() {
        return None;
    }
    let mut out = Map::new();
    put(&mut out, "name", u.name.as_deref());
    put(&mut out, "domain", u.domain.as_deref());
    put(&mut out, "uid", u.uid.as_deref());
    Some(Json::Object(out))
}

/// An OCSF `process`; None without a pid or GUID (the object needs one).
fn process(p: &Process) -> Option<Json> {
    if p.pid.is_none() && p.guid.is_none() {
        return None;
    }
    let mut out = Map::new();
    if let Some(pid) = p.pid {
        out.insert("pid".into(), json!(pid));
    }
    if let Some(guid) = p.guid {
        out.insert("uid".into(), json!(format_guid(guid)));
    }
    put(&mut out, "cmd_line", p.cmd_line.as_deref());
    if let Some(image) = &p.image {
        out.insert("name".into(), json!(base_name(image)));
        out.insert("file".into(), file(image));
    }
    Some(Json::Object(out))
}

/// An OCSF `network_endpoint`; None without an address or name.
fn endpoint(e: &Endpoint) -> Option<Json> {
    if e.ip.is_none() && e.hostname.is_none() {
        return None;
    }
    let mut out = Map::new();
    if let Some(ip) = e.ip {
        out.insert("ip".into(), json!(ip.to_string()));
    }
    if let Some(port) = e.port {
        out.insert("port".into(), json!(port));
    }
    put_host(&mut out, e.hostname.as_deref());
    Some(Json::Object(out))
}

/// An OCSF `file` (a regular file, type_id 1) at `path`.
fn file(path: &str) -> Json {
    json!({ "name": base_name(path), "path": path, "type_id": 1, "type": "Regular File" })
}

/// The last component of a Windows or Unix path.
fn base_name(path: &str) -> &str {
    path.rsplit(['\\', '/']).next().unwrap_or(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn finding() -> Finding {
        Finding {
            rule_id: "office-spawns-shell".into(),
            rule_version: "0.1.0".into(),
            rule_author: None,
            matched: None,
            title: "WINWORD.EXE started powershell.exe".into(),
            description: "d".into(),
            severity: Severity::High,
            confidence: 80,
            techniques: vec!["T1204.002".into(), "T1059.001".into()],
            entities: vec![
                Entity {
                    kind: EntityKind::Host,
                    value: "WS01".into(),
                    role: None,
                },
                Entity {
                    kind: EntityKind::Ip,
                    value: "10.0.0.5".into(),
                    role: Some("source".into()),
                },
            ],
            evidence: vec![7, 9],
            dedup_key: "WS01|42".into(),
            time: 1_600_604_168_123,
            context: vec![("stage".into(), "1".into())],
        }
    }

    #[test]
    fn ocsf_form_has_the_required_fields() {
        let f = finding();
        let o = f.to_ocsf("Office spawns shell");
        assert_eq!(o["class_uid"], 2004);
        assert_eq!(o["severity_id"], 4);
        assert_eq!(o["time_dt"], "2020-09-20T12:16:08.123Z");
        assert_eq!(o["finding_info"]["analytic"]["uid"], "office-spawns-shell");
        assert_eq!(
            o["finding_info"]["attacks"][1]["technique"]["uid"],
            "T1059.001"
        );
        assert_eq!(o["finding_info"]["related_events"][1]["uid"], "9");
        assert_eq!(o["observables"][1]["name"], "source.ip");
        assert_eq!(o["observables"][1]["type_id"], 2);
        assert_eq!(o["unmapped"]["context"]["stage"], "1");
        // time_dt and device are profiles' attributes: declared, or the schema refuses them
        assert_eq!(o["metadata"]["profiles"], json!(["datetime", "host"]));
        assert_eq!(o["confidence_id"], 3);
        // no matched event: the device is the host the finding names, and no evidences
        assert_eq!(o["device"]["hostname"], "WS01");
        assert_eq!(o["device"]["type_id"], 0);
        assert!(o.get("evidences").is_none());
        // what it was aimed at: no entity is a target, so the host named without a role
        assert_eq!(o["resources"], json!([{ "name": "WS01", "type": "host" }]));
        assert!(o["unmapped"].get("rule_author").is_none());
    }

    #[test]
    fn a_rule_that_names_the_analytic_that_matched_shows_it() {
        let mut f = finding();
        f.rule_id = "sigma".into();
        f.rule_author = Some("Yagura".into());
        f.context = vec![
            (
                "analytic.uid".into(),
                "fe63010f-8823-4864-a96b-a7b4a0f7b929".into(),
            ),
            (
                "analytic.name".into(),
                "LSASS Process Reconnaissance Via Findstr.EXE".into(),
            ),
            (
                "analytic.author".into(),
                "Florian Roth (Nextron Systems)".into(),
            ),
            ("analytic.license".into(), "DRL-1.1".into()),
        ];
        let o = f.to_ocsf("Sigma rules");
        let analytic = &o["finding_info"]["analytic"];
        assert_eq!(analytic["uid"], "fe63010f-8823-4864-a96b-a7b4a0f7b929");
        assert_eq!(
            analytic["name"],
            "LSASS Process Reconnaissance Via Findstr.EXE"
        );
        assert_eq!(analytic["related_analytics"][0]["uid"], "sigma");
        assert_eq!(analytic["related_analytics"][0]["name"], "Sigma rules");
        // the Sigma rule's author, not the engine's pack's, is the one shown
        assert_eq!(
            o["unmapped"]["rule_author"],
            "Florian Roth (Nextron Systems)"
        );
        assert_eq!(o["unmapped"]["rule_license"], "DRL-1.1");
        assert!(o["unmapped"].get("rule_references").is_none());
        // the finding's own id is still the engine's
        assert!(
            o["finding_info"]["uid"]
                .as_str()
                .is_some_and(|u| u.starts_with("sigma-"))
        );
    }

    #[test]
    fn the_matched_event_gives_the_device_and_the_evidence() {
        let mut f = finding();
        f.rule_author = Some("Florian Roth (Nextron Systems)".into());
        let event = crate::event::parse_event(
            r#"{"seq":9,"time":1600604168123,"class":"process","activity":"create",
                "source":{"format":"evtx","code":1,"channel":"Microsoft-Windows-Sysmon/Operational","record_id":77},
                "device":{"hostname":"WS01.corp.local","ip":"10.0.0.21"},
                "actor":{"user":{"name":"alice","domain":"CORP"},"process":{"pid":5100,"image":"C:\\Office\\WINWORD.EXE"}},
                "process":{"pid":7300,"guid":"5770385F-C22A-43E0-BF4C-06F5698FFBDA","image":"C:\\Windows\\powershell.exe","cmd_line":"powershell -enc AA"}}"#,
        )
        .expect("event");
        f.matched = Some(Box::new(event));
        let o = f.to_ocsf("Office spawns shell");
        assert_eq!(o["device"]["hostname"], "WS01.corp.local");
        assert_eq!(o["device"]["ip"], "10.0.0.21");
        let e = &o["evidences"][0];
        assert_eq!(e["process"]["pid"], 7300);
        assert_eq!(
            e["process"]["uid"],
            "{5770385F-C22A-43E0-BF4C-06F5698FFBDA}"
        );
        assert_eq!(e["process"]["name"], "powershell.exe");
        assert_eq!(e["process"]["file"]["path"], "C:\\Windows\\powershell.exe");
        assert_eq!(e["process"]["cmd_line"], "powershell -enc AA");
        assert_eq!(e["actor"]["process"]["name"], "WINWORD.EXE");
        assert_eq!(e["actor"]["user"]["name"], "alice");
        assert_eq!(e["data"]["seq"], 9);
        assert_eq!(e["data"]["event_code"], 1);
        assert_eq!(e["data"]["record_id"], 77);
        assert_eq!(
            o["unmapped"]["rule_author"],
            "Florian Roth (Nextron Systems)"
        );
        // a target named, it is the resource
        f.entities[1].role = Some("target".into());
        let o = f.to_ocsf("r");
        assert_eq!(
            o["resources"],
            json!([{ "name": "10.0.0.5", "type": "ip" }])
        );
    }

    #[test]
    fn a_host_name_the_schema_refuses_as_hostname_goes_in_name() {
        let mut f = finding();
        f.entities[0].value = "SRV_ÉTÉ".into();
        let o = f.to_ocsf("r");
        assert_eq!(o["device"]["name"], "SRV_ÉTÉ");
        assert!(o["device"].get("hostname").is_none());
        assert!(is_hostname("ws01.corp.local"));
        assert!(is_hostname("WS-01"));
        for bad in ["", "-ws", "ws-", "a..b", "ws_01", "wsé", "ws01."] {
            assert!(!is_hostname(bad), "{bad}");
        }
    }

    #[test]
    fn confidence_id_follows_the_score() {
        assert_eq!(confidence_id(0), 1);
        assert_eq!(confidence_id(39), 1);
        assert_eq!(confidence_id(40), 2);
        assert_eq!(confidence_id(69), 2);
        assert_eq!(confidence_id(70), 3);
        assert_eq!(confidence_id(100), 3);
    }

    #[test]
    fn uid_is_stable_and_depends_on_evidence() {
        let a = finding();
        assert_eq!(a.uid(), finding().uid());
        let mut b = finding();
        b.evidence.push(10);
        assert_ne!(a.uid(), b.uid());
        assert!(a.uid().starts_with("office-spawns-shell-"));
    }
}
