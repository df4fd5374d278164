//! Values parsed at the edge. Each type validates on construction, so code
//! holding one never re-checks it.

use std::fmt;
use std::str::FromStr;

use rust_decimal::Decimal;
use serde::de::Error as _;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;
use time::format_description::well_known::{Iso8601, Rfc3339};
use time::{OffsetDateTime, PrimitiveDateTime};

/// Longest identifier the contract allows, in characters.
pub const MAX_ID_LEN: usize = 128;

/// The longest value of every other string field, in characters. They are
/// chosen so that nothing derived from input (an idempotency key, a saga
/// item, a dead letter, a log line) can reach an AWS limit: a DynamoDB
/// partition key holds 2,048 bytes and an item 400 KB, an SQS message
/// 256 KB. A longer value makes the record invalid (dead-lettered), never a
/// transient failure.
pub mod limits {
    /// `eventId`: at most 1,024 bytes in UTF-8, so any key built from it
    /// stays far below DynamoDB's 2,048-byte partition key.
    pub const EVENT_ID: usize = 256;
    /// `eventType` / `commandType`.
    pub const EVENT_TYPE: usize = 64;
    /// `timestamp`, `registrationDate`.
    pub const TIMESTAMP: usize = 64;
    /// `reason` of a failure or cancellation.
    pub const REASON: usize = 1024;
    /// A customer's display `name`.
    pub const NAME: usize = 256;
    /// An order's `status` as the producer wrote it.
    pub const STATUS: usize = 64;
}

/// Checks a string field against its limit: at most `max` characters. Any
/// character is allowed (the writers escape what they must).
pub fn check_len(field: &str, value: &str, max: usize) -> Result<(), String> {
    // A string has no more characters than bytes, so most values need no
    // counting at all; counting stops at the limit, so a multi-megabyte
    // value costs no more than a short one.
    if value.len() > max && value.chars().nth(max).is_some() {
        return Err(format!(
            "{field} is longer than {max} characters ({} bytes)",
            value.len()
        ));
    }
    Ok(())
}

/// Serde readers for bounded free-text fields (`#[serde(deserialize_with)]`).
pub mod bounded {
    use serde::de::Error as _;
    use serde::{Deserialize, Deserializer};

    fn read<'de, D: Deserializer<'de>>(
        deserializer: D,
        field: &str,
        max: usize,
    ) -> Result<String, D::Error> {
        let value = String::deserialize(deserializer)?;
        super::check_len(field, &value, max).map_err(D::Error::custom)?;
        Ok(value)
    }

    pub fn reason<'de, D: Deserializer<'de>>(d: D) -> Result<String, D::Error> {
        read(d, "reason", super::limits::REASON)
    }

    fn read_opt<'de, D: Deserializer<'de>>(
        deserializer: D,
        field: &str,
        max: usize,
    ) -> Result<Option<String>, D::Error> {
        let value = Option::<String>::deserialize(deserializer)?;
        if let Some(value) = &value {
            super::check_len(field, value, max).map_err(D::Error::custom)?;
        }
        Ok(value)
    }

    pub fn opt_reason<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        read_opt(d, "reason", super::limits::REASON)
    }

    pub fn opt_name<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        read_opt(d, "name", super::limits::NAME)
    }

    pub fn opt_status<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        read_opt(d, "status", super::limits::STATUS)
    }

    pub fn opt_date<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
        read_opt(d, "registrationDate", super::limits::TIMESTAMP)
    }
}

/// Cuts `text` to at most `max` characters for a log line or a reason,
/// marking the cut, so input echoed anywhere stays bounded.
pub fn clip(text: &str, max: usize) -> std::borrow::Cow<'_, str> {
    match text.char_indices().nth(max) {
        None => std::borrow::Cow::Borrowed(text),
        Some((cut, _)) => {
            std::borrow::Cow::Owned(format!("{}...[{} bytes in all]", &text[..cut], text.len()))
        }
    }
}

macro_rules! bounded_id {
    ($(#[$doc:meta])* $name:ident, $what:literal) => {
        $(#[$doc])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        #[serde(try_from = "String", into = "String")]
        pub struct $name(String);

        impl $name {
            pub fn parse(value: impl Into<String>) -> Result<Self, String> {
                let value = value.into();
                if value.is_empty() {
                    return Err(format!("{} must not be empty", $what));
                }
                check_len($what, &value, MAX_ID_LEN)?;
                if value.chars().any(char::is_control) {
                    return Err(format!("{} must not contain control characters", $what));
                }
                Ok(Self(value))
            }

            pub fn as_str(&self) -> &str {
                &self.0
            }
        }

        impl TryFrom<String> for $name {
            type Error = String;
            fn try_from(value: String) -> Result<Self, String> {
                Self::parse(value)
            }
        }

        impl From<$name> for String {
            fn from(value: $name) -> String {
                value.0
            }
        }

        impl AsRef<str> for $name {
            fn as_ref(&self) -> &str {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(&self.0)
            }
        }
    };
}

bounded_id!(
    /// An order's identifier; also the partition key of its records.
    OrderId,
    "orderId"
);
bounded_id!(
    /// A user's identifier; the partition key of user events.
    UserId,
    "userId"
);
bounded_id!(
    /// A product's identifier; the key of the inventory table.
    ProductId,
    "productId"
);
bounded_id!(
    /// A saga's identifier. This project runs one saga per order, so
    /// commands that omit it fall back to the order id.
    SagaId,
    "sagaId"
);
bounded_id!(
    /// A logical event's identifier, unique per event (not per delivery).
    EventId,
    "eventId"
);

impl SagaId {
    pub fn for_order(order: &OrderId) -> Self {
        Self(order.0.clone())
    }
}

/// Namespace of derived event ids, so that ids derived here never collide
/// with random v4 ids written by producers.
const DERIVED_ID_NAMESPACE: uuid::Uuid =
    uuid::Uuid::from_u128(0x5b0c_2d1e_8a44_4f7b_9d7e_3c51_a0f2_6e19);

impl EventId {
    /// A fresh random id, for events that are facts of this moment.
    pub fn random() -> Self {
        Self(uuid::Uuid::new_v4().to_string())
    }

    /// An id derived from its parts: the same parts always give the same id,
    /// which is what lets a redelivered command produce the same reply.
    pub fn derived(parts: &[&str]) -> Self {
        let mut name = Vec::with_capacity(parts.iter().map(|p| p.len() + 1).sum());
        for part in parts {
            name.extend_from_slice(part.as_bytes());
            // A separator that cannot occur in UTF-8 text keeps ["ab","c"]
            // and ["a","bc"] apart.
            name.push(0xff);
        }
        Self(uuid::Uuid::new_v5(&DERIVED_ID_NAMESPACE, &name).to_string())
    }
}

/// Units of one product: 1 to [`crate::MAX_QUANTITY`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(try_from = "u64", into = "u32")]
pub struct Quantity(u32);

impl Quantity {
    pub fn new(units: u64) -> Result<Self, String> {
        if units == 0 || units > u64::from(crate::MAX_QUANTITY) {
            return Err(format!(
                "quantity {units} is out of range 1..={}",
                crate::MAX_QUANTITY
            ));
        }
        // In range, so it fits.
        Ok(Self(units as u32))
    }

    pub fn get(self) -> u32 {
        self.0
    }
}

impl TryFrom<u64> for Quantity {
    type Error = String;
    fn try_from(value: u64) -> Result<Self, String> {
        Self::new(value)
    }
}

impl From<Quantity> for u32 {
    fn from(value: Quantity) -> u32 {
        value.0
    }
}

impl fmt::Display for Quantity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

/// An email address that is safe to put in a header: one `@`, no
/// whitespace, no CR/LF, no comma, quote or angle bracket that could add a
/// recipient or a header.
#[derive(Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct EmailAddress(String);

impl EmailAddress {
    pub fn parse(value: impl Into<String>) -> Result<Self, String> {
        let value = value.into();
        let trimmed = value.trim();
        if trimmed.len() > 254 {
            return Err("email address is longer than 254 characters".into());
        }
        let Some((local, domain)) = trimmed.split_once('@') else {
            return Err("email address has no `@`".into());
        };
        if local.is_empty() || domain.is_empty() {
            return Err("email address needs text on both sides of `@`".into());
        }
        if domain.contains('@') {
            return Err("email address has more than one `@`".into());
        }
        if let Some(bad) = trimmed.chars().find(|c| {
            c.is_whitespace()
                || c.is_control()
                || matches!(
                    c,
                    ',' | ';' | '<' | '>' | '"' | '(' | ')' | '[' | ']' | '\\'
                )
        }) {
            return Err(format!(
                "email address contains a forbidden character (U+{:04X})",
                bad as u32
            ));
        }
        if !domain.contains('.') || domain.starts_with('.') || domain.ends_with('.') {
            return Err("email address domain is not a dotted name".into());
        }
        Ok(Self(trimmed.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The form fit for logs: the first character of the local part, then
    /// `***`, then the domain (`u***@example.com`).
    pub fn masked(&self) -> String {
        mask_email(&self.0)
    }
}

/// Masks `text` if it looks like an address (user ids and partition keys
/// are sometimes addresses); anything else is returned as it is.
pub fn mask_email(text: &str) -> String {
    match text.split_once('@') {
        Some((local, domain)) => {
            let first: String = local.chars().take(1).collect();
            format!("{first}***@{domain}")
        }
        None => text.to_owned(),
    }
}

impl TryFrom<String> for EmailAddress {
    type Error = String;
    fn try_from(value: String) -> Result<Self, String> {
        Self::parse(value)
    }
}

impl From<EmailAddress> for String {
    fn from(value: EmailAddress) -> String {
        value.0
    }
}

// Debug is what ends up in logs by accident, so it never shows the address.
impl fmt::Debug for EmailAddress {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "EmailAddress({})", self.masked())
    }
}

/// An amount of money, exact: read from a JSON number or a JSON string
/// without ever passing through a binary float.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Money(Decimal);

impl Money {
    pub fn new(amount: Decimal) -> Result<Self, String> {
        if amount.is_sign_negative() && !amount.is_zero() {
            return Err(format!("amount {amount} is negative"));
        }
        Ok(Self(amount))
    }

    pub fn amount(self) -> Decimal {
        self.0
    }

    pub fn zero() -> Self {
        Self(Decimal::ZERO)
    }

    pub fn checked_add(self, other: Money) -> Option<Money> {
        self.0.checked_add(other.0).map(Self)
    }

    pub fn checked_mul(self, units: Quantity) -> Option<Money> {
        self.0.checked_mul(Decimal::from(units.get())).map(Self)
    }

    /// Two decimals, rounded half away from zero, as prices are shown.
    pub fn to_cents_string(self) -> String {
        let rounded = self
            .0
            .round_dp_with_strategy(2, rust_decimal::RoundingStrategy::MidpointAwayFromZero);
        format!("{rounded:.2}")
    }
}

impl FromStr for Money {
    type Err = String;
    fn from_str(text: &str) -> Result<Self, String> {
        let text = text.trim();
        let amount = if text.contains(['e', 'E']) {
            Decimal::from_scientific(text)
        } else {
            Decimal::from_str(text)
        }
        .map_err(|e| format!("`{text}` is not a decimal amount: {e}"))?;
        Self::new(amount)
    }
}

impl fmt::Display for Money {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

impl<'de> Deserialize<'de> for Money {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        // The raw JSON text keeps every digit of a number literal, so
        // `19.99` is read as exactly 19.99 rather than the nearest double.
        let raw = <&'de RawValue>::deserialize(deserializer)?;
        let text = raw.get();
        let literal = if let Some(quoted) = text.strip_prefix('"') {
            let unquoted: String = serde_json::from_str(text).map_err(D::Error::custom)?;
            debug_assert!(quoted.ends_with('"'));
            return unquoted.parse().map_err(D::Error::custom);
        } else {
            text
        };
        if literal.starts_with(['{', '[', 't', 'f', 'n']) {
            return Err(D::Error::custom(format!(
                "an amount must be a JSON number or string, found `{literal}`"
            )));
        }
        literal.parse().map_err(D::Error::custom)
    }
}

impl Serialize for Money {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        // Written as a JSON number, as the Python and Node producers write
        // it, but from the decimal's own digits.
        let raw = RawValue::from_string(self.0.to_string()).map_err(serde::ser::Error::custom)?;
        raw.serialize(serializer)
    }
}

/// A point in time, always UTC. Reads RFC 3339 and, as the contract
/// allows, a naive ISO-8601 time without offset (read as UTC).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(OffsetDateTime);

impl Timestamp {
    pub fn now() -> Self {
        Self(OffsetDateTime::now_utc())
    }

    pub fn from_unix_millis(millis: i64) -> Option<Self> {
        OffsetDateTime::from_unix_timestamp_nanos(i128::from(millis) * 1_000_000)
            .ok()
            .map(Self)
    }

    pub fn unix_millis(self) -> i64 {
        (self.0.unix_timestamp_nanos() / 1_000_000) as i64
    }

    pub fn parse(text: &str) -> Result<Self, String> {
        check_len("timestamp", text, limits::TIMESTAMP)?;
        if let Ok(at) = OffsetDateTime::parse(text, &Rfc3339) {
            // A valid offset can carry a time past the supported years into
            // UTC (`9999-12-31T23:30:00-01:00`): that is invalid input, not
            // a reason to stop the process.
            return at
                .checked_to_offset(time::UtcOffset::UTC)
                .filter(|utc| (0..=9999).contains(&utc.year()))
                .map(Self)
                .ok_or_else(|| format!("`{text}` is outside the years 0000 to 9999 in UTC"));
        }
        let naive = PrimitiveDateTime::parse(text, &Iso8601::DEFAULT)
            .map_err(|_| format!("`{text}` is not an RFC 3339 or ISO-8601 timestamp"))?;
        // Written back as four-digit RFC 3339, which has no other years.
        if !(0..=9999).contains(&naive.year()) {
            return Err(format!("`{text}` is outside the years 0000 to 9999"));
        }
        Ok(Self(naive.assume_utc()))
    }

    /// RFC 3339 with milliseconds and `Z`, the form this project writes.
    pub fn to_rfc3339(self) -> String {
        let t = self.0;
        format!(
            "{:04}-{:02}-{:02}T{:02}:{:02}:{:02}.{:03}Z",
            t.year(),
            u8::from(t.month()),
            t.day(),
            t.hour(),
            t.minute(),
            t.second(),
            t.millisecond()
        )
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.to_rfc3339())
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = std::borrow::Cow::<'de, str>::deserialize(deserializer)?;
        Self::parse(&text).map_err(D::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_bounded_and_non_empty() {
        assert!(OrderId::parse("").is_err());
        assert!(OrderId::parse("x".repeat(129)).is_err());
        assert!(OrderId::parse("x".repeat(128)).is_ok());
        assert!(ProductId::parse("a\nb").is_err());
        let err = serde_json::from_str::<OrderId>("\"\"").unwrap_err();
        assert!(
            err.to_string().contains("orderId must not be empty"),
            "{err}"
        );
    }

    #[test]
    fn derived_event_ids_are_stable_and_distinct() {
        let a = EventId::derived(&["reply", "evt-1"]);
        assert_eq!(a, EventId::derived(&["reply", "evt-1"]));
        assert_ne!(a, EventId::derived(&["reply", "evt-2"]));
        assert_ne!(
            EventId::derived(&["ab", "c"]),
            EventId::derived(&["a", "bc"])
        );
    }

    #[test]
    fn quantity_range() {
        assert!(Quantity::new(0).is_err());
        assert!(Quantity::new(1).is_ok());
        assert!(Quantity::new(1_000_000).is_ok());
        assert!(Quantity::new(1_000_001).is_err());
        assert!(serde_json::from_str::<Quantity>("-1").is_err());
        assert!(serde_json::from_str::<Quantity>("1.5").is_err());
    }

    #[test]
    fn email_rejects_header_injection() {
        for bad in [
            "a@example.com\r\nBcc: x@evil.com",
            "a@example.com, b@evil.com",
            "\"Eve\" <eve@evil.com>",
            "no-at-sign",
            "@example.com",
            "a@b@example.com",
            "a@localhost",
        ] {
            assert!(EmailAddress::parse(bad).is_err(), "{bad:?} accepted");
        }
        let ok = EmailAddress::parse(" jane.doe+tag@example.com ").unwrap();
        assert_eq!(ok.as_str(), "jane.doe+tag@example.com");
        assert_eq!(ok.masked(), "j***@example.com");
        assert!(!format!("{ok:?}").contains("jane"));
    }

    #[test]
    fn money_is_read_exactly_from_numbers_and_strings() {
        let from_number: Money = serde_json::from_str("19.99").unwrap();
        let from_string: Money = serde_json::from_str("\"19.99\"").unwrap();
        assert_eq!(from_number, from_string);
        assert_eq!(from_number.amount(), Decimal::new(1999, 2));
        // 0.1 + 0.2 is the classic binary-float trap.
        let a: Money = serde_json::from_str("0.1").unwrap();
        let b: Money = serde_json::from_str("0.2").unwrap();
        assert_eq!(a.checked_add(b).unwrap().to_string(), "0.3");
        let big: Money = serde_json::from_str("12345678901234567.89").unwrap();
        assert_eq!(big.to_string(), "12345678901234567.89");
        let sci: Money = serde_json::from_str("1.5e2").unwrap();
        assert_eq!(sci.amount(), Decimal::new(150, 0));
        assert!(serde_json::from_str::<Money>("-1").is_err());
        assert!(serde_json::from_str::<Money>("true").is_err());
        assert!(serde_json::from_str::<Money>("\"abc\"").is_err());
        assert_eq!(serde_json::to_string(&from_string).unwrap(), "19.99");
        assert_eq!(Money::from_str("2.005").unwrap().to_cents_string(), "2.01");
        assert_eq!(Money::from_str("7").unwrap().to_cents_string(), "7.00");
    }

    #[test]
    fn timestamps_accept_rfc3339_and_naive_utc() {
        let z = Timestamp::parse("2025-10-30T12:00:00.000Z").unwrap();
        let naive = Timestamp::parse("2025-10-30T12:00:00").unwrap();
        let python = Timestamp::parse("2025-10-30T12:00:00.000000").unwrap();
        let offset = Timestamp::parse("2025-10-30T14:00:00+02:00").unwrap();
        assert_eq!(z, naive);
        assert_eq!(z, python);
        assert_eq!(z, offset);
        assert_eq!(z.to_rfc3339(), "2025-10-30T12:00:00.000Z");
        assert!(Timestamp::parse("yesterday").is_err());
    }

    #[test]
    fn timestamps_outside_the_supported_years_are_invalid_not_fatal() {
        for text in [
            "9999-12-31T23:30:00-01:00",
            "9999-12-31T23:59:59.999999999-23:59",
        ] {
            let err = Timestamp::parse(text).unwrap_err();
            assert!(
                err.contains("outside the years 0000 to 9999"),
                "{text}: {err}"
            );
        }
        assert!(Timestamp::parse("9999-12-31T22:30:00-01:00").is_ok());
        // Before year 0 in UTC is outside too: RFC 3339 could not write it.
        for text in [
            "0000-01-01T00:30:00+01:00",
            "0000-01-01T00:00:00+00:01",
            "-000001-01-01T00:00:00",
        ] {
            assert!(Timestamp::parse(text).is_err(), "{text}");
        }
        let earliest = Timestamp::parse("0000-01-01T00:00:00Z").unwrap();
        assert_eq!(Timestamp::parse(&earliest.to_rfc3339()).unwrap(), earliest);
        assert!(Timestamp::parse(&"2025-10-30T12:00:00".repeat(10)).is_err());
    }

    #[test]
    fn limits_count_characters_and_clip_marks_the_cut() {
        assert!(OrderId::parse("\u{e9}".repeat(128)).is_ok());
        assert!(OrderId::parse("\u{e9}".repeat(129)).is_err());
        assert!(check_len("reason", &"x".repeat(limits::REASON), limits::REASON).is_ok());
        assert!(check_len("reason", &"x".repeat(limits::REASON + 1), limits::REASON).is_err());
        // Characters, not bytes: two-byte characters up to the limit pass.
        assert!(check_len("reason", &"é".repeat(limits::REASON), limits::REASON).is_ok());
        assert!(check_len("reason", &"é".repeat(limits::REASON + 1), limits::REASON).is_err());
        assert_eq!(clip("short", 10), "short");
        let long = "\u{e9}".repeat(20);
        let clipped = clip(&long, 4);
        assert!(
            clipped.starts_with("\u{e9}\u{e9}\u{e9}\u{e9}..."),
            "{clipped}"
        );
        assert!(clipped.ends_with("[40 bytes in all]"), "{clipped}");
    }
}
