//! The emails, rendered in Rust from typed templates kept in
//! `templates/` (askama). `.html` templates escape every value; `.txt`
//! templates are plain text and escape nothing. Subjects are built here and
//! passed through [`single_line`], so no event field can add a header.
//!
//! Every value taken from an event (a name, an order or product id) is shown
//! through [`single_line`] too: one line, no control, bidirectional-override
//! or non-character code points, and cut to a bounded length. With at most
//! 50 lines per order, an email is a few tens of kilobytes whatever the
//! event holds. The "could not complete" email never shows the event's
//! `reason`: only the fixed sentence of its [`FailureReason`] code.

use askama::Template;
use order_events::{FailureReason, OrderId, OrderPlaced, UserRegistered};

use crate::text::{single_line, MAX_SUBJECT_CHARS};

/// Longest display name kept, in characters.
pub const MAX_NAME_CHARS: usize = 128;

/// Longest identifier shown (order and product ids), in characters: the
/// contract's limit, so a valid id is never cut.
pub const MAX_ID_CHARS: usize = order_events::values::MAX_ID_LEN;

/// A rendered email without its envelope (sender and recipient).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Message {
    pub subject: String,
    pub html: String,
    pub text: String,
}

/// A template failed to render; a bug in a template, never in the data.
#[derive(Debug, thiserror::Error)]
#[error("rendering the {template} email failed: {source}")]
pub struct RenderError {
    template: &'static str,
    #[source]
    source: askama::Error,
}

#[derive(Template)]
#[template(path = "welcome.html")]
struct WelcomeHtml<'a> {
    subject: &'a str,
    name: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "welcome.txt")]
struct WelcomeText<'a> {
    name: Option<&'a str>,
}

/// One order line as shown: money already formatted to cents.
struct LineView {
    product_id: String,
    quantity: u32,
    unit_price: Option<String>,
    amount: Option<String>,
}

#[derive(Template)]
#[template(path = "order_placed.html")]
struct OrderPlacedHtml<'a> {
    subject: &'a str,
    order_id: &'a str,
    lines: &'a [LineView],
    total: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "order_placed.txt")]
struct OrderPlacedText<'a> {
    order_id: &'a str,
    lines: &'a [LineView],
    total: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "order_completed.html")]
struct OrderCompletedHtml<'a> {
    subject: &'a str,
    order_id: &'a str,
}

#[derive(Template)]
#[template(path = "order_completed.txt")]
struct OrderCompletedText<'a> {
    order_id: &'a str,
}

#[derive(Template)]
#[template(path = "order_failed.html")]
struct OrderFailedHtml<'a> {
    subject: &'a str,
    order_id: &'a str,
    wording: &'a str,
}

#[derive(Template)]
#[template(path = "order_failed.txt")]
struct OrderFailedText<'a> {
    order_id: &'a str,
    wording: &'a str,
}

fn render(template: &'static str, t: &impl Template) -> Result<String, RenderError> {
    t.render()
        .map_err(|source| RenderError { template, source })
}

/// The welcome email for a new user.
pub fn welcome(user: &UserRegistered) -> Result<Message, RenderError> {
    let name = user
        .name
        .as_deref()
        .map(|n| single_line(n, MAX_NAME_CHARS))
        .filter(|n| !n.is_empty());
    let subject = match &name {
        Some(name) => single_line(&format!("Welcome, {name}!"), MAX_SUBJECT_CHARS),
        None => "Welcome!".to_owned(),
    };
    let name = name.as_deref();
    Ok(Message {
        html: render(
            "welcome",
            &WelcomeHtml {
                subject: &subject,
                name,
            },
        )?,
        text: render("welcome", &WelcomeText { name })?,
        subject,
    })
}

/// The order confirmation: every line with quantity and price, and the
/// total as sent or, failing that, summed from the priced lines.
pub fn order_placed(order: &OrderPlaced) -> Result<Message, RenderError> {
    let lines: Vec<LineView> = order
        .items
        .iter()
        .map(|line| LineView {
            product_id: single_line(line.product_id.as_str(), MAX_ID_CHARS),
            quantity: line.quantity.get(),
            unit_price: line.price.map(|p| p.to_cents_string()),
            amount: line
                .price
                .and_then(|p| p.checked_mul(line.quantity))
                .map(|m| m.to_cents_string()),
        })
        .collect();
    let total = order.total_or_priced().map(|t| t.to_cents_string());
    let order_id = &single_line(order.order_id.as_str(), MAX_ID_CHARS);
    let subject = single_line(&format!("Order {order_id} confirmed"), MAX_SUBJECT_CHARS);
    Ok(Message {
        html: render(
            "order confirmation",
            &OrderPlacedHtml {
                subject: &subject,
                order_id,
                lines: &lines,
                total: total.as_deref(),
            },
        )?,
        text: render(
            "order confirmation",
            &OrderPlacedText {
                order_id,
                lines: &lines,
                total: total.as_deref(),
            },
        )?,
        subject,
    })
}

/// "Your order is complete".
pub fn order_completed(order_id: &OrderId) -> Result<Message, RenderError> {
    let order_id = &single_line(order_id.as_str(), MAX_ID_CHARS);
    let subject = single_line(
        &format!("Your order {order_id} is complete"),
        MAX_SUBJECT_CHARS,
    );
    Ok(Message {
        html: render(
            "order completed",
            &OrderCompletedHtml {
                subject: &subject,
                order_id,
            },
        )?,
        text: render("order completed", &OrderCompletedText { order_id })?,
        subject,
    })
}

/// "We could not complete your order", with the fixed sentence of the
/// reason code. Anything in `reason` that is not a code (free text, an
/// error message) shows as [`FailureReason::Other`]'s sentence: the event's
/// text itself never reaches the customer.
pub fn order_failed(order_id: &OrderId, reason: &str) -> Result<Message, RenderError> {
    let order_id = &single_line(order_id.as_str(), MAX_ID_CHARS);
    let wording = FailureReason::from_wire(reason).wording();
    let subject = single_line(
        &format!("We could not complete your order {order_id}"),
        MAX_SUBJECT_CHARS,
    );
    Ok(Message {
        html: render(
            "order failed",
            &OrderFailedHtml {
                subject: &subject,
                order_id,
                wording,
            },
        )?,
        text: render("order failed", &OrderFailedText { order_id, wording })?,
        subject,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_events::{Event, EventKind};

    fn placed(payload: &str) -> OrderPlaced {
        match Event::parse(EventKind::OrderPlaced, payload).unwrap() {
            Event::OrderPlaced(p) => p,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn registered(payload: &str) -> UserRegistered {
        match Event::parse(EventKind::UserRegistered, payload).unwrap() {
            Event::UserRegistered(u) => u,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn order_confirmation_lists_lines_and_exact_money() {
        let order = placed(
            r#"{"orderId":"o-1","userId":"u-1","items":[
                {"productId":"p-1","quantity":3,"price":0.1},
                {"productId":"p-2","quantity":1,"price":"19.999"},
                {"productId":"p-3","quantity":2}
            ],"total":20.3}"#,
        );
        let msg = order_placed(&order).unwrap();
        assert_eq!(msg.subject, "Order o-1 confirmed");
        for part in [&msg.html, &msg.text] {
            assert!(part.contains("p-1"), "{part}");
            assert!(part.contains("0.10"), "{part}");
            assert!(part.contains("0.30"), "{part}");
            assert!(part.contains("20.00"), "{part}");
            assert!(part.contains("20.30"), "{part}");
        }
        assert!(
            msg.text.contains("- p-1 x 3 at 0.10 = 0.30"),
            "{}",
            msg.text
        );
        assert!(msg.text.contains("- p-3 x 2\n"), "{}", msg.text);
        assert!(msg.text.contains("Total: 20.30"), "{}", msg.text);
    }

    #[test]
    fn total_falls_back_to_priced_lines_and_is_omitted_when_unknown() {
        let priced = placed(
            r#"{"orderId":"o-2","userId":"u","items":[{"productId":"a","quantity":2,"price":19.99},{"productId":"b","quantity":1,"price":0.01}]}"#,
        );
        let msg = order_placed(&priced).unwrap();
        assert!(msg.text.contains("Total: 39.99"), "{}", msg.text);
        assert!(msg.html.contains("<strong>39.99</strong>"), "{}", msg.html);

        let unpriced =
            placed(r#"{"orderId":"o-3","userId":"u","items":[{"productId":"a","quantity":2}]}"#);
        let msg = order_placed(&unpriced).unwrap();
        assert!(!msg.text.contains("Total"), "{}", msg.text);
        assert!(!msg.html.contains("Total"), "{}", msg.html);
    }

    #[test]
    fn html_escapes_names_and_product_ids_but_text_does_not() {
        let order = placed(
            r#"{"orderId":"o-<1>","userId":"u","items":[{"productId":"<script>alert('x')</script>","quantity":1,"price":1}]}"#,
        );
        let msg = order_placed(&order).unwrap();
        assert!(!msg.html.contains("<script>"), "{}", msg.html);
        assert!(
            msg.html.contains("&#60;script&#62;") || msg.html.contains("&lt;script&gt;"),
            "{}",
            msg.html
        );
        assert!(
            msg.text.contains("<script>alert('x')</script>"),
            "{}",
            msg.text
        );
        assert!(msg.text.contains("o-<1>"), "{}", msg.text);

        let user = registered(r#"{"userId":"u","email":"a@b.co","name":"Tom & <b>Jerry</b>"}"#);
        let msg = welcome(&user).unwrap();
        assert!(!msg.html.contains("<b>Jerry"), "{}", msg.html);
        assert!(msg.text.contains("Hi Tom & <b>Jerry</b>,"), "{}", msg.text);
    }

    #[test]
    fn subjects_never_carry_line_breaks() {
        let user =
            registered(r#"{"userId":"u","email":"a@b.co","name":"Jane\r\nBcc: evil@x.com"}"#);
        let msg = welcome(&user).unwrap();
        assert_eq!(msg.subject, "Welcome, Jane Bcc: evil@x.com!");
        assert!(
            msg.text.starts_with("Hi Jane Bcc: evil@x.com,"),
            "{}",
            msg.text
        );

        let nameless = registered(r#"{"userId":"u","email":"a@b.co","name":" \r\n "}"#);
        assert_eq!(welcome(&nameless).unwrap().subject, "Welcome!");

        let long = registered(&format!(
            r#"{{"userId":"u","email":"a@b.co","name":"{}"}}"#,
            "n".repeat(order_events::values::limits::NAME)
        ));
        assert!(welcome(&long).unwrap().subject.chars().count() <= MAX_SUBJECT_CHARS);
    }

    #[test]
    fn completed_and_failed_emails_name_the_order_and_the_reason() {
        let order = OrderId::parse("o-9").unwrap();
        let done = order_completed(&order).unwrap();
        assert_eq!(done.subject, "Your order o-9 is complete");
        assert!(done.html.contains("o-9") && done.text.contains("o-9"));

        let failed = order_failed(&order, "PAYMENT_DECLINED").unwrap();
        assert_eq!(failed.subject, "We could not complete your order o-9");
        let wording = FailureReason::PaymentDeclined.wording();
        assert!(failed.text.contains(wording), "{}", failed.text);
        assert!(failed.html.contains(wording), "{}", failed.html);
        for reason in FailureReason::ALL {
            let msg = order_failed(&order, reason.code()).unwrap();
            assert!(msg.text.contains(reason.wording()), "{}", msg.text);
            assert!(!msg.text.contains(reason.code()), "{}", msg.text);
        }
    }

    #[test]
    fn the_failure_email_never_shows_the_event_reason_text() {
        let order = OrderId::parse("o-9").unwrap();
        for leaked in [
            "DispatchFailure: connection reset by peer at 10.0.0.1",
            "payment declined <card 4111 1111 1111 1111>",
            "Bcc: evil@x.com\r\nSubject: win",
            "",
            &"\u{202E}\u{FFFF}x".repeat(30_000),
        ] {
            let msg = order_failed(&order, leaked).unwrap();
            let other = FailureReason::Other.wording();
            assert!(msg.text.contains(other), "{}", msg.text);
            assert!(msg.html.contains(other), "{}", msg.html);
            for part in [&msg.text, &msg.html, &msg.subject] {
                for piece in ["10.0.0.1", "4111", "evil@x.com", "\u{202E}", "\u{FFFF}"] {
                    assert!(!part.contains(piece), "{piece:?} in {part}");
                }
            }
            assert!(msg.text.len() + msg.html.len() < 4096);
        }
    }

    fn hostile_order() -> OrderPlaced {
        // The longest ids the contract allows, in four-byte characters with
        // invisible and non-character code points mixed in, on 50 lines
        // with the largest prices and quantities.
        let id = |n: usize| {
            let mut id = format!("{n}\u{202E}\u{FFFE}");
            while id.chars().count() < MAX_ID_CHARS {
                id.push('\u{1F600}');
            }
            id
        };
        let items: Vec<serde_json::Value> = (0..order_events::MAX_LINES)
            .map(|n| {
                serde_json::json!({
                    "productId": id(n),
                    "quantity": order_events::MAX_QUANTITY,
                    "price": "79228162514264337593543950.335"
                })
            })
            .collect();
        placed(
            &serde_json::json!({
                "orderId": id(999),
                "userId": "u",
                "items": items,
                "total": "79228162514264337593543950335"
            })
            .to_string(),
        )
    }

    #[test]
    fn the_largest_order_the_contract_allows_gives_a_bounded_single_line_email() {
        let msg = order_placed(&hostile_order()).unwrap();
        let size = msg.subject.len() + msg.html.len() + msg.text.len();
        assert!(size < 128 * 1024, "{size} bytes");
        assert!(msg.subject.chars().count() <= MAX_SUBJECT_CHARS);
        for part in [&msg.subject, &msg.html, &msg.text] {
            assert!(!part.chars().any(crate::text::is_invisible), "{part}");
        }
        assert!(!msg.subject.contains(['\r', '\n']));
    }

    #[test]
    fn a_huge_or_odd_name_gives_a_bounded_welcome() {
        let odd = format!(
            "\u{202E}Eve\r\nBcc: x@evil.example\u{0}\u{FFFE}\u{FFFF}\u{2028}{}",
            "N".repeat(100_000)
        );
        let user = UserRegistered {
            user_id: order_events::UserId::parse("u-1").unwrap(),
            email: order_events::EmailAddress::parse("eve@example.com").unwrap(),
            registration_date: None,
            name: Some(odd),
        };
        let msg = welcome(&user).unwrap();
        assert!(
            msg.subject.starts_with("Welcome, Eve Bcc: x@evil.example "),
            "{}",
            msg.subject
        );
        assert!(msg.subject.chars().count() <= MAX_SUBJECT_CHARS);
        for part in [&msg.subject, &msg.html, &msg.text] {
            assert!(!part.chars().any(|c| c.is_control() && c != '\n'), "{part}");
            assert!(!part.chars().any(crate::text::is_invisible), "{part}");
            assert!(!part.contains(&"N".repeat(MAX_NAME_CHARS)), "name not cut");
        }
        assert!(!msg.subject.contains(['\r', '\n']));
        assert!(
            msg.text.len() + msg.html.len() < 4096,
            "{}",
            msg.text.len() + msg.html.len()
        );
    }
}
