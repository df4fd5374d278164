//! The address book: the address each user registered with, so order
//! emails without an `email` still reach the customer. Port, DynamoDB
//! adapter (`CUSTOMERS_TABLE`, key `userId` (S), attribute `email` (S)) and
//! an in-memory fake.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Mutex;

use anyhow::Context as _;
use aws_sdk_dynamodb::error::DisplayErrorContext;
use aws_sdk_dynamodb::types::AttributeValue;
use order_events::{EmailAddress, Timestamp, UserId};

/// The address book could not be reached or read; worth retrying.
#[derive(Debug, thiserror::Error)]
#[error("address book: {0:#}")]
pub struct AddressBookError(#[from] pub anyhow::Error);

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

/// `CUSTOMERS_TABLE` on DynamoDB.
#[derive(Debug, Clone)]
pub struct DynamoDbAddressBook {
    client: aws_sdk_dynamodb::Client,
    table: String,
}

impl DynamoDbAddressBook {
    pub const KEY: &'static str = "userId";
    pub const EMAIL: &'static str = "email";

    pub fn new(client: aws_sdk_dynamodb::Client, table: impl Into<String>) -> Self {
        Self {
            client,
            table: table.into(),
        }
    }
}

impl AddressBook for DynamoDbAddressBook {
    async fn remember(&self, user: &UserId, email: &EmailAddress) -> Result<(), AddressBookError> {
        // An update rather than a put keeps any other attributes the
        // customer item may carry.
        self.client
            .update_item()
            .table_name(&self.table)
            .key(Self::KEY, AttributeValue::S(user.as_str().to_owned()))
            .update_expression("SET #email = :email, #updated = :updated")
            .expression_attribute_names("#email", Self::EMAIL)
            .expression_attribute_names("#updated", "emailUpdatedAt")
            .expression_attribute_values(":email", AttributeValue::S(email.as_str().to_owned()))
            .expression_attribute_values(
                ":updated",
                AttributeValue::S(Timestamp::now().to_rfc3339()),
            )
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(DisplayErrorContext(e).to_string()))
            .context("remembering a customer's address")?;
        Ok(())
    }

    async fn lookup(&self, user: &UserId) -> Result<Lookup, AddressBookError> {
        let output = self
            .client
            .get_item()
            .table_name(&self.table)
            .key(Self::KEY, AttributeValue::S(user.as_str().to_owned()))
            .projection_expression("#email")
            .expression_attribute_names("#email", Self::EMAIL)
            .consistent_read(true)
            .send()
            .await
            .map_err(|e| anyhow::anyhow!(DisplayErrorContext(e).to_string()))
            .context("looking up a customer's address")?;
        let Some(stored) = output.item().and_then(|item| item.get(Self::EMAIL)) else {
            return Ok(Lookup::Unknown);
        };
        Ok(match stored.as_s() {
            Ok(text) => match EmailAddress::parse(text.as_str()) {
                Ok(email) => Lookup::Found(email),
                Err(reason) => Lookup::Unusable(reason),
            },
            Err(_) => Lookup::Unusable("the stored `email` attribute is not a string".into()),
        })
    }
}

/// An in-memory address book for tests. Can be told to fail, to test that
/// a store outage is retried rather than dead-lettered.
#[derive(Debug, Default)]
pub struct InMemoryAddressBook {
    entries: Mutex<HashMap<UserId, EmailAddress>>,
    failing: std::sync::atomic::AtomicBool,
}

impl InMemoryAddressBook {
    pub fn get(&self, user: &UserId) -> Option<EmailAddress> {
        self.entries.lock().ok().and_then(|e| e.get(user).cloned())
    }

    pub fn fail(&self, failing: bool) {
        self.failing
            .store(failing, std::sync::atomic::Ordering::SeqCst);
    }

    fn check(&self) -> Result<(), AddressBookError> {
        if self.failing.load(std::sync::atomic::Ordering::SeqCst) {
            return Err(AddressBookError(anyhow::anyhow!(
                "address book unavailable"
            )));
        }
        Ok(())
    }
}

impl AddressBook for InMemoryAddressBook {
    async fn remember(&self, user: &UserId, email: &EmailAddress) -> Result<(), AddressBookError> {
        self.check()?;
        self.entries
            .lock()
            .map_err(|_| AddressBookError(anyhow::anyhow!("lock poisoned")))?
            .insert(user.clone(), email.clone());
        Ok(())
    }

    async fn lookup(&self, user: &UserId) -> Result<Lookup, AddressBookError> {
        self.check()?;
        Ok(self.get(user).map_or(Lookup::Unknown, Lookup::Found))
    }
}
