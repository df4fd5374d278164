//! Bounding text that comes from outside the process before it is kept or
//! echoed: a participant's failure text, a producer's cancellation reason,
//! a stored attribute that does not parse. Whatever the input, what the
//! saga stores, logs or puts in a dead-letter reason stays short and on
//! one line.

use std::borrow::Cow;

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

/// `text` cut to at most `max_chars` characters, with a marker saying how
/// long it was when it is cut. Counting stops at the limit, so a
/// multi-megabyte input costs no more than a short one.
pub fn clip(text: &str, max_chars: usize) -> Cow<'_, str> {
    match text.char_indices().nth(max_chars) {
        None => Cow::Borrowed(text),
        Some((cut, _)) => Cow::Owned(format!(
            "{}...[cut, {} bytes in all]",
            text.get(..cut).unwrap_or_default(),
            text.len()
        )),
    }
}

/// [`clip`] at [`MAX_ECHO_CHARS`], for log fields and dead-letter reasons.
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
    fn clip_marks_the_cut_and_leaves_short_text_alone() {
        assert!(matches!(clip("short", 10), Cow::Borrowed("short")));
        let long = "x".repeat(10_000);
        let clipped = clip(&long, 256);
        assert!(clipped.starts_with(&"x".repeat(256)));
        assert!(
            clipped.ends_with("...[cut, 10000 bytes in all]"),
            "{clipped}"
        );
        assert!(clipped.chars().count() < 300);
        // A cut never splits a multi-byte character.
        let wide = "€".repeat(300);
        assert!(clip(&wide, 256).starts_with(&"€".repeat(256)));
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
