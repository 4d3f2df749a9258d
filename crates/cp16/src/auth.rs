//! Authorization of id tags without the central system: the local authorization list (set only by
//! SendLocalList) and the authorization cache (every idTagInfo the central system sends), and the
//! decision table of OCPP 1.6 §3.1 for starting a transaction online or offline.
//!
//! Id tags are CiString20: compared case-insensitively, with no assumption about their format.
//! The list beats the cache, and listed tags are never cached.

use chrono::{DateTime, Utc};
use proto_ocpp::v16::{
    AuthorizationData, AuthorizationStatus, IdTagInfo, UpdateStatus, UpdateType,
};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The key an id tag is compared by.
fn key(id_tag: &str) -> String {
    id_tag.to_lowercase()
}

/// Whether `info` lets its holder charge at `now` (Accepted or ConcurrentTx, not past expiry).
pub fn is_valid(info: &IdTagInfo, now: DateTime<Utc>) -> bool {
    effective_status(info, now).is_some_and(|s| {
        matches!(
            s,
            AuthorizationStatus::Accepted | AuthorizationStatus::ConcurrentTx
        )
    })
}

/// The status of `info` at `now`: Expired once its expiry date has passed.
fn effective_status(info: &IdTagInfo, now: DateTime<Utc>) -> Option<AuthorizationStatus> {
    match info.expiry_date {
        Some(expiry) if expiry.to_utc() <= now => Some(AuthorizationStatus::Expired),
        _ => Some(info.status),
    }
}

/// The local authorization list.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct LocalList {
    version: i32,
    entries: BTreeMap<String, AuthorizationData>,
}

impl LocalList {
    /// The list version (0 when empty and never set).
    pub fn version(&self) -> i32 {
        self.version
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the list is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The entry of `id_tag`, if listed.
    pub fn lookup(&self, id_tag: &str) -> Option<&IdTagInfo> {
        self.entries
            .get(&key(id_tag))
            .and_then(|e| e.id_tag_info.as_ref())
    }

    /// Applies a SendLocalList: `per_message` is SendLocalListMaxLength, `capacity`
    /// LocalAuthListMaxLength. Nothing changes unless the answer is Accepted.
    pub fn update(
        &mut self,
        version: i32,
        update_type: UpdateType,
        entries: &[AuthorizationData],
        per_message: usize,
        capacity: usize,
    ) -> UpdateStatus {
        if version <= 0 || entries.len() > per_message {
            return UpdateStatus::Failed;
        }
        let mut seen = std::collections::HashSet::new();
        if !entries.iter().all(|e| seen.insert(key(&e.id_tag))) {
            return UpdateStatus::Failed;
        }
        let mut next = match update_type {
            UpdateType::Full => {
                if entries.iter().any(|e| e.id_tag_info.is_none()) {
                    return UpdateStatus::Failed;
                }
                BTreeMap::new()
            }
            UpdateType::Differential => {
                if version <= self.version {
                    return UpdateStatus::VersionMismatch;
                }
                self.entries.clone()
            }
        };
        for entry in entries {
            match entry.id_tag_info {
                Some(_) => {
                    next.insert(key(&entry.id_tag), entry.clone());
                }
                None => {
                    next.remove(&key(&entry.id_tag));
                }
            }
        }
        if next.len() > capacity {
            return UpdateStatus::Failed;
        }
        self.entries = next;
        self.version = version;
        UpdateStatus::Accepted
    }
}

/// The authorization cache: the last idTagInfo the central system sent for each id tag.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Cache {
    capacity: usize,
    /// Each entry with the counter value of its last refresh (higher = newer).
    entries: BTreeMap<String, (IdTagInfo, u64)>,
    counter: u64,
}

impl Cache {
    /// An empty cache holding at most `capacity` entries.
    pub fn new(capacity: usize) -> Self {
        Self {
            capacity: capacity.max(1),
            entries: BTreeMap::new(),
            counter: 0,
        }
    }

    /// The number of entries.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// Whether the cache is empty.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The cached entry of `id_tag`.
    pub fn lookup(&self, id_tag: &str) -> Option<&IdTagInfo> {
        self.entries.get(&key(id_tag)).map(|(info, _)| info)
    }

    /// Stores or refreshes `id_tag`. When full, an invalid entry goes first, then the oldest
    /// valid one.
    pub fn store(&mut self, id_tag: &str, info: IdTagInfo, now: DateTime<Utc>) {
        let k = key(id_tag);
        if !self.entries.contains_key(&k) && self.entries.len() >= self.capacity {
            let victim = self
                .entries
                .iter()
                .min_by_key(|(_, (info, used))| (is_valid(info, now), *used))
                .map(|(k, _)| k.clone());
            if let Some(victim) = victim {
                self.entries.remove(&victim);
            }
        }
        self.counter += 1;
        self.entries.insert(k, (info, self.counter));
    }

    /// Empties the cache (ClearCache).
    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

/// The settings that shape a decision (configuration keys).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Policy {
    /// LocalAuthListEnabled.
    pub list_enabled: bool,
    /// AuthorizationCacheEnabled.
    pub cache_enabled: bool,
    /// LocalPreAuthorize.
    pub pre_authorize: bool,
    /// LocalAuthorizeOffline.
    pub authorize_offline: bool,
    /// AllowOfflineTxForUnknownId.
    pub allow_unknown_offline: bool,
}

/// What to do with an id tag presented to start a transaction.
#[derive(Debug, Clone, PartialEq)]
pub enum Decision {
    /// Start now on a locally valid entry.
    Start(IdTagInfo),
    /// Start now although the tag is unknown (offline, AllowOfflineTxForUnknownId); the
    /// StartTransaction confirmation decides later.
    StartUnknown,
    /// Ask the central system (Authorize.req) and start only on Accepted.
    Ask,
    /// Refuse with this status.
    Refuse(AuthorizationStatus),
}

/// Where a tag was found.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The local authorization list.
    List,
    /// The authorization cache.
    Cache,
}

/// The local list and the cache together, with the §3.1 decisions.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Authorizer {
    /// The local authorization list.
    pub list: LocalList,
    /// The authorization cache.
    pub cache: Cache,
}

impl Authorizer {
    /// An empty list and an empty cache of `cache_capacity` entries.
    pub fn new(cache_capacity: usize) -> Self {
        Self {
            list: LocalList::default(),
            cache: Cache::new(cache_capacity),
        }
    }

    /// The local entry of `id_tag` and where it was found (the list first).
    pub fn local(&self, id_tag: &str, policy: &Policy) -> Option<(IdTagInfo, Source)> {
        if policy.list_enabled
            && let Some(info) = self.list.lookup(id_tag)
        {
            return Some((info.clone(), Source::List));
        }
        if policy.cache_enabled
            && let Some(info) = self.cache.lookup(id_tag)
        {
            return Some((info.clone(), Source::Cache));
        }
        None
    }

    /// Decides about `id_tag` presented to start a transaction.
    pub fn decide(
        &self,
        id_tag: &str,
        online: bool,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> Decision {
        let local = self.local(id_tag, policy);
        if online {
            return match local {
                Some((info, _)) if policy.pre_authorize && is_valid(&info, now) => {
                    Decision::Start(info)
                }
                _ => Decision::Ask,
            };
        }
        match local {
            Some((info, _)) if is_valid(&info, now) => {
                if policy.authorize_offline {
                    Decision::Start(info)
                } else {
                    Decision::Refuse(AuthorizationStatus::Invalid)
                }
            }
            Some((info, _)) => Decision::Refuse(
                effective_status(&info, now).unwrap_or(AuthorizationStatus::Invalid),
            ),
            None if policy.allow_unknown_offline => Decision::StartUnknown,
            None => Decision::Refuse(AuthorizationStatus::Invalid),
        }
    }

    /// Takes in an idTagInfo from the central system (Authorize, StartTransaction or
    /// StopTransaction confirmation). Returns true when it conflicts with the local list (the
    /// station then reports LocalListConflict on connector 0).
    pub fn learn(
        &mut self,
        id_tag: &str,
        info: &IdTagInfo,
        policy: &Policy,
        now: DateTime<Utc>,
    ) -> bool {
        if let Some(listed) = self.list.lookup(id_tag) {
            return policy.list_enabled && is_valid(listed, now) != is_valid(info, now);
        }
        if policy.cache_enabled {
            self.cache.store(id_tag, info.clone(), now);
        }
        false
    }

    /// Whether `id_tag` may stop a transaction started by `starter`: the same tag, or one whose
    /// parent tag equals the starter's parent (`starter_parent`), as far as known locally.
    /// `None` means the central system must be asked (Authorize.req).
    pub fn may_stop(
        &self,
        id_tag: &str,
        starter: &str,
        starter_parent: Option<&str>,
        policy: &Policy,
    ) -> Option<bool> {
        if key(id_tag) == key(starter) {
            return Some(true);
        }
        let (info, _) = self.local(id_tag, policy)?;
        Some(match (info.parent_id_tag.as_deref(), starter_parent) {
            (Some(a), Some(b)) => key(a) == key(b),
            _ => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proto_ocpp::Timestamp;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn info(status: AuthorizationStatus, expiry: Option<i64>) -> IdTagInfo {
        let mut info = IdTagInfo::new(status);
        info.expiry_date =
            expiry.and_then(|s| Timestamp::from_unix_millis((1_800_000_000 + s) * 1000));
        info
    }

    fn entry(tag: &str, status: Option<AuthorizationStatus>) -> AuthorizationData {
        let mut data = AuthorizationData::new(tag.into());
        data.id_tag_info = status.map(|s| info(s, None));
        data
    }

    const ALL_ON: Policy = Policy {
        list_enabled: true,
        cache_enabled: true,
        pre_authorize: true,
        authorize_offline: true,
        allow_unknown_offline: false,
    };

    #[test]
    fn full_and_differential_updates_follow_the_versions() {
        use AuthorizationStatus::*;
        let mut list = LocalList::default();
        assert_eq!(list.version(), 0);
        let full = [entry("A", Some(Accepted)), entry("b", Some(Blocked))];
        assert_eq!(
            list.update(3, UpdateType::Full, &full, 10, 10),
            UpdateStatus::Accepted
        );
        assert_eq!(list.len(), 2);
        assert_eq!(
            list.lookup("B").map(|i| i.status),
            Some(Blocked),
            "case-insensitive"
        );
        // A differential update at or below the current version is a mismatch and changes nothing.
        let diff = [entry("c", Some(Accepted))];
        assert_eq!(
            list.update(3, UpdateType::Differential, &diff, 10, 10),
            UpdateStatus::VersionMismatch
        );
        assert!(list.lookup("c").is_none());
        // Upsert with info, delete without.
        let diff = [entry("c", Some(Accepted)), entry("a", None)];
        assert_eq!(
            list.update(4, UpdateType::Differential, &diff, 10, 10),
            UpdateStatus::Accepted
        );
        assert!(list.lookup("a").is_none());
        assert!(list.lookup("C").is_some());
        assert_eq!(list.version(), 4);
        // A full update replaces everything; an empty one clears the list.
        assert_eq!(
            list.update(5, UpdateType::Full, &[], 10, 10),
            UpdateStatus::Accepted
        );
        assert!(list.is_empty());
        assert_eq!(list.version(), 5);
    }

    #[test]
    fn bad_updates_fail_without_changes() {
        use AuthorizationStatus::*;
        let mut list = LocalList::default();
        let full = [entry("A", Some(Accepted))];
        assert_eq!(
            list.update(1, UpdateType::Full, &full, 10, 10),
            UpdateStatus::Accepted
        );
        let cases: [(i32, UpdateType, Vec<AuthorizationData>, usize, usize); 5] = [
            // A full list entry needs its idTagInfo.
            (2, UpdateType::Full, vec![entry("x", None)], 10, 10),
            // Duplicate tags (case-insensitive).
            (
                2,
                UpdateType::Full,
                vec![entry("x", Some(Accepted)), entry("X", Some(Blocked))],
                10,
                10,
            ),
            // More entries than SendLocalListMaxLength.
            (
                2,
                UpdateType::Full,
                vec![entry("x", Some(Accepted)), entry("y", Some(Accepted))],
                1,
                10,
            ),
            // More than LocalAuthListMaxLength in total.
            (
                2,
                UpdateType::Differential,
                vec![entry("x", Some(Accepted))],
                10,
                1,
            ),
            // Versions 0 and -1 are reserved.
            (0, UpdateType::Full, vec![], 10, 10),
        ];
        for (version, kind, entries, per_message, capacity) in cases {
            let before = list.clone();
            assert_eq!(
                list.update(version, kind, &entries, per_message, capacity),
                UpdateStatus::Failed,
                "{entries:?}"
            );
            assert_eq!(list, before);
        }
    }

    #[test]
    fn the_cache_evicts_invalid_entries_first_then_the_oldest() {
        use AuthorizationStatus::*;
        let mut cache = Cache::new(3);
        cache.store("a", info(Accepted, None), at(0));
        cache.store("b", info(Blocked, None), at(0));
        cache.store("c", info(Accepted, None), at(0));
        cache.store("d", info(Accepted, None), at(0));
        assert!(cache.lookup("b").is_none(), "the invalid entry went first");
        cache.store("a", info(Accepted, None), at(1)); // refreshed: now the newest
        cache.store("e", info(Accepted, None), at(1));
        assert!(cache.lookup("c").is_none(), "then the oldest valid one");
        assert!(cache.lookup("a").is_some());
        assert_eq!(cache.len(), 3);
        // An entry past its expiry counts as invalid.
        let mut cache = Cache::new(2);
        cache.store("old", info(Accepted, Some(10)), at(0));
        cache.store("new", info(Accepted, None), at(0));
        cache.store("x", info(Accepted, None), at(20));
        assert!(cache.lookup("old").is_none());
    }

    #[test]
    fn decisions_follow_the_section_3_1_table() {
        use AuthorizationStatus::*;
        let mut auth = Authorizer::new(10);
        let listed = [
            entry("list-ok", Some(Accepted)),
            entry("list-blocked", Some(Blocked)),
        ];
        assert_eq!(
            auth.list.update(1, UpdateType::Full, &listed, 10, 10),
            UpdateStatus::Accepted
        );
        auth.cache
            .store("cached-ok", info(Accepted, Some(100)), at(0));
        auth.cache
            .store("cached-invalid", info(Invalid, None), at(0));
        let no_pre = Policy {
            pre_authorize: false,
            ..ALL_ON
        };
        let unknown_ok = Policy {
            allow_unknown_offline: true,
            ..ALL_ON
        };
        let no_offline = Policy {
            authorize_offline: false,
            ..ALL_ON
        };
        let start = |status| Decision::Start(info(status, None));
        let cases: Vec<(&str, bool, Policy, i64, Decision)> = vec![
            // Online.
            ("stranger", true, ALL_ON, 0, Decision::Ask),
            ("list-ok", true, ALL_ON, 0, start(Accepted)),
            ("list-ok", true, no_pre, 0, Decision::Ask),
            ("cached-invalid", true, ALL_ON, 0, Decision::Ask),
            ("list-blocked", true, ALL_ON, 0, Decision::Ask),
            // Offline.
            ("LIST-OK", false, ALL_ON, 0, start(Accepted)),
            ("list-ok", false, no_offline, 0, Decision::Refuse(Invalid)),
            ("list-blocked", false, ALL_ON, 0, Decision::Refuse(Blocked)),
            ("cached-ok", false, ALL_ON, 200, Decision::Refuse(Expired)),
            (
                "cached-invalid",
                false,
                ALL_ON,
                0,
                Decision::Refuse(Invalid),
            ),
            ("stranger", false, ALL_ON, 0, Decision::Refuse(Invalid)),
            ("stranger", false, unknown_ok, 0, Decision::StartUnknown),
            (
                "list-blocked",
                false,
                unknown_ok,
                0,
                Decision::Refuse(Blocked),
            ),
        ];
        for (tag, online, policy, now, expected) in cases {
            assert_eq!(
                auth.decide(tag, online, &policy, at(now)),
                expected,
                "{tag} online={online}"
            );
        }
        let cached = auth.decide("cached-ok", false, &ALL_ON, at(0));
        assert!(matches!(cached, Decision::Start(i) if i.status == Accepted));
        // Switched off, the list and the cache are not consulted.
        let off = Policy {
            list_enabled: false,
            cache_enabled: false,
            ..ALL_ON
        };
        assert_eq!(
            auth.decide("list-ok", false, &off, at(0)),
            Decision::Refuse(Invalid)
        );
    }

    #[test]
    fn central_system_verdicts_fill_the_cache_but_never_override_the_list() {
        use AuthorizationStatus::*;
        let mut auth = Authorizer::new(10);
        let listed = [entry("listed", Some(Blocked))];
        auth.list.update(1, UpdateType::Full, &listed, 10, 10);
        assert!(!auth.learn("new", &info(Accepted, None), &ALL_ON, at(0)));
        assert_eq!(auth.cache.lookup("NEW").map(|i| i.status), Some(Accepted));
        assert!(
            auth.learn("listed", &info(Accepted, None), &ALL_ON, at(0)),
            "conflict"
        );
        assert!(
            auth.cache.lookup("listed").is_none(),
            "listed tags are never cached"
        );
        assert!(!auth.learn("listed", &info(Blocked, None), &ALL_ON, at(0)));
        let no_cache = Policy {
            cache_enabled: false,
            ..ALL_ON
        };
        auth.learn("other", &info(Accepted, None), &no_cache, at(0));
        assert!(auth.cache.lookup("other").is_none());
    }

    #[test]
    fn a_transaction_stops_with_its_tag_or_a_sibling_of_the_same_parent() {
        use AuthorizationStatus::*;
        let mut auth = Authorizer::new(10);
        let mut sibling = info(Accepted, None);
        sibling.parent_id_tag = Some("FLEET".into());
        auth.cache.store("sibling", sibling, at(0));
        auth.cache.store("loner", info(Accepted, None), at(0));
        assert_eq!(
            auth.may_stop("Starter", "starter", None, &ALL_ON),
            Some(true)
        );
        assert_eq!(
            auth.may_stop("sibling", "starter", Some("fleet"), &ALL_ON),
            Some(true)
        );
        assert_eq!(
            auth.may_stop("loner", "starter", Some("fleet"), &ALL_ON),
            Some(false)
        );
        assert_eq!(
            auth.may_stop("stranger", "starter", Some("fleet"), &ALL_ON),
            None
        );
    }
}
