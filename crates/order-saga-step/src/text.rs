//! Bounding text that comes from outside the process before it is kept or
//! echoed: a participant's failure text, a producer's cancellation reason,
//! a stored attribute that does not parse. Whatever the input, what the
//! saga stores, logs or puts in a dead-letter reason stays short and on
//! one line.

use std::borrow::Cow;

use order_events::values::clip;

/// Most characters of a participant's or producer's text kept in the saga
/// item (`reasonDetail`).
pub const MAX_DETAIL_CHARS: usize = 256;

/// Most characters of input echoed into a log line or a dead-letter
/// reason.
pub const MAX_ECHO_CHARS: usize = 256;

/// `text` without control characters (line breaks and tabs included) and
/// without Unicode non-characters, trimmed, cut to `max_chars`. Used for
/// what the saga keeps: it is never shown to a customer, but people read
/// it in the table and in logs.
pub fn clean(text: &str, max_chars: usize) -> String {
    text.chars()
        .filter(|c| !c.is_control() && !is_noncharacter(*c))
        .collect::<String>()
        .trim()
        .chars()
        .take(max_chars)
        .collect()
}

/// [`clip`] at [`MAX_ECHO_CHARS`], for log fields and dead-letter reasons:
/// the contract's marker (`...[N bytes in all]`) says how long the input
/// was.
pub fn echo(text: &str) -> Cow<'_, str> {
    clip(text, MAX_ECHO_CHARS)
}

fn is_noncharacter(c: char) -> bool {
    let code = u32::from(c);
    (0xFDD0..=0xFDEF).contains(&code) || (code & 0xFFFE) == 0xFFFE
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn clean_strips_controls_and_bounds_length() {
        assert_eq!(
            clean("  card\ndeclined\t\u{7}\u{FFFF}\u{FDD0} ", 256),
            "carddeclined"
        );
        assert_eq!(clean(&"é".repeat(1000), 256).chars().count(), 256);
        assert_eq!(clean("\n\r\t", 256), "");
    }

    #[test]
    fn echo_marks_the_cut_and_leaves_short_text_alone() {
        assert!(matches!(echo("short"), Cow::Borrowed("short")));
        let long = "x".repeat(10_000);
        let echoed = echo(&long);
        assert!(echoed.starts_with(&"x".repeat(MAX_ECHO_CHARS)));
        assert!(echoed.ends_with("...[10000 bytes in all]"), "{echoed}");
        assert!(echoed.chars().count() < 300);
        // A cut never splits a multi-byte character.
        let wide = "€".repeat(300);
        assert!(echo(&wide).starts_with(&"€".repeat(MAX_ECHO_CHARS)));
    }

    proptest! {
        #[test]
        fn clean_is_always_bounded_and_control_free(text in "\\PC*|[\\x00-\\x1f\\u{85}\\u{2028} a-z]{0,600}", max in 0usize..300) {
            let out = clean(&text, max);
            prop_assert!(out.chars().count() <= max);
            prop_assert!(!out.chars().any(|c| c.is_control()));
        }

        #[test]
        fn clip_is_always_bounded(text in "\\PC{0,2000}", max in 0usize..300) {
            let out = clip(&text, max);
            // The marker adds at most a few dozen characters.
            prop_assert!(out.chars().count() <= max + 40);
        }
    }
}
