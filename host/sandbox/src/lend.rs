//! A session `wasimap watch` lends to one plugin call (`lend.lent`,
//! `imap4.open-lent`): the watcher's own connection, logged in, its
//! mailbox selected, between two of the watcher's commands.
//!
//! The slot is shared by the watcher and the call's store: the guest takes
//! the connection out once, dropping its handle puts it back, and whatever
//! the store still holds when the call ends (a trap, a plugin that kept
//! the handle) is taken back by [`Lend::reclaim`] before the store goes.

use std::sync::{Arc, Mutex, PoisonError};

use wasmtime::component::{Resource, ResourceTable};

use crate::conn::GuardedConnection;

#[derive(Debug, Default)]
enum Slot {
    /// Nothing lent, or given back and taken by the lender.
    #[default]
    Empty,
    /// Ready for the guest to take.
    Ready(GuardedConnection),
    /// The guest holds it under this handle.
    Taken(u32),
    /// The guest gave it back.
    Returned(GuardedConnection),
}

/// The lent connection: the watcher's own [`GuardedConnection`], moved
/// with its endpoint, its TLS verification and its echo guard (armed with
/// the account's secret at the watcher's login), so the plugin reads
/// through the guard the watcher's session read through.
#[derive(Debug, Clone)]
pub struct Lend {
    slot: Arc<Mutex<Slot>>,
    /// The read and write timeout of the guest's reads and writes.
    pub timeout: Option<std::time::Duration>,
}

impl Lend {
    /// Lends `conn`.
    pub fn new(conn: GuardedConnection, timeout: Option<std::time::Duration>) -> Lend {
        Lend {
            slot: Arc::new(Mutex::new(Slot::Ready(conn))),
            timeout,
        }
    }

    fn slot(&self) -> std::sync::MutexGuard<'_, Slot> {
        self.slot.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// The connection for the guest, if it is here to take.
    pub(crate) fn take(&self) -> Option<GuardedConnection> {
        let mut slot = self.slot();
        match std::mem::take(&mut *slot) {
            Slot::Ready(c) | Slot::Returned(c) => Some(c),
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Records the handle the guest holds it under.
    pub(crate) fn taken_as(&self, handle: u32) {
        *self.slot() = Slot::Taken(handle);
    }

    /// Whether `handle` is the lent connection.
    pub(crate) fn is(&self, handle: u32) -> bool {
        matches!(*self.slot(), Slot::Taken(h) if h == handle)
    }

    /// The guest dropped its handle: the connection is back.
    pub(crate) fn give_back(&self, conn: GuardedConnection) {
        *self.slot() = Slot::Returned(conn);
    }

    /// After the call, before its store is dropped: the connection, from
    /// the slot or from the store's table; `None` if the guest's end of it
    /// is gone.
    pub fn reclaim(&self, table: &mut ResourceTable) -> Option<GuardedConnection> {
        let taken = std::mem::take(&mut *self.slot());
        match taken {
            Slot::Ready(c) | Slot::Returned(c) => Some(c),
            Slot::Taken(handle) => table.delete(Resource::<GuardedConnection>::new_own(handle)).ok(),
            Slot::Empty => None,
        }
    }
}
