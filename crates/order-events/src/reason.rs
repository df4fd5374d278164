//! Why an order could not be completed, as a fixed set of codes.
//!
//! Reasons cross service boundaries and end up in front of customers (the
//! "could not complete" email), so they are never free text: a participant's
//! error message, an SDK error display or a producer's `reason` string stays
//! in logs, and what travels is one of these codes. Each code has one fixed
//! sentence for people.

use std::fmt;
use std::str::FromStr;

macro_rules! failure_reasons {
    ($($variant:ident => $code:literal, $wording:literal;)+) => {
        /// A reason code carried in `ORDER_FAILED.reason` and
        /// `INVENTORY_RESERVATION_FAILED.reason`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum FailureReason { $($variant),+ }

        impl FailureReason {
            pub const ALL: &'static [FailureReason] = &[$(FailureReason::$variant),+];

            /// The code as written on the wire.
            pub fn code(self) -> &'static str {
                match self { $(FailureReason::$variant => $code),+ }
            }

            /// The fixed sentence shown to a customer.
            pub fn wording(self) -> &'static str {
                match self { $(FailureReason::$variant => $wording),+ }
            }
        }

        impl FromStr for FailureReason {
            type Err = ();
            fn from_str(text: &str) -> Result<Self, ()> {
                match text { $($code => Ok(FailureReason::$variant),)+ _ => Err(()) }
            }
        }
    };
}

failure_reasons! {
    OutOfStock => "OUT_OF_STOCK", "An item in your order is out of stock.";
    UnknownProduct => "UNKNOWN_PRODUCT", "An item in your order is no longer sold.";
    AlreadyReleased => "RESERVATION_RELEASED", "Your order's reservation was already released.";
    PaymentDeclined => "PAYMENT_DECLINED", "Your payment could not be processed.";
    ShippingFailed => "SHIPPING_FAILED", "We could not arrange the shipment of your order.";
    Cancelled => "ORDER_CANCELLED", "Your order was cancelled.";
    TimedOut => "TIMED_OUT", "Your order could not be completed in time.";
    Other => "OTHER", "We could not complete your order.";
}

impl FailureReason {
    /// Reads a code from the wire; anything that is not one of ours (free
    /// text from an older producer, say) becomes [`FailureReason::Other`]
    /// so it is never shown to anyone.
    pub fn from_wire(text: &str) -> Self {
        text.parse().unwrap_or(FailureReason::Other)
    }
}

impl fmt::Display for FailureReason {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_round_trip_and_free_text_is_never_shown() {
        for reason in FailureReason::ALL {
            assert_eq!(FailureReason::from_wire(reason.code()), *reason);
            assert!(!reason.wording().is_empty());
        }
        let leaked = "DispatchFailure: connection reset by peer at 10.0.0.1";
        assert_eq!(FailureReason::from_wire(leaked), FailureReason::Other);
        assert!(!FailureReason::from_wire(leaked)
            .wording()
            .contains("10.0.0.1"));
    }
}
