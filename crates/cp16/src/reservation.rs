//! Reservations (OCPP 1.6 Reservation profile): ReserveNow and CancelReservation, expiry, and who
//! may charge on a reserved connector.
//!
//! A reservation on connector 0 reserves "any connector": the station keeps as many connectors
//! free as there are connector-0 reservations, so a holder always finds one.

use crate::auth::Authorizer;
use chrono::{DateTime, Utc};
use proto_ocpp::v16::{CancelReservationStatus, ReservationStatus};
use serde::{Deserialize, Serialize};

/// One reservation.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reservation {
    /// The central system's reservation id.
    pub id: i32,
    /// The connector, 0 = any.
    pub connector: u32,
    /// When it lapses.
    pub expiry: DateTime<Utc>,
    /// The holder's id tag.
    pub id_tag: String,
    /// The holder's parent id tag, if given.
    pub parent_id_tag: Option<String>,
}

impl Reservation {
    /// Whether `id_tag` (with its `parent`, as far as known) is this reservation's holder.
    pub fn held_by(&self, id_tag: &str, parent: Option<&str>) -> bool {
        let same = |a: &str, b: &str| a.to_lowercase() == b.to_lowercase();
        same(&self.id_tag, id_tag)
            || matches!((self.parent_id_tag.as_deref(), parent), (Some(a), Some(b)) if same(a, b))
    }
}

/// A connector's state as far as reservations care.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Occupancy {
    /// Available (no plug, no transaction, operative).
    Free,
    /// In use: plugged, preparing, charging or finishing.
    Occupied,
    /// Faulted.
    Faulted,
    /// Unavailable (ChangeAvailability or our own choice).
    Unavailable,
}

/// Who may start on a connector.
#[derive(Debug, Clone, PartialEq)]
pub enum Admission {
    /// Nobody holds it.
    Free,
    /// The tag holds this reservation; StartTransaction carries its id.
    Holder(i32),
    /// Reserved for someone else.
    Reserved,
}

/// Every reservation of the station.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Reservations {
    list: Vec<Reservation>,
}

impl Reservations {
    /// The reservations, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = &Reservation> {
        self.list.iter()
    }

    /// The reservation made for `connector` itself (not connector 0).
    pub fn on(&self, connector: u32) -> Option<&Reservation> {
        self.list.iter().find(|r| r.connector == connector)
    }

    /// ReserveNow. `occupancy(n)` gives connector `n`'s state for n in 1..=connectors;
    /// `zero_supported` is ReserveConnectorZeroSupported.
    pub fn reserve(
        &mut self,
        reservation: Reservation,
        connectors: u32,
        zero_supported: bool,
        occupancy: impl Fn(u32) -> Occupancy,
        now: DateTime<Utc>,
    ) -> ReservationStatus {
        if reservation.connector > connectors
            || (reservation.connector == 0 && !zero_supported)
            || reservation.expiry <= now
        {
            return ReservationStatus::Rejected;
        }
        // A known id replaces that reservation: judge the connector without it.
        let mut others = self.clone();
        others.list.retain(|r| r.id != reservation.id);
        if reservation.connector == 0 {
            let states: Vec<Occupancy> = (1..=connectors).map(&occupancy).collect();
            let free = (1..=connectors)
                .filter(|&n| occupancy(n) == Occupancy::Free && others.on(n).is_none())
                .count();
            let zero = others.list.iter().filter(|r| r.connector == 0).count();
            if free <= zero {
                return if states.iter().all(|s| *s == Occupancy::Faulted) {
                    ReservationStatus::Faulted
                } else if states.iter().all(|s| *s == Occupancy::Unavailable) {
                    ReservationStatus::Unavailable
                } else {
                    ReservationStatus::Occupied
                };
            }
        } else {
            match occupancy(reservation.connector) {
                Occupancy::Faulted => return ReservationStatus::Faulted,
                Occupancy::Unavailable => return ReservationStatus::Unavailable,
                Occupancy::Occupied => return ReservationStatus::Occupied,
                Occupancy::Free => {}
            }
            if others.on(reservation.connector).is_some() {
                return ReservationStatus::Occupied;
            }
        }
        others.list.push(reservation);
        *self = others;
        ReservationStatus::Accepted
    }

    /// CancelReservation.
    pub fn cancel(&mut self, id: i32) -> CancelReservationStatus {
        match self.take(id) {
            Some(_) => CancelReservationStatus::Accepted,
            None => CancelReservationStatus::Rejected,
        }
    }

    /// Removes and returns reservation `id`.
    pub fn take(&mut self, id: i32) -> Option<Reservation> {
        let index = self.list.iter().position(|r| r.id == id)?;
        Some(self.list.remove(index))
    }

    /// Removes and returns the reservations that lapsed by `now`.
    pub fn expire(&mut self, now: DateTime<Utc>) -> Vec<Reservation> {
        let (lapsed, kept) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|r| r.expiry <= now);
        self.list = kept;
        lapsed
    }

    /// Removes and returns the reservations of `connector` (it became Faulted or Unavailable).
    pub fn drop_connector(&mut self, connector: u32) -> Vec<Reservation> {
        let (gone, kept) = std::mem::take(&mut self.list)
            .into_iter()
            .partition(|r| r.connector == connector);
        self.list = kept;
        gone
    }

    /// When the next reservation lapses.
    pub fn next_expiry(&self) -> Option<DateTime<Utc>> {
        self.list.iter().map(|r| r.expiry).min()
    }

    /// Whether `id_tag` (parent `parent`) may start on `connector`, given which connectors are
    /// free right now (`free(n)`, for n in 1..=connectors).
    pub fn admit(
        &self,
        connector: u32,
        id_tag: &str,
        parent: Option<&str>,
        connectors: u32,
        free: impl Fn(u32) -> bool,
    ) -> Admission {
        if let Some(r) = self.on(connector) {
            return if r.held_by(id_tag, parent) {
                Admission::Holder(r.id)
            } else {
                Admission::Reserved
            };
        }
        let zero: Vec<&Reservation> = self.list.iter().filter(|r| r.connector == 0).collect();
        if let Some(r) = zero.iter().find(|r| r.held_by(id_tag, parent)) {
            return Admission::Holder(r.id);
        }
        if zero.is_empty() {
            return Admission::Free;
        }
        // Taking this connector must leave one free connector per connector-0 reservation.
        let free_after = (1..=connectors)
            .filter(|&n| n != connector && free(n) && self.on(n).is_none())
            .count();
        if free_after >= zero.len() {
            Admission::Free
        } else {
            Admission::Reserved
        }
    }

    /// The connectors to show as Reserved: each one reserved directly, and for connector-0
    /// reservations the last free connectors (as many as there are such reservations).
    pub fn shown_reserved(&self, connectors: u32, free: impl Fn(u32) -> bool) -> Vec<u32> {
        let mut shown: Vec<u32> = self
            .list
            .iter()
            .filter(|r| r.connector > 0)
            .map(|r| r.connector)
            .collect();
        let zero = self.list.iter().filter(|r| r.connector == 0).count();
        let candidates: Vec<u32> = (1..=connectors)
            .filter(|&n| free(n) && self.on(n).is_none())
            .collect();
        if zero > 0 && candidates.len() <= zero {
            shown.extend(candidates);
        }
        shown.sort_unstable();
        shown
    }
}

/// The parent id tag of `id_tag` as far as the list or the cache know it.
pub fn known_parent(auth: &Authorizer, id_tag: &str) -> Option<String> {
    auth.list
        .lookup(id_tag)
        .or_else(|| auth.cache.lookup(id_tag))
        .and_then(|i| i.parent_id_tag.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(secs: i64) -> DateTime<Utc> {
        DateTime::from_timestamp(1_800_000_000 + secs, 0).unwrap_or_default()
    }

    fn reservation(id: i32, connector: u32, tag: &str) -> Reservation {
        Reservation {
            id,
            connector,
            expiry: at(600),
            id_tag: tag.into(),
            parent_id_tag: Some("FLEET".into()),
        }
    }

    #[test]
    fn reserve_now_answers_per_connector_state() {
        use Occupancy::*;
        let states = [Free, Occupied, Faulted, Unavailable];
        let occupancy = |n: u32| states[(n - 1) as usize];
        let mut r = Reservations::default();
        let cases = [
            (1, ReservationStatus::Accepted),
            (2, ReservationStatus::Occupied),
            (3, ReservationStatus::Faulted),
            (4, ReservationStatus::Unavailable),
            (5, ReservationStatus::Rejected),
        ];
        for (connector, expected) in cases {
            let status = r.reserve(
                reservation(connector as i32, connector, "A"),
                4,
                true,
                occupancy,
                at(0),
            );
            assert_eq!(status, expected, "connector {connector}");
        }
        // Already reserved by another reservation id.
        assert_eq!(
            r.reserve(reservation(9, 1, "B"), 4, true, occupancy, at(0)),
            ReservationStatus::Occupied
        );
        // The same id replaces its reservation.
        assert_eq!(
            r.reserve(reservation(1, 1, "C"), 4, true, occupancy, at(0)),
            ReservationStatus::Accepted
        );
        assert_eq!(r.on(1).map(|r| r.id_tag.as_str()), Some("C"));
        // Expired on arrival, or connector 0 when not supported.
        let mut late = reservation(7, 0, "A");
        late.expiry = at(0);
        assert_eq!(
            r.reserve(late, 4, true, occupancy, at(0)),
            ReservationStatus::Rejected
        );
        assert_eq!(
            r.reserve(reservation(8, 0, "A"), 4, false, occupancy, at(0)),
            ReservationStatus::Rejected
        );
    }

    #[test]
    fn connector_zero_keeps_a_connector_free_for_each_holder() {
        let mut r = Reservations::default();
        let all_free = |_| Occupancy::Free;
        assert_eq!(
            r.reserve(reservation(1, 0, "A"), 2, true, all_free, at(0)),
            ReservationStatus::Accepted
        );
        assert_eq!(
            r.reserve(reservation(2, 0, "B"), 2, true, all_free, at(0)),
            ReservationStatus::Accepted
        );
        assert_eq!(
            r.reserve(reservation(3, 0, "C"), 2, true, all_free, at(0)),
            ReservationStatus::Occupied,
            "two connectors, two holders"
        );
        // A stranger may not take either connector; each holder may take any.
        assert_eq!(r.admit(1, "X", None, 2, |_| true), Admission::Reserved);
        assert_eq!(r.admit(2, "b", None, 2, |_| true), Admission::Holder(2));
        assert_eq!(r.shown_reserved(2, |_| true), vec![1, 2]);
        r.cancel(2);
        // One holder left, two free connectors: a stranger may take one.
        assert_eq!(r.admit(1, "X", None, 2, |_| true), Admission::Free);
        assert_eq!(r.admit(1, "X", None, 2, |n| n == 1), Admission::Reserved);
        assert_eq!(r.shown_reserved(2, |_| true), Vec::<u32>::new());
        assert_eq!(r.shown_reserved(2, |n| n == 2), vec![2]);
    }

    #[test]
    fn holders_are_matched_by_tag_or_parent() {
        let mut r = Reservations::default();
        r.reserve(
            reservation(1, 1, "Alice"),
            2,
            true,
            |_| Occupancy::Free,
            at(0),
        );
        assert_eq!(r.admit(1, "ALICE", None, 2, |_| true), Admission::Holder(1));
        assert_eq!(
            r.admit(1, "bob", Some("fleet"), 2, |_| true),
            Admission::Holder(1)
        );
        assert_eq!(r.admit(1, "eve", None, 2, |_| true), Admission::Reserved);
        assert_eq!(r.admit(2, "eve", None, 2, |_| true), Admission::Free);
    }

    #[test]
    fn reservations_lapse_cancel_and_vanish_with_their_connector() {
        let mut r = Reservations::default();
        let mut short = reservation(1, 1, "A");
        short.expiry = at(60);
        r.reserve(short, 3, true, |_| Occupancy::Free, at(0));
        r.reserve(reservation(2, 2, "B"), 3, true, |_| Occupancy::Free, at(0));
        r.reserve(reservation(3, 3, "C"), 3, true, |_| Occupancy::Free, at(0));
        assert_eq!(r.next_expiry(), Some(at(60)));
        assert!(r.expire(at(59)).is_empty());
        assert_eq!(r.expire(at(60)).len(), 1);
        assert_eq!(r.cancel(2), CancelReservationStatus::Accepted);
        assert_eq!(r.cancel(2), CancelReservationStatus::Rejected);
        assert_eq!(r.drop_connector(3).len(), 1);
        assert_eq!(r.iter().count(), 0);
    }
}
