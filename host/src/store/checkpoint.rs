//! Durable engines: the write-ahead log of accepted events and the checkpoints of each
//! tenant's engine (its position and every rule's host state).
//!
//! Trees:
//! - `wal`: `tenant \0 id` (id: 1 + sled's monotonic id, u64 big-endian, so a tenant's entries
//!   scan in the order they were written) → the events of one accepted request, one JSON
//!   object per line (the normalized event form, `docs/events.md`).
//! - `state`: `tenant` → the engine's checkpoint meta (JSON: format, when, the last WAL id
//!   the engine had taken in, the [`EngineSnapshot`]); `tenant \0 rule` → that rule's host
//!   state ([`crate::state::RuleState::encode`]).
//!
//! A checkpoint is written in one sled transaction (the meta and every rule's state, and the
//! removal of rules no longer saved) and flushed; then the WAL entries it covers are trimmed.
//! A crash between the two leaves entries at or below `wal_applied`, which replay skips and
//! the next checkpoint trims: so a restart sees each accepted event exactly once, either in
//! the checkpoint (its effect on the state, or waiting in the snapshot) or in the WAL.

use anyhow::Context;
use serde::{Deserialize, Serialize};
use sled::transaction::ConflictableTransactionError;

use super::{Store, crash_point, key2, now_ms};
use crate::engine::EngineSnapshot;
use crate::event::Event;

/// The format of the checkpoint meta this host writes and reads.
const FORMAT: u32 = 1;

/// One tenant's engine, saved.
#[derive(Debug, Clone, PartialEq)]
pub struct Checkpoint {
    pub engine: EngineSnapshot,
    /// the last WAL entry whose events the engine had taken in: they are evaluated (their
    /// effect is in `rules`) or waiting in `engine`; replay starts after it
    pub wal_applied: u64,
    /// rule id → its host state, encoded
    pub rules: Vec<(String, Vec<u8>)>,
    /// wall-clock ms of the save
    pub saved_at: i64,
}

#[derive(Serialize, Deserialize)]
struct Meta {
    v: u32,
    saved_at: i64,
    wal_applied: u64,
    engine: EngineSnapshot,
}

fn wal_key(tenant: &str, id: u64) -> Vec<u8> {
    let mut k = key2(tenant, "");
    k.extend_from_slice(&id.to_be_bytes());
    k
}

impl Store {
    fn durable_trees(&self) -> anyhow::Result<(sled::Tree, sled::Tree)> {
        let open = |name: &str| {
            self.db()
                .open_tree(name)
                .with_context(|| format!("cannot open tree `{name}` of the store"))
        };
        Ok((open("wal")?, open("state")?))
    }

    /// The WAL form of one request's events (encode outside any lock, then
    /// [`Store::wal_append`]).
    pub(crate) fn wal_encode(events: &[Event]) -> anyhow::Result<Vec<u8>> {
        let mut text = Vec::new();
        for event in events {
            serde_json::to_writer(&mut text, event).context("cannot encode an event")?;
            text.push(b'\n');
        }
        Ok(text)
    }

    /// Appends one request's events ([`Store::wal_encode`]) to `tenant`'s WAL, not flushed
    /// (see [`Store::flush`]); returns the entry's id, larger than every earlier one.
    pub(crate) fn wal_append(&self, tenant: &str, encoded: &[u8]) -> anyhow::Result<u64> {
        let (wal, _) = self.durable_trees()?;
        // sled's ids start at 0; WAL ids start at 1, so that 0 means "no entry"
        let id = self.db().generate_id()? + 1;
        wal.insert(wal_key(tenant, id), encoded)?;
        Ok(id)
    }

    /// Removes one WAL entry (its events were refused after all).
    pub(crate) fn wal_remove(&self, tenant: &str, id: u64) -> anyhow::Result<()> {
        let (wal, _) = self.durable_trees()?;
        wal.remove(wal_key(tenant, id))?;
        Ok(())
    }

    /// `tenant`'s WAL entries after `after`, oldest first, read one at a time.
    pub(crate) fn wal_entries(
        &self,
        tenant: &str,
        after: u64,
    ) -> anyhow::Result<impl Iterator<Item = anyhow::Result<(u64, Vec<Event>)>> + use<>> {
        let (wal, _) = self.durable_trees()?;
        let prefix = key2(tenant, "");
        let end = {
            let mut e = prefix.clone();
            // the byte after the NUL separator: past every `tenant \0 id`
            *e.last_mut().expect("the prefix ends with NUL") = 1;
            e
        };
        let start = wal_key(tenant, after.saturating_add(1));
        let tenant = tenant.to_owned();
        Ok(wal.range(start..end).map(move |item| {
            let (k, v) = item?;
            let id = k
                .get(k.len().saturating_sub(8)..)
                .and_then(|b| <[u8; 8]>::try_from(b).ok())
                .map(u64::from_be_bytes)
                .with_context(|| format!("a WAL key of tenant `{tenant}` is malformed"))?;
            let events = serde_json::Deserializer::from_slice(&v)
                .into_iter::<Event>()
                .collect::<Result<Vec<_>, _>>()
                .with_context(|| format!("WAL entry {id} of tenant `{tenant}` is unreadable"))?;
            Ok((id, events))
        }))
    }

    /// Removes `tenant`'s WAL entries up to `upto` (covered by a checkpoint); returns how many.
    pub(crate) fn wal_trim(&self, tenant: &str, upto: u64) -> anyhow::Result<usize> {
        let (wal, _) = self.durable_trees()?;
        let start = wal_key(tenant, 0);
        let end = wal_key(tenant, upto.saturating_add(1));
        let mut removed = 0;
        for item in wal.range(start..end) {
            let (k, _) = item?;
            wal.remove(k)?;
            removed += 1;
        }
        Ok(removed)
    }

    /// How many WAL entries `tenant` has (for tests and operations).
    pub fn wal_len(&self, tenant: &str) -> anyhow::Result<usize> {
        Ok(self.wal_entries(tenant, 0)?.count())
    }

    /// Saves `tenant`'s checkpoint (replacing the previous one: rules not in it lose their
    /// saved state), flushes, then trims the WAL it covers.
    pub(crate) fn save_checkpoint(
        &self,
        tenant: &str,
        checkpoint: &Checkpoint,
    ) -> anyhow::Result<()> {
        super::check_tenant_name(tenant)?;
        let (_, state) = self.durable_trees()?;
        let meta = serde_json::to_vec(&Meta {
            v: FORMAT,
            saved_at: checkpoint.saved_at,
            wal_applied: checkpoint.wal_applied,
            engine: checkpoint.engine.clone(),
        })
        .context("cannot encode the checkpoint")?;
        let rule_keys: Vec<(Vec<u8>, &[u8])> = checkpoint
            .rules
            .iter()
            .map(|(id, s)| (key2(tenant, id), s.as_slice()))
            .collect();
        let mut stale = Vec::new();
        for item in state.scan_prefix(key2(tenant, "")) {
            let (k, _) = item?;
            if !rule_keys
                .iter()
                .any(|(key, _)| key.as_slice() == k.as_ref())
            {
                stale.push(k);
            }
        }
        state
            .transaction(|tx| {
                for k in &stale {
                    tx.remove(k.as_ref())?;
                }
                for (k, v) in &rule_keys {
                    tx.insert(k.as_slice(), *v)?;
                }
                tx.insert(tenant.as_bytes(), meta.as_slice())?;
                Ok::<(), ConflictableTransactionError<()>>(())
            })
            .map_err(|e| anyhow::anyhow!("saving the checkpoint of `{tenant}`: {e:?}"))?;
        self.flush()?;
        crash_point("checkpoint-saved");
        self.wal_trim(tenant, checkpoint.wal_applied)?;
        Ok(())
    }

    /// `tenant`'s last checkpoint, if it has one.
    pub fn load_checkpoint(&self, tenant: &str) -> anyhow::Result<Option<Checkpoint>> {
        let (_, state) = self.durable_trees()?;
        let Some(meta) = state.get(tenant.as_bytes())? else {
            return Ok(None);
        };
        let meta: Meta = serde_json::from_slice(&meta)
            .with_context(|| format!("the checkpoint of tenant `{tenant}` is unreadable"))?;
        if meta.v != FORMAT {
            anyhow::bail!(
                "the checkpoint of tenant `{tenant}` has format {}; this host reads format {FORMAT}",
                meta.v
            );
        }
        let prefix = key2(tenant, "");
        let mut rules = Vec::new();
        for item in state.scan_prefix(&prefix) {
            let (k, v) = item?;
            let id = String::from_utf8_lossy(&k[prefix.len()..]).into_owned();
            rules.push((id, v.to_vec()));
        }
        Ok(Some(Checkpoint {
            engine: meta.engine,
            wal_applied: meta.wal_applied,
            rules,
            saved_at: meta.saved_at,
        }))
    }
}

/// Wall-clock ms now, for [`Checkpoint::saved_at`].
pub(crate) fn checkpoint_time() -> i64 {
    now_ms()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(time: i64, host: &str) -> Event {
        crate::event::parse_event(&format!(
            r#"{{"time":{time},"class":"process","device":{{"hostname":"{host}"}},"unmapped":{{"k":"v"}}}}"#
        ))
        .expect("a valid event")
    }

    fn snapshot(next_seq: u64) -> EngineSnapshot {
        let mut waiting = event(5, "w");
        waiting.seq = next_seq - 1;
        EngineSnapshot {
            next_seq,
            newest: 5,
            watermark: Some(4),
            last_tick: None,
            buffered: vec![waiting],
            ready: Vec::new(),
        }
    }

    #[test]
    fn the_wal_keeps_events_in_order_per_tenant_and_trims_what_a_checkpoint_covers() {
        let dir = tempfile::tempdir().expect("tmp");
        let store = Store::open(dir.path()).expect("store");
        let append = |tenant: &str, events: &[Event]| {
            let encoded = Store::wal_encode(events).expect("encodes");
            store.wal_append(tenant, &encoded).expect("appends")
        };
        let a1 = append("a", &[event(1, "x"), event(2, "y")]);
        let b1 = append("b", &[event(3, "z")]);
        let a2 = append("a", &[event(4, "x")]);
        assert!(a1 < b1 && b1 < a2);
        let entries: Vec<(u64, Vec<Event>)> = store
            .wal_entries("a", 0)
            .expect("scan")
            .collect::<anyhow::Result<_>>()
            .expect("readable");
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].0, a1);
        assert_eq!(
            entries[0].1,
            vec![event(1, "x"), event(2, "y")],
            "events read back equal"
        );
        assert_eq!(store.wal_entries("a", a1).expect("scan").count(), 1);
        let checkpoint = Checkpoint {
            engine: snapshot(3),
            wal_applied: a1,
            rules: vec![("r1".into(), b"s1".to_vec()), ("r2".into(), b"s2".to_vec())],
            saved_at: 1,
        };
        store.save_checkpoint("a", &checkpoint).expect("saves");
        assert_eq!(store.wal_len("a").expect("len"), 1, "a1 trimmed, a2 kept");
        assert_eq!(
            store.wal_len("b").expect("len"),
            1,
            "other tenants untouched"
        );
        assert_eq!(store.load_checkpoint("a").expect("loads"), Some(checkpoint));
        assert_eq!(store.load_checkpoint("b").expect("loads"), None);
        // a later checkpoint without r2 drops its state
        let later = Checkpoint {
            engine: snapshot(4),
            wal_applied: a2,
            rules: vec![("r1".into(), b"s1'".to_vec())],
            saved_at: 2,
        };
        store.save_checkpoint("a", &later).expect("saves");
        assert_eq!(store.load_checkpoint("a").expect("loads"), Some(later));
        assert_eq!(store.wal_len("a").expect("len"), 0);
    }
}
