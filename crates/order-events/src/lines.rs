//! The lines of an order. Parsing merges lines of the same product and
//! bounds the count, so every consumer sees one line per product and one
//! order always fits in one DynamoDB transaction.

use serde::{Deserialize, Serialize};

use crate::values::{Money, ProductId, Quantity};

/// Most distinct products in one order. A reservation writes one item per
/// product plus the reservation record, and a DynamoDB transaction holds at
/// most 100 actions; 50 leaves room and matches the contract.
pub const MAX_LINES: usize = 50;

/// Most units of one product in one order.
pub const MAX_QUANTITY: u32 = 1_000_000;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct OrderLine {
    pub product_id: ProductId,
    pub quantity: Quantity,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub price: Option<Money>,
}

/// A non-empty list of at most [`MAX_LINES`] lines, one per product, in the
/// order products first appear.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<OrderLine>", into = "Vec<OrderLine>")]
pub struct OrderLines(Vec<OrderLine>);

impl OrderLines {
    pub fn new(lines: Vec<OrderLine>) -> Result<Self, String> {
        if lines.is_empty() {
            return Err("items must not be empty".into());
        }
        let mut merged: Vec<OrderLine> = Vec::with_capacity(lines.len());
        for line in lines {
            // Orders are small (at most 50 distinct products), so a linear
            // scan beats hashing here.
            match merged.iter_mut().find(|m| m.product_id == line.product_id) {
                Some(existing) => {
                    let sum = u64::from(existing.quantity.get()) + u64::from(line.quantity.get());
                    existing.quantity = Quantity::new(sum).map_err(|_| {
                        format!(
                            "product {} totals {sum} units, at most {MAX_QUANTITY} allowed",
                            line.product_id
                        )
                    })?;
                    if existing.price.is_none() {
                        existing.price = line.price;
                    }
                }
                None => {
                    if merged.len() == MAX_LINES {
                        return Err(format!(
                            "order has more than {MAX_LINES} distinct products; it cannot be reserved atomically"
                        ));
                    }
                    merged.push(line);
                }
            }
        }
        Ok(Self(merged))
    }

    pub fn iter(&self) -> std::slice::Iter<'_, OrderLine> {
        self.0.iter()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn as_slice(&self) -> &[OrderLine] {
        &self.0
    }

    /// Sum of price x quantity over the lines that carry a price, or `None`
    /// when a line has no price (the order's `total` is then authoritative).
    pub fn priced_total(&self) -> Option<Money> {
        self.0.iter().try_fold(Money::zero(), |sum, line| {
            sum.checked_add(line.price?.checked_mul(line.quantity)?)
        })
    }
}

impl TryFrom<Vec<OrderLine>> for OrderLines {
    type Error = String;
    fn try_from(lines: Vec<OrderLine>) -> Result<Self, String> {
        Self::new(lines)
    }
}

impl From<OrderLines> for Vec<OrderLine> {
    fn from(lines: OrderLines) -> Self {
        lines.0
    }
}

impl<'a> IntoIterator for &'a OrderLines {
    type Item = &'a OrderLine;
    type IntoIter = std::slice::Iter<'a, OrderLine>;
    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn line(product: &str, quantity: u64) -> OrderLine {
        OrderLine {
            product_id: ProductId::parse(product).unwrap(),
            quantity: Quantity::new(quantity).unwrap(),
            price: None,
        }
    }

    #[test]
    fn merges_lines_of_one_product_in_first_seen_order() {
        let lines = OrderLines::new(vec![line("b", 1), line("a", 2), line("b", 3)]).unwrap();
        let got: Vec<_> = lines
            .iter()
            .map(|l| (l.product_id.as_str().to_owned(), l.quantity.get()))
            .collect();
        assert_eq!(got, vec![("b".to_owned(), 4), ("a".to_owned(), 2)]);
    }

    #[test]
    fn rejects_empty_too_many_and_overflowing_orders() {
        assert!(OrderLines::new(vec![]).is_err());
        let fifty: Vec<_> = (0..50).map(|i| line(&format!("p{i}"), 1)).collect();
        assert!(OrderLines::new(fifty.clone()).is_ok());
        let mut fifty_one = fifty;
        fifty_one.push(line("p50", 1));
        let err = OrderLines::new(fifty_one).unwrap_err();
        assert!(err.contains("more than 50"), "{err}");
        let err = OrderLines::new(vec![line("a", 600_000), line("a", 400_001)]).unwrap_err();
        assert!(err.contains("1000000"), "{err}");
    }

    #[test]
    fn priced_total_is_exact() {
        let json = r#"[{"productId":"a","quantity":3,"price":0.1},{"productId":"b","quantity":1,"price":"19.99"}]"#;
        let lines: OrderLines = serde_json::from_str(json).unwrap();
        assert_eq!(lines.priced_total().unwrap().to_string(), "20.29");
    }
}
