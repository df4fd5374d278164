//! An in-memory address book for tests and local tools.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Mutex;

use order_events::{EmailAddress, UserId};

use super::{AddressBook, AddressBookError, Lookup};
use crate::text::for_log;

/// An in-memory address book for tests. Can be told to fail, to test that
/// a store outage is retried rather than dead-lettered, and to refuse
/// requests as DynamoDB refuses data it cannot store.
#[derive(Debug, Default)]
pub struct InMemoryAddressBook {
    entries: Mutex<HashMap<UserId, EmailAddress>>,
    failing: AtomicBool,
    refusing: Mutex<Option<String>>,
}

impl InMemoryAddressBook {
    pub fn get(&self, user: &UserId) -> Option<EmailAddress> {
        self.entries.lock().ok().and_then(|e| e.get(user).cloned())
    }

    pub fn fail(&self, failing: bool) {
        self.failing.store(failing, Ordering::SeqCst);
    }

    /// Every call is refused with `reason` (as a permanent error) until
    /// cleared with `None`.
    pub fn refuse(&self, reason: Option<String>) {
        if let Ok(mut refusing) = self.refusing.lock() {
            *refusing = reason;
        }
    }

    fn check(&self) -> Result<(), AddressBookError> {
        if self.failing.load(Ordering::SeqCst) {
            return Err(AddressBookError::Unavailable(anyhow::anyhow!(
                "address book unavailable"
            )));
        }
        if let Some(reason) = self.refusing.lock().ok().and_then(|r| r.clone()) {
            return Err(AddressBookError::Rejected(for_log(&reason)));
        }
        Ok(())
    }
}

impl AddressBook for InMemoryAddressBook {
    async fn remember(&self, user: &UserId, email: &EmailAddress) -> Result<(), AddressBookError> {
        self.check()?;
        self.entries
            .lock()
            .map_err(|_| AddressBookError::Unavailable(anyhow::anyhow!("lock poisoned")))?
            .insert(user.clone(), email.clone());
        Ok(())
    }

    async fn lookup(&self, user: &UserId) -> Result<Lookup, AddressBookError> {
        self.check()?;
        Ok(self.get(user).map_or(Lookup::Unknown, Lookup::Found))
    }
}
