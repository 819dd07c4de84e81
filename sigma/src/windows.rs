//! Windows rules: where a `logsource` routes, and an EVTX record read with Sigma's field names.
//!
//! Routing follows pySigma's Windows and Sysmon pipelines (the ones SigmaHQ's own tooling
//! uses): a `service` names an event log channel; a `category` names a Sysmon event (or a
//! PowerShell one) by channel and event id. Yagura also checks Sysmon's `EventType` where two
//! categories share an id (`registry_add` and `registry_delete` are both event 12). A category with no
//! such event (`file_access`, `file_rename`: ETW or object-access sources that need their own
//! field mapping) has no route, and a rule on it is refused at compile time.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::rule::{Fields, LogSource};

pub const SYSMON: &str = "Microsoft-Windows-Sysmon/Operational";
pub const POWERSHELL: &str = "Microsoft-Windows-PowerShell/Operational";
pub const POWERSHELL_CLASSIC: &str = "Windows PowerShell";

/// The events a rule looks at: from one of `channels` (compared case-insensitively), with one
/// of `event_ids` and, for Sysmon's registry events, one of `event_types` (each empty: any).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Route {
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub channels: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_ids: Vec<u32>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub event_types: Vec<String>,
}

impl Route {
    fn new(channels: &[&str], event_ids: &[u32], event_types: &[&str]) -> Self {
        Route {
            channels: channels.iter().map(|c| (*c).to_owned()).collect(),
            event_ids: event_ids.to_vec(),
            event_types: event_types.iter().map(|t| (*t).to_owned()).collect(),
        }
    }

    /// Whether an event (read through `Channel`, `EventID` and `EventType`) is one of the route's.
    pub fn admits(&self, event: &dyn Fields) -> bool {
        let id = event
            .field("EventID")
            .and_then(|id| id.trim().parse::<u32>().ok());
        self.admits_parts(
            event.field("Channel").as_deref(),
            id,
            event.field("EventType").as_deref(),
        )
    }

    /// The same, from values read once per event (and tried against many routes).
    pub fn admits_parts(
        &self,
        channel: Option<&str>,
        event_id: Option<u32>,
        event_type: Option<&str>,
    ) -> bool {
        let channel_ok = self.channels.is_empty()
            || channel.is_some_and(|c| {
                self.channels
                    .iter()
                    .any(|want| want.eq_ignore_ascii_case(c))
            });
        let id_ok =
            self.event_ids.is_empty() || event_id.is_some_and(|id| self.event_ids.contains(&id));
        let type_ok = self.event_types.is_empty()
            || event_type.is_some_and(|t| {
                self.event_types
                    .iter()
                    .any(|want| want.eq_ignore_ascii_case(t))
            });
        channel_ok && id_ok && type_ok
    }
}

/// The route of a Windows `logsource`, or why it has none.
pub fn route(logsource: &LogSource) -> Result<Route, String> {
    match logsource.product.as_deref() {
        Some(p) if p.eq_ignore_ascii_case("windows") => {}
        Some(other) => return Err(format!("product `{other}`: only Windows rules are routed")),
        None => return Err("no product: only Windows rules are routed".into()),
    }
    if let Some(category) = logsource.category.as_deref() {
        return category_route(&category.to_ascii_lowercase())
            .ok_or_else(|| format!("category `{category}` has no Sysmon or PowerShell event"));
    }
    if let Some(service) = logsource.service.as_deref() {
        let channels = service_channels(&service.to_ascii_lowercase())
            .ok_or_else(|| format!("service `{service}` names no channel"))?;
        return Ok(Route::new(channels, &[], &[]));
    }
    // `product: windows` alone (keywords over every log, as `Mimikatz Use`): every channel
    Ok(Route::new(&[], &[], &[]))
}

fn category_route(category: &str) -> Option<Route> {
    let sysmon = |ids: &[u32]| Route::new(&[SYSMON], ids, &[]);
    let registry = |id: u32, types: &[&str]| Route::new(&[SYSMON], &[id], types);
    Some(match category {
        "process_creation" => sysmon(&[1]),
        "file_change" => sysmon(&[2]),
        "network_connection" => sysmon(&[3]),
        "sysmon_status" => sysmon(&[4, 16]),
        "process_termination" => sysmon(&[5]),
        "driver_load" => sysmon(&[6]),
        "image_load" => sysmon(&[7]),
        "create_remote_thread" => sysmon(&[8]),
        "raw_access_thread" => sysmon(&[9]),
        "process_access" => sysmon(&[10]),
        "file_event" => sysmon(&[11]),
        "registry_event" => sysmon(&[12, 13, 14]),
        "registry_add" => registry(12, &["CreateKey"]),
        "registry_delete" => registry(12, &["DeleteKey", "DeleteValue"]),
        "registry_set" => registry(13, &["SetValue"]),
        "registry_rename" => registry(14, &["RenameKey"]),
        "create_stream_hash" => sysmon(&[15]),
        "pipe_created" => sysmon(&[17, 18]),
        "wmi_event" => sysmon(&[19, 20, 21]),
        "dns_query" => sysmon(&[22]),
        "file_delete" => sysmon(&[23, 26]),
        "clipboard_capture" => sysmon(&[24]),
        "process_tampering" => sysmon(&[25]),
        "file_delete_detected" => sysmon(&[26]),
        "file_block_executable" => sysmon(&[27]),
        "file_block_shredding" => sysmon(&[28]),
        "file_executable_detected" => sysmon(&[29]),
        "sysmon_error" => sysmon(&[255]),
        "ps_module" => Route::new(&[POWERSHELL], &[4103], &[]),
        "ps_script" => Route::new(&[POWERSHELL], &[4104], &[]),
        "ps_classic_start" => Route::new(&[POWERSHELL_CLASSIC], &[400], &[]),
        "ps_classic_provider_start" => Route::new(&[POWERSHELL_CLASSIC], &[600], &[]),
        "ps_classic_script" => Route::new(&[POWERSHELL_CLASSIC], &[800], &[]),
        _ => return None,
    })
}

/// The channels of each `service` SigmaHQ's Windows rules use.
fn service_channels(service: &str) -> Option<&'static [&'static str]> {
    Some(match service {
        "security" => &["Security"],
        "system" => &["System"],
        "application" => &["Application"],
        "sysmon" => &[SYSMON],
        "powershell" => &[POWERSHELL],
        "powershell-classic" => &[POWERSHELL_CLASSIC],
        "windefend" => &["Microsoft-Windows-Windows Defender/Operational"],
        "codeintegrity-operational" => &["Microsoft-Windows-CodeIntegrity/Operational"],
        "appxdeployment-server" => &["Microsoft-Windows-AppXDeploymentServer/Operational"],
        "appxpackaging-om" => &["Microsoft-Windows-AppxPackaging/Operational"],
        "appmodel-runtime" => &["Microsoft-Windows-AppModel-Runtime/Admin"],
        "firewall-as" => &["Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"],
        "msexchange-management" => &["MSExchange Management"],
        "bits-client" => &["Microsoft-Windows-Bits-Client/Operational"],
        "dns-client" => &["Microsoft-Windows-DNS Client Events/Operational"],
        "dns-server" => &["DNS Server"],
        "iis-configuration" => &["Microsoft-IIS-Configuration/Operational"],
        "taskscheduler" => &["Microsoft-Windows-TaskScheduler/Operational"],
        "ntlm" => &["Microsoft-Windows-NTLM/Operational"],
        "wmi" => &["Microsoft-Windows-WMI-Activity/Operational"],
        "security-mitigations" => &[
            "Microsoft-Windows-Security-Mitigations/Kernel Mode",
            "Microsoft-Windows-Security-Mitigations/User Mode",
        ],
        "applocker" => &[
            "Microsoft-Windows-AppLocker/MSI and Script",
            "Microsoft-Windows-AppLocker/EXE and DLL",
            "Microsoft-Windows-AppLocker/Packaged app-Deployment",
            "Microsoft-Windows-AppLocker/Packaged app-Execution",
        ],
        "terminalservices-localsessionmanager" => {
            &["Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"]
        }
        "smbserver-connectivity" => &["Microsoft-Windows-SmbServer/Connectivity"],
        "smbclient-security" => &["Microsoft-Windows-SmbClient/Security"],
        "shell-core" => &["Microsoft-Windows-Shell-Core/Operational"],
        "openssh" => &["OpenSSH/Operational"],
        "microsoft-servicebus-client" | "servicebus-client" => &["Microsoft-ServiceBus-Client"],
        "lsa-server" => &["Microsoft-Windows-LSA/Operational"],
        "ldap" => &["Microsoft-Windows-LDAP-Client/Debug"],
        "driver-framework" => &["Microsoft-Windows-DriverFrameworks-UserMode/Operational"],
        "diagnosis-scripted" => &["Microsoft-Windows-Diagnosis-Scripted/Operational"],
        "certificateservicesclient-lifecycle-system" => {
            &["Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational"]
        }
        "capi2" => &["Microsoft-Windows-CAPI2/Operational"],
        _ => return None,
    })
}

/// An EVTX record as the `evtx` crate writes it to JSON (`{"Event": {"System": …,
/// "EventData": …}}`, SigmaHQ's regression data is in this form), read with Sigma's field
/// names: the record's data fields by name (`EventData`, or the one element under
/// `UserData`), then `EventID`, `Channel`, `Computer`, `Provider_Name` and the other
/// `System` values.
#[derive(Debug, Clone, Copy)]
pub struct EvtxJson<'a> {
    system: Option<&'a Value>,
    data: Option<&'a Value>,
}

impl<'a> EvtxJson<'a> {
    pub fn new(record: &'a Value) -> Self {
        let event = record.get("Event").unwrap_or(record);
        let data = event.get("EventData").or_else(|| {
            // UserData holds one element named after the event's schema; its children are the fields.
            event
                .get("UserData")
                .and_then(Value::as_object)
                .and_then(|o| o.values().find(|v| v.is_object()))
        });
        EvtxJson {
            system: event.get("System"),
            data,
        }
    }

    /// The names of the record's data fields (`EventData`'s, or `UserData`'s element's).
    pub fn data_fields(&self) -> impl Iterator<Item = &'a str> + use<'a> {
        let data = self
            .data
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|o| o.keys());
        data.map(String::as_str).filter(|k| !k.starts_with('#'))
    }

    /// The record as one flat object of Sigma field names and their text values: `EventID`,
    /// `Channel`, `Computer`, `Provider_Name`, `Level`, `Task`, `Keywords` and the data fields
    /// (what an engine that reads flat events, such as rsigma-eval, is given).
    pub fn flat(&self) -> Value {
        const SYSTEM: [&str; 7] = [
            "EventID",
            "Channel",
            "Computer",
            "Provider_Name",
            "Level",
            "Task",
            "Keywords",
        ];
        let map: serde_json::Map<String, Value> = SYSTEM
            .into_iter()
            .chain(self.data_fields())
            .filter_map(|name| {
                Some((
                    name.to_owned(),
                    Value::String(self.field(name)?.into_owned()),
                ))
            })
            .collect();
        Value::Object(map)
    }

    fn system(&self, name: &str) -> Option<Cow<'a, str>> {
        let system = self.system?;
        match name {
            "Provider_Name" => text(system.get("Provider")?.get("#attributes")?.get("Name")?),
            "Provider_Guid" => text(system.get("Provider")?.get("#attributes")?.get("Guid")?),
            "TimeCreated" => text(
                system
                    .get("TimeCreated")?
                    .get("#attributes")?
                    .get("SystemTime")?,
            ),
            "ProcessID" | "ThreadID" => {
                text(system.get("Execution")?.get("#attributes")?.get(name)?)
            }
            "UserID" => text(system.get("Security")?.get("#attributes")?.get("UserID")?),
            _ => text(system.get(name)?),
        }
    }
}

/// A JSON value as text: strings as they are, numbers and booleans written out, an element
/// with attributes by its `#text`; `null` and other objects have none.
fn text(value: &Value) -> Option<Cow<'_, str>> {
    match value {
        Value::String(s) => Some(Cow::Borrowed(s)),
        Value::Number(n) => Some(Cow::Owned(n.to_string())),
        Value::Bool(b) => Some(Cow::Borrowed(if *b { "true" } else { "false" })),
        Value::Object(o) => o.get("#text").and_then(text),
        Value::Array(items) => {
            // unnamed `Data` elements: one value of all of them, as Windows' event viewer joins them
            let parts: Vec<_> = items.iter().filter_map(text).collect();
            (!parts.is_empty()).then(|| Cow::Owned(parts.join(" ")))
        }
        Value::Null => None,
    }
}

impl Fields for EvtxJson<'_> {
    fn field(&self, name: &str) -> Option<Cow<'_, str>> {
        if let Some(value) = self.data.and_then(|d| d.get(name)) {
            return text(value);
        }
        self.system(name)
    }

    fn any_value(&self, found: &mut dyn FnMut(&str) -> bool) -> bool {
        let data = self
            .data
            .and_then(Value::as_object)
            .into_iter()
            .flat_map(|o| o.values());
        let system = ["Channel", "Computer", "Provider_Name", "EventID"]
            .into_iter()
            .filter_map(|n| self.system(n));
        data.filter_map(text).chain(system).any(|v| found(&v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SYSMON_1: &str = r##"{"Event":{"System":{"Provider":{"#attributes":{"Name":"Microsoft-Windows-Sysmon"}},
        "EventID":1,"Channel":"Microsoft-Windows-Sysmon/Operational","Computer":"ws1.corp"},
        "EventData":{"Image":"C:\\Windows\\System32\\cmd.exe","ProcessId":4242,"Hashes":null}}}"##;

    #[test]
    fn evtx_json_reads_data_then_system_fields() {
        let value: Value = serde_json::from_str(SYSMON_1).expect("json");
        let event = EvtxJson::new(&value);
        assert_eq!(
            event.field("Image").as_deref(),
            Some("C:\\Windows\\System32\\cmd.exe")
        );
        assert_eq!(event.field("ProcessId").as_deref(), Some("4242"));
        assert_eq!(event.field("EventID").as_deref(), Some("1"));
        assert_eq!(
            event.field("Provider_Name").as_deref(),
            Some("Microsoft-Windows-Sysmon")
        );
        assert_eq!(event.field("Hashes"), None, "null is no value");
        assert_eq!(event.field("CommandLine"), None);
        assert!(event.any_value(&mut |v| v == "ws1.corp"));
    }

    #[test]
    fn routes_admit_their_events_only() {
        let value: Value = serde_json::from_str(SYSMON_1).expect("json");
        let event = EvtxJson::new(&value);
        let windows = |category: Option<&str>, service: Option<&str>| LogSource {
            product: Some("windows".into()),
            category: category.map(str::to_owned),
            service: service.map(str::to_owned),
        };
        assert!(
            route(&windows(Some("process_creation"), None))
                .expect("routed")
                .admits(&event)
        );
        assert!(
            !route(&windows(Some("file_event"), None))
                .expect("routed")
                .admits(&event)
        );
        assert!(
            route(&windows(None, Some("sysmon")))
                .expect("routed")
                .admits(&event)
        );
        assert!(
            !route(&windows(None, Some("security")))
                .expect("routed")
                .admits(&event)
        );
        let err = route(&windows(Some("file_access"), None)).expect_err("no Sysmon event");
        assert_eq!(
            err,
            "category `file_access` has no Sysmon or PowerShell event"
        );
        let any = route(&windows(None, None)).expect("every Windows channel");
        assert!(any.channels.is_empty() && any.admits(&event));
        let linux = LogSource {
            product: Some("linux".into()),
            ..LogSource::default()
        };
        assert_eq!(
            route(&linux).expect_err("not windows"),
            "product `linux`: only Windows rules are routed"
        );
    }
}
