//! Connected stations: one entry per station id, holding the channel to its connection task.
//!
//! A reconnecting station replaces its old connection: the new entry wins and the old task,
//! told so through its channel, closes its socket. An ending connection removes the entry only
//! if it is still its own.

use crate::connection::Command;
use proto_ocpp::OcppVersion;
use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use tokio::sync::mpsc;

/// The handle of a live connection.
#[derive(Debug, Clone)]
pub struct StationHandle {
    /// Distinguishes successive connections of one station.
    pub connection: u64,
    /// Negotiated version.
    pub version: OcppVersion,
    /// Commands to the connection task, boxed: every connection's channel holds a block of
    /// slots from the start, and boxes keep it small.
    pub commands: mpsc::Sender<Box<Command>>,
}

/// Every connected station.
#[derive(Debug, Default)]
pub struct Registry {
    stations: Mutex<HashMap<String, StationHandle>>,
    next_connection: AtomicU64,
}

impl Registry {
    /// A new connection number.
    pub fn next_connection(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<String, StationHandle>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts and
        // removes), so a poisoned lock is still usable.
        self.stations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `handle` for `station`, returning the connection it replaces.
    pub fn insert(&self, station: &str, handle: StationHandle) -> Option<StationHandle> {
        self.map().insert(station.to_string(), handle)
    }

    /// Removes `station` if `connection` is still the registered one.
    pub fn remove(&self, station: &str, connection: u64) -> bool {
        let mut map = self.map();
        if map.get(station).is_some_and(|h| h.connection == connection) {
            map.remove(station);
            return true;
        }
        false
    }

    /// The live connection of `station`.
    pub fn get(&self, station: &str) -> Option<StationHandle> {
        self.map().get(station).cloned()
    }

    /// Connected station ids with their versions.
    pub fn connected(&self) -> Vec<(String, OcppVersion)> {
        let mut all: Vec<_> = self
            .map()
            .iter()
            .map(|(id, h)| (id.clone(), h.version))
            .collect();
        all.sort();
        all
    }
}
