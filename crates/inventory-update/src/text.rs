//! Bounds on text that reaches logs, dead-letter reasons and replies.
//!
//! Error messages from the store (which may quote what was sent), stored
//! attributes and identifiers all end up in log lines and dead letters;
//! each is cut to [`MAX_ECHO_CHARS`] with a visible marker
//! ([`order_events::values::clip`]), so no input can make a log line or a
//! queue message large.

use std::borrow::Cow;

/// Longest piece of outside text echoed into a log line or a reason.
pub const MAX_ECHO_CHARS: usize = 256;

/// `text` cut to [`MAX_ECHO_CHARS`] characters, marked when cut.
pub fn echo(text: &str) -> Cow<'_, str> {
    order_events::values::clip(text, MAX_ECHO_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn long_text_is_cut_with_a_marker_and_short_text_kept() {
        assert_eq!(echo("short"), "short");
        let exact = "e".repeat(MAX_ECHO_CHARS);
        assert_eq!(echo(&exact), exact.as_str());
        let huge = "\u{e9}".repeat(100_000);
        let echoed = echo(&huge);
        assert_eq!(
            echoed.chars().filter(|c| *c == '\u{e9}').count(),
            MAX_ECHO_CHARS
        );
        assert!(echoed.ends_with("...[200000 bytes in all]"), "{echoed}");
    }
}
