//! Connected stations: one entry per station id, holding the mailbox of its connection task.
//!
//! A reconnecting station replaces its old connection: the new entry wins and the old task,
//! told so by its mailbox being closed, closes its socket. An ending connection removes the
//! entry only if it is still its own.
//!
//! A mailbox is a short queue behind a lock plus a flag and a waker, not a channel: commands to a
//! station are rare, and a tokio channel allocates a block of 32 slots and two cache-line-padded
//! halves for every connection, several times what the rest of an idle connection's bookkeeping
//! costs. Waiting on it takes no lock and keeps no waiter node in the connection's future.

use crate::connection::Command;
use futures_util::task::AtomicWaker;
use proto_ocpp::OcppVersion;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::Poll;

/// Commands that may wait for one connection task; more are refused.
pub const MAILBOX_CAPACITY: usize = 64;

/// Why a command was not delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PostError {
    /// The connection ended or was replaced.
    #[error("the connection is closed")]
    Closed,
    /// [`MAILBOX_CAPACITY`] commands are already waiting.
    #[error("{MAILBOX_CAPACITY} commands are already waiting for the station")]
    Full,
}

#[derive(Debug, Default)]
struct Queue {
    commands: VecDeque<Command>,
    closed: bool,
}

/// Commands to one connection task, which alone waits on it.
#[derive(Debug, Default)]
pub struct Mailbox {
    queue: Mutex<Queue>,
    /// Set by every post and by closing; cleared when the task wakes.
    posted: AtomicBool,
    waker: AtomicWaker,
}

impl Mailbox {
    fn queue(&self) -> MutexGuard<'_, Queue> {
        // Every critical section is a single push, pop or flag change, so a poisoned lock still
        // guards a consistent queue.
        self.queue
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `command` for the connection task and wakes it.
    pub fn post(&self, command: Command) -> Result<(), PostError> {
        {
            let mut queue = self.queue();
            if queue.closed {
                return Err(PostError::Closed);
            }
            if queue.commands.len() >= MAILBOX_CAPACITY {
                return Err(PostError::Full);
            }
            queue.commands.push_back(command);
        }
        self.wake();
        Ok(())
    }

    fn wake(&self) {
        self.posted.store(true, Ordering::Release);
        self.waker.wake();
    }

    /// Closes the mailbox: later posts are refused, the task is woken to see it, and the commands
    /// still waiting are dropped (their callers learn that the station is gone).
    pub fn close(&self) {
        let waiting = {
            let mut queue = self.queue();
            queue.closed = true;
            std::mem::take(&mut queue.commands)
        };
        drop(waiting);
        self.wake();
    }

    /// Whether the mailbox was closed.
    pub fn is_closed(&self) -> bool {
        self.queue().closed
    }

    /// The oldest waiting command; the queue's buffer is given back once it runs empty.
    pub fn take(&self) -> Option<Command> {
        let mut queue = self.queue();
        let command = queue.commands.pop_front();
        if queue.commands.is_empty() {
            queue.commands.shrink_to_fit();
        }
        command
    }

    /// Completes when a command was posted or the mailbox closed since the last wake-up (at once
    /// if that happened while nobody waited). Only the connection task waits: a second waiter
    /// would take the first one's place.
    pub async fn wait(&self) {
        std::future::poll_fn(|cx| {
            if self.posted.swap(false, Ordering::Acquire) {
                return Poll::Ready(());
            }
            self.waker.register(cx.waker());
            // A post between the first check and the registration woke nobody: look again.
            if self.posted.swap(false, Ordering::Acquire) {
                Poll::Ready(())
            } else {
                Poll::Pending
            }
        })
        .await;
    }
}

/// The handle of a live connection.
#[derive(Debug, Clone)]
pub struct StationHandle {
    /// Distinguishes successive connections of one station.
    pub connection: u64,
    /// Negotiated version.
    pub version: OcppVersion,
    /// Commands to the connection task.
    pub mailbox: Arc<Mailbox>,
}

/// Every connected station.
#[derive(Debug, Default)]
pub struct Registry {
    stations: Mutex<HashMap<Arc<str>, StationHandle>>,
    next_connection: AtomicU64,
}

impl Registry {
    /// A new connection number.
    pub fn next_connection(&self) -> u64 {
        self.next_connection.fetch_add(1, Ordering::Relaxed) + 1
    }

    fn map(&self) -> MutexGuard<'_, HashMap<Arc<str>, StationHandle>> {
        // A panic while holding this lock cannot leave the map inconsistent (single inserts and
        // removes), so a poisoned lock is still usable.
        self.stations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Registers `handle` for `station`, returning the connection it replaces. The key shares
    /// the connection's copy of the id.
    pub fn insert(&self, station: Arc<str>, handle: StationHandle) -> Option<StationHandle> {
        self.map().insert(station, handle)
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
            .map(|(id, h)| (id.to_string(), h.version))
            .collect();
        all.sort();
        all
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connection::CallOutcome;
    use std::future::Future;
    use tokio::sync::oneshot;

    fn call() -> (Command, oneshot::Receiver<CallOutcome>) {
        let (reply, answer) = oneshot::channel();
        let command = Command::Call {
            action: "Reset".into(),
            payload: serde_json::json!({"type": "Soft"}),
            reply,
        };
        (command, answer)
    }

    #[tokio::test]
    async fn a_post_wakes_the_task_even_if_it_was_not_waiting() {
        let mailbox = Mailbox::default();
        let (command, _answer) = call();
        mailbox.post(command).expect("open");
        mailbox.wait().await;
        assert!(matches!(mailbox.take(), Some(Command::Call { action, .. }) if action == "Reset"));
        assert!(mailbox.take().is_none());
    }

    /// A waker that records being woken.
    struct Woken(AtomicBool);

    impl futures_util::task::ArcWake for Woken {
        fn wake_by_ref(arc_self: &Arc<Self>) {
            arc_self.0.store(true, Ordering::SeqCst);
        }
    }

    #[test]
    fn a_waiting_task_is_woken_by_a_post() {
        let mailbox = Mailbox::default();
        let woken = Arc::new(Woken(AtomicBool::new(false)));
        let waker = futures_util::task::waker(woken.clone());
        let mut cx = std::task::Context::from_waker(&waker);
        let mut wait = std::pin::pin!(mailbox.wait());
        assert!(wait.as_mut().poll(&mut cx).is_pending());
        assert!(!woken.0.load(Ordering::SeqCst));
        mailbox.post(call().0).expect("open");
        assert!(
            woken.0.load(Ordering::SeqCst),
            "the post wakes the waiting task"
        );
        assert!(wait.as_mut().poll(&mut cx).is_ready());
        assert!(mailbox.take().is_some());
    }

    #[test]
    fn the_mailbox_is_bounded() {
        let mailbox = Mailbox::default();
        let mut answers = Vec::new();
        for _ in 0..MAILBOX_CAPACITY {
            let (command, answer) = call();
            mailbox.post(command).expect("room");
            answers.push(answer);
        }
        assert_eq!(mailbox.post(call().0), Err(PostError::Full));
        assert!(mailbox.take().is_some());
        assert_eq!(mailbox.post(call().0), Ok(()));
    }

    #[tokio::test]
    async fn closing_refuses_posts_and_drops_the_waiting_commands() {
        let mailbox = Mailbox::default();
        let (command, answer) = call();
        mailbox.post(command).expect("open");
        mailbox.close();
        assert!(mailbox.is_closed());
        assert!(
            answer.await.is_err(),
            "the caller learns the command is gone"
        );
        assert_eq!(mailbox.post(call().0), Err(PostError::Closed));
        assert!(mailbox.take().is_none());
        mailbox.wait().await;
    }

    #[test]
    fn only_the_registered_connection_removes_its_entry() {
        let registry = Registry::default();
        let handle = |connection| StationHandle {
            connection,
            version: OcppVersion::V16,
            mailbox: Arc::default(),
        };
        assert!(registry.insert("CP1".into(), handle(1)).is_none());
        let old = registry.insert("CP1".into(), handle(2));
        assert_eq!(old.map(|h| h.connection), Some(1));
        assert!(!registry.remove("CP1", 1));
        assert_eq!(registry.get("CP1").map(|h| h.connection), Some(2));
        assert!(registry.remove("CP1", 2));
        assert!(registry.connected().is_empty());
    }
}
