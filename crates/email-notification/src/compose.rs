//! The emails, rendered in Rust from typed templates kept in
//! `templates/` (askama). `.html` templates escape every value; `.txt`
//! templates are plain text and escape nothing. Subjects are built here and
//! passed through [`single_line`], so no event field can add a header.

use askama::Template;
use order_events::{OrderId, OrderPlaced, UserRegistered};

use crate::email::{single_line, MAX_SUBJECT_CHARS};

/// Longest display name or reason kept, in characters.
const MAX_FIELD_CHARS: usize = 200;

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
struct LineView<'a> {
    product_id: &'a str,
    quantity: u32,
    unit_price: Option<String>,
    amount: Option<String>,
}

#[derive(Template)]
#[template(path = "order_placed.html")]
struct OrderPlacedHtml<'a> {
    subject: &'a str,
    order_id: &'a str,
    lines: &'a [LineView<'a>],
    total: Option<&'a str>,
}

#[derive(Template)]
#[template(path = "order_placed.txt")]
struct OrderPlacedText<'a> {
    order_id: &'a str,
    lines: &'a [LineView<'a>],
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
    reason: &'a str,
}

#[derive(Template)]
#[template(path = "order_failed.txt")]
struct OrderFailedText<'a> {
    order_id: &'a str,
    reason: &'a str,
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
        .map(|n| single_line(n, MAX_FIELD_CHARS))
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
    let lines: Vec<LineView<'_>> = order
        .items
        .iter()
        .map(|line| LineView {
            product_id: line.product_id.as_str(),
            quantity: line.quantity.get(),
            unit_price: line.price.map(|p| p.to_cents_string()),
            amount: line
                .price
                .and_then(|p| p.checked_mul(line.quantity))
                .map(|m| m.to_cents_string()),
        })
        .collect();
    let total = order.total_or_priced().map(|t| t.to_cents_string());
    let order_id = order.order_id.as_str();
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
    let order_id = order_id.as_str();
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

/// "We could not complete your order", with the reason.
pub fn order_failed(order_id: &OrderId, reason: &str) -> Result<Message, RenderError> {
    let order_id = order_id.as_str();
    let reason = single_line(reason, MAX_FIELD_CHARS);
    let reason = if reason.is_empty() {
        "not given".to_owned()
    } else {
        reason
    };
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
                reason: &reason,
            },
        )?,
        text: render(
            "order failed",
            &OrderFailedText {
                order_id,
                reason: &reason,
            },
        )?,
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
            "n".repeat(1000)
        ));
        assert!(welcome(&long).unwrap().subject.chars().count() <= MAX_SUBJECT_CHARS);
    }

    #[test]
    fn completed_and_failed_emails_name_the_order_and_the_reason() {
        let order = OrderId::parse("o-9").unwrap();
        let done = order_completed(&order).unwrap();
        assert_eq!(done.subject, "Your order o-9 is complete");
        assert!(done.html.contains("o-9") && done.text.contains("o-9"));

        let failed = order_failed(&order, "payment declined <card>").unwrap();
        assert_eq!(failed.subject, "We could not complete your order o-9");
        assert!(
            failed.text.contains("Reason: payment declined <card>"),
            "{}",
            failed.text
        );
        assert!(
            failed.html.contains("payment declined &#60;card&#62;")
                || failed.html.contains("payment declined &lt;card&gt;"),
            "{}",
            failed.html
        );
    }
}
