//! The text rules that keep event data from turning into headers and keep
//! addresses out of logs: one-line display text, bounded echoes of outside
//! text, address redaction.

use order_events::values::mask_email;

/// Longest subject this function writes, in characters. Subjects are built
/// from event data (a user's name, an order id), so they are bounded.
pub const MAX_SUBJECT_CHARS: usize = 200;

/// Longest piece of outside text (an SES or DynamoDB error message, a stored
/// value) echoed into a log line or a dead-letter reason, in characters.
pub const MAX_ECHO_CHARS: usize = 256;

/// Characters dropped from displayed text: they have no width of their own
/// and can only disguise it. Bidirectional controls (an RTL override turns
/// `gpj.exe` into `exe.jpg` on screen), zero-width spaces and joiners of
/// words, the byte-order mark, interlinear annotations, and the Unicode
/// non-characters (U+FDD0..U+FDEF and every U+xxFFFE / U+xxFFFF), which
/// are not for interchange and which mail systems may refuse.
pub fn is_invisible(c: char) -> bool {
    let code = u32::from(c);
    matches!(
        c,
        '\u{061C}'
            | '\u{200B}'
            | '\u{200E}'
            | '\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{2069}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{FDD0}'..='\u{FDEF}'
    ) || code & 0xFFFE == 0xFFFE
}

/// Text made safe for a single header line and for display: every run of
/// control or line-breaking characters (CR, LF, TAB, NEL, U+2028, U+2029)
/// becomes one space, invisible characters ([`is_invisible`]) are dropped,
/// the result is trimmed and cut to `max_chars`. SES encodes the subject
/// itself; this keeps a crafted name from ever reaching it as a line break,
/// whatever the transport does. Work is bounded by `max_chars`, not by the
/// length of `text`, except for a long run of dropped characters.
pub fn single_line(text: &str, max_chars: usize) -> String {
    let mut out = String::with_capacity(text.len().min(max_chars.saturating_mul(4)));
    let mut pending_space = false;
    let mut written = 0usize;
    for c in text.chars() {
        if c.is_control() || c.is_whitespace() || matches!(c, '\u{2028}' | '\u{2029}') {
            pending_space = written > 0;
            continue;
        }
        if is_invisible(c) {
            continue;
        }
        if pending_space {
            if written.saturating_add(1) >= max_chars {
                break;
            }
            out.push(' ');
            written += 1;
            pending_space = false;
        }
        if written == max_chars {
            break;
        }
        out.push(c);
        written += 1;
    }
    out
}

/// Outside text for a log line or a dead-letter reason: addresses masked
/// ([`redact_addresses`]), then cut to [`MAX_ECHO_CHARS`] with a marker.
/// Masking comes first, so a cut never leaves half an address in clear.
pub fn for_log(text: &str) -> String {
    order_events::values::clip(&redact_addresses(text), MAX_ECHO_CHARS).into_owned()
}

/// Replaces every address-like token (`local@domain`) in free text by its
/// masked form (`l***@domain`). Error messages from SES quote addresses
/// (`Email address not verified jane@example.com`), and such messages end up
/// in logs and dead letters.
pub fn redact_addresses(text: &str) -> String {
    fn local_char(c: char) -> bool {
        c.is_alphanumeric() || "._%+-!#$&'*/=?^`{|}~".contains(c)
    }
    fn domain_char(c: char) -> bool {
        c.is_alphanumeric() || c == '-' || c == '.'
    }
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len());
    let mut copied = 0usize;
    let mut i = 0usize;
    while i < chars.len() {
        if chars[i] != '@' {
            i += 1;
            continue;
        }
        let mut start = i;
        while start > copied && local_char(chars[start - 1]) {
            start -= 1;
        }
        let mut end = i + 1;
        while end < chars.len() && domain_char(chars[end]) {
            end += 1;
        }
        // A sentence may end right after the address.
        while end > i + 1 && chars[end - 1] == '.' {
            end -= 1;
        }
        if start == i || end == i + 1 {
            i += 1;
            continue;
        }
        out.extend(&chars[copied..start]);
        let token: String = chars[start..end].iter().collect();
        out.push_str(&mask_email(&token));
        copied = end;
        i = end;
    }
    out.extend(&chars[copied..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn single_line_removes_every_line_break_and_bounds_length() {
        assert_eq!(
            single_line("Jane\r\nBcc: evil@x.com", 200),
            "Jane Bcc: evil@x.com"
        );
        assert_eq!(single_line("  a\u{2028}b\u{85}c\td  ", 200), "a b c d");
        assert_eq!(single_line("\r\n\r\n", 200), "");
        assert_eq!(single_line(&"x".repeat(500), 10).chars().count(), 10);
        let cut = single_line("aaaa bbbb", 5);
        assert_eq!(cut, "aaaa");
        assert!(!single_line("a\nb", 200).contains(['\r', '\n']));
    }

    #[test]
    fn single_line_drops_invisible_and_non_characters() {
        let spoof = "Ann\u{202E}gpj.exe\u{202C}\u{200B}\u{FEFF}\u{FFFE}\u{FFFF}\u{10FFFF}\u{FDD0}\u{2066}x\u{2069}";
        assert_eq!(single_line(spoof, 200), "Anngpj.exex");
        assert_eq!(single_line("\u{202E}\u{202E}", 200), "");
        // Ordinary text of every script is kept.
        assert_eq!(single_line("Zoë 李 مريم 👩‍💻", 200), "Zoë 李 مريم 👩‍💻");
        for c in [
            '\u{FFFE}',
            '\u{FFFF}',
            '\u{1FFFE}',
            '\u{10FFFF}',
            '\u{202D}',
            '\u{061C}',
        ] {
            assert!(is_invisible(c), "U+{:04X}", u32::from(c));
        }
        for c in ['a', '\u{FFFD}', '\u{200D}', '\u{E9}'] {
            assert!(!is_invisible(c), "U+{:04X}", u32::from(c));
        }
    }

    #[test]
    fn text_for_logs_is_masked_then_bounded() {
        let long = format!("{} jane.doe@example.com", "x".repeat(100_000));
        let logged = for_log(&long);
        assert!(
            logged.chars().count() < MAX_ECHO_CHARS + 40,
            "{}",
            logged.len()
        );
        assert!(logged.ends_with("bytes in all]"), "{logged}");
        // The address sits right at the cut: masked before cutting.
        let at_cut = format!("{} jane.doe@example.com", "x".repeat(MAX_ECHO_CHARS - 8));
        let logged = for_log(&at_cut);
        assert!(!logged.contains("jane.doe"), "{logged}");
        assert_eq!(for_log("short, a@b.co"), "short, a***@b.co");
    }

    #[test]
    fn redacts_addresses_inside_free_text() {
        assert_eq!(
            redact_addresses("Email address not verified jane.doe+x@example.com."),
            "Email address not verified j***@example.com."
        );
        assert_eq!(
            redact_addresses("to <a@b.co>, c@d.org; no address @ here or x@"),
            "to <a***@b.co>, c***@d.org; no address @ here or x@"
        );
        assert_eq!(redact_addresses("nothing to hide"), "nothing to hide");
        assert_eq!(redact_addresses("ünï@exämple.com"), "ü***@exämple.com");
    }

    proptest::proptest! {
        #[test]
        fn single_line_output_is_always_one_bounded_line(text in "\\PC*|[\\r\\n\\t\\u{85}\\u{2028} a-z:@]{0,300}|[\\u{202A}-\\u{202E}\\u{2066}-\\u{2069}\\u{FFFE}\\u{FFFF}\\u{FEFF}\\u{200B}\\u{FDD0} a-z]{0,300}", max in 1usize..250) {
            let line = single_line(&text, max);
            proptest::prop_assert!(line.chars().count() <= max);
            let breaks = line.chars().any(|c| c.is_control() || matches!(c, '\u{2028}' | '\u{2029}'));
            proptest::prop_assert!(!breaks, "line break or control character in {:?}", line);
            proptest::prop_assert!(!line.chars().any(is_invisible), "invisible character in {:?}", line);
            proptest::prop_assert_eq!(line.trim(), line.as_str());
        }

        #[test]
        fn redaction_never_leaves_an_address_in_clear(
            before in "[ a-zA-Z:<(,]{0,20}",
            local in "[a-z0-9][a-z0-9._+-]{1,20}",
            domain in "[a-z0-9]{1,10}\\.[a-z]{2,6}",
            after in "[ a-zA-Z.>),;]{0,20}",
        ) {
            let address = format!("{local}@{domain}");
            let redacted = redact_addresses(&format!("{before}{address}{after}"));
            proptest::prop_assert!(!redacted.contains(&address), "{}", redacted);
            proptest::prop_assert!(redacted.contains(&format!("***@{domain}")), "{}", redacted);
        }
    }
}
