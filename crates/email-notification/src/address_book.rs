//! The address book: the address each user registered with, so order
//! emails without an `email` still reach the customer. The port
//! ([`AddressBook`]), its one error and what a lookup finds; the DynamoDB
//! adapter is [`dynamodb`], the in-memory fake `memory` (tests and the
//! `test-util` feature only).

pub mod dynamodb;
#[cfg(any(test, feature = "test-util"))]
pub mod memory;

use std::future::Future;

use order_events::{EmailAddress, UserId};

/// A failure of the address book itself (never "no address").
#[derive(Debug, thiserror::Error)]
pub enum AddressBookError {
    /// The book could not be reached or read; worth retrying.
    #[error("address book: {0:#}")]
    Unavailable(anyhow::Error),
    /// The book refused the request because of what the record carries;
    /// retrying the same record cannot succeed. The text is bounded and
    /// has addresses masked.
    #[error("address book refused the request: {0}")]
    Rejected(String),
}

impl AddressBookError {
    pub fn is_transient(&self) -> bool {
        matches!(self, AddressBookError::Unavailable(_))
    }
}

/// What the address book holds for a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Lookup {
    Found(EmailAddress),
    /// No address was ever remembered for this user.
    Unknown,
    /// An address is stored but is not valid (written by something else).
    Unusable(String),
}

pub trait AddressBook: Send + Sync {
    /// Remembers (or replaces) the user's address.
    fn remember(
        &self,
        user: &UserId,
        email: &EmailAddress,
    ) -> impl Future<Output = Result<(), AddressBookError>> + Send;

    /// The user's address, read strongly consistently so a registration
    /// written a moment ago is seen.
    fn lookup(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Lookup, AddressBookError>> + Send;
}

impl<T: AddressBook> AddressBook for std::sync::Arc<T> {
    fn remember(
        &self,
        user: &UserId,
        email: &EmailAddress,
    ) -> impl Future<Output = Result<(), AddressBookError>> + Send {
        (**self).remember(user, email)
    }

    fn lookup(
        &self,
        user: &UserId,
    ) -> impl Future<Output = Result<Lookup, AddressBookError>> + Send {
        (**self).lookup(user)
    }
}
