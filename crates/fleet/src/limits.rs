//! The open-file limit: every station holds one socket, so a fleet of N stations needs N file
//! descriptors and some spare. The soft limit is raised to what the fleet needs, and the hard
//! limit too when the process may; what the system refused is reported, not hidden.

use serde::{Deserialize, Serialize};

/// Descriptors kept beyond one per station (runtime, standard streams, resolver, report file).
const SPARE: u64 = 64;

/// The outcome of raising the open-file limit.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileLimit {
    /// Descriptors the fleet needs.
    pub wanted: u64,
    /// The soft limit now in force.
    pub soft: u64,
    /// The hard limit now in force.
    pub hard: u64,
    /// Why the limit stays below what is wanted, when it does.
    pub refused: Option<String>,
}

impl FileLimit {
    /// Stations the limit leaves room for.
    pub fn stations_possible(&self) -> u64 {
        self.soft.saturating_sub(SPARE)
    }
}

/// Raises the open-file limit for `stations` connections (plus `extra` descriptors the caller
/// needs beyond the fleet's own).
pub fn raise_for(stations: usize, extra: u64) -> FileLimit {
    let wanted = u64::try_from(stations)
        .unwrap_or(u64::MAX)
        .saturating_add(SPARE)
        .saturating_add(extra);
    let (soft, hard) = match rlimit::Resource::NOFILE.get() {
        Ok(limits) => limits,
        Err(e) => {
            return FileLimit {
                wanted,
                soft: 0,
                hard: 0,
                refused: Some(format!("cannot read the open-file limit: {e}")),
            };
        }
    };
    if soft >= wanted {
        return FileLimit {
            wanted,
            soft,
            hard,
            refused: None,
        };
    }
    let mut refused = None;
    let mut hard_now = hard;
    if hard < wanted {
        // Raising the hard limit needs privilege (CAP_SYS_RESOURCE); try, and say if refused.
        match rlimit::Resource::NOFILE.set(wanted, wanted) {
            Ok(()) => hard_now = wanted,
            Err(e) => {
                refused = Some(format!(
                    "the system refused to raise the hard open-file limit from {hard} to \
                     {wanted} ({e}); at most about {} stations can connect from this process; \
                     raise it as root (`ulimit -Hn`, LimitNOFILE= for a service, \
                     /etc/security/limits.conf)",
                    hard.saturating_sub(SPARE)
                ));
            }
        }
    }
    let target = wanted.min(hard_now);
    if let Err(e) = rlimit::Resource::NOFILE.set(target, hard_now) {
        refused.get_or_insert(format!(
            "cannot raise the open-file limit from {soft} to {target}: {e}"
        ));
    }
    let (soft, hard) = rlimit::Resource::NOFILE.get().unwrap_or((soft, hard_now));
    FileLimit {
        wanted,
        soft,
        hard,
        refused,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_fleet_needs_no_change() {
        let limit = raise_for(10, 0);
        assert_eq!(limit.wanted, 10 + SPARE);
        assert!(limit.soft >= limit.wanted, "{limit:?}");
        assert!(limit.refused.is_none(), "{limit:?}");
        assert!(limit.stations_possible() >= 10);
    }
}
