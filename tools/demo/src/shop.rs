//! The shop the demo simulates: its catalogue and stock, its customers, and
//! the plan of a burst of orders, with which ones are meant to fail and
//! how. The plan is deterministic, so every run tells the same story and
//! the report can check each order's outcome against what was planned.

use std::collections::BTreeMap;
use std::str::FromStr;

use order_events::{
    EmailAddress, Money, OrderId, OrderLine, OrderLines, OrderPlaced, ProductId, Quantity, UserId,
    UserRegistered,
};
use rust_decimal::Decimal;

/// A product the shop stocks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Product {
    pub id: &'static str,
    pub name: &'static str,
    /// Unit price, as the catalogue lists it.
    pub price: &'static str,
    /// Units in stock when the demo starts.
    pub stock: i64,
}

/// The regular catalogue: enough stock for every order of the largest
/// burst (a test checks it), so only the planned failures fail.
pub const PRODUCTS: [Product; 8] = [
    Product {
        id: "SKU-1001",
        name: "Espresso beans, 1 kg",
        price: "24.90",
        stock: 60,
    },
    Product {
        id: "SKU-1002",
        name: "Pour-over kettle",
        price: "49.00",
        stock: 25,
    },
    Product {
        id: "SKU-1003",
        name: "Ceramic mug, 350 ml",
        price: "12.50",
        stock: 100,
    },
    Product {
        id: "SKU-1004",
        name: "Burr grinder",
        price: "129.00",
        stock: 30,
    },
    Product {
        id: "SKU-1005",
        name: "Paper filters, 100 pack",
        price: "4.95",
        stock: 80,
    },
    Product {
        id: "SKU-1006",
        name: "Milk frother",
        price: "39.90",
        stock: 40,
    },
    Product {
        id: "SKU-1007",
        name: "Travel tumbler",
        price: "22.00",
        stock: 45,
    },
    Product {
        id: "SKU-1008",
        name: "Cold brew jar",
        price: "27.50",
        stock: 35,
    },
];

/// The limited product: two orders want two units each of three, so the
/// second one to be reserved fails.
pub const SCARCE: Product = Product {
    id: "SKU-2001",
    name: "Limited roast: Gesha, 250 g",
    price: "59.00",
    stock: 3,
};

/// Units of the scarce product each of the two orders asks for.
pub const SCARCE_UNITS: u64 = 2;

/// Every product, scarce one last.
pub fn all_products() -> impl Iterator<Item = &'static Product> {
    PRODUCTS.iter().chain(std::iter::once(&SCARCE))
}

/// A registered customer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Customer {
    pub user_id: &'static str,
    pub name: &'static str,
    pub email: &'static str,
}

pub const CUSTOMERS: [Customer; 10] = [
    Customer {
        user_id: "user-0001",
        name: "Jane Doe",
        email: "jane.doe@example.com",
    },
    Customer {
        user_id: "user-0002",
        name: "Kenji Watanabe",
        email: "kenji.w@example.net",
    },
    Customer {
        user_id: "user-0003",
        name: "Amara Okafor",
        email: "amara.okafor@example.org",
    },
    Customer {
        user_id: "user-0004",
        name: "Lucas Martin",
        email: "lucas.martin@example.com",
    },
    Customer {
        user_id: "user-0005",
        name: "Sofia Rossi",
        email: "sofia.rossi@example.it",
    },
    Customer {
        user_id: "user-0006",
        name: "Mateo Garcia",
        email: "mateo.garcia@example.es",
    },
    Customer {
        user_id: "user-0007",
        name: "Priya Sharma",
        email: "priya.sharma@example.in",
    },
    Customer {
        user_id: "user-0008",
        name: "Olivia Smith",
        email: "olivia.smith@example.co.uk",
    },
    Customer {
        user_id: "user-0009",
        name: "Noah Müller",
        email: "noah.mueller@example.de",
    },
    Customer {
        user_id: "user-0010",
        name: "Chloé Dubois",
        email: "chloe.dubois@example.fr",
    },
];

/// Fewest and most orders a burst may have: the planned failures need
/// ten orders, and the stock is sized for forty.
pub const MIN_ORDERS: usize = 10;
pub const MAX_ORDERS: usize = 40;
/// Most orders of a large plan ([`Plan::large`]), whose regular stock is
/// multiplied to match.
pub const LARGE_MAX_ORDERS: usize = 2_000;
/// Fewest customers: with one, every order would share a partition key.
pub const MIN_CUSTOMERS: usize = 2;

/// What is planned for an order.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Role {
    /// Goes through: reserved, paid, shipped.
    Normal,
    /// Also wants the scarce product; of the two such orders, one is
    /// reserved and goes through, the other fails its reservation.
    Scarce,
    /// The simulated payment service declines it.
    PaymentDeclined,
    /// The simulated shipping service fails it, after payment.
    ShippingFails,
    /// The customer cancels it as soon as its stock is reserved.
    Cancelled,
}

/// One order of the burst.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlannedOrder {
    pub placed: OrderPlaced,
    pub role: Role,
    /// Index into [`Plan::customers`].
    pub customer: usize,
}

impl PlannedOrder {
    pub fn id(&self) -> &OrderId {
        &self.placed.order_id
    }

    /// Units per product.
    pub fn units(&self) -> impl Iterator<Item = (&str, i64)> {
        self.placed
            .items
            .iter()
            .map(|line| (line.product_id.as_str(), i64::from(line.quantity.get())))
    }
}

/// The burst: who registers, what is ordered, and the extras that show
/// idempotency and dead letters.
#[derive(Debug, Clone)]
pub struct Plan {
    pub customers: Vec<Customer>,
    pub orders: Vec<PlannedOrder>,
    /// The order whose record is put twice, as a producer retry would.
    pub duplicated: OrderId,
    /// An `ORDER_PLACED` record whose payload is invalid (a line with
    /// quantity 0): the functions that read it dead-letter it.
    pub invalid_order: String,
    /// Data that is not JSON at all: the template's filters drop it before
    /// any function sees it, as Lambda's do.
    pub not_json: Vec<u8>,
    /// Each regular product's stock is its catalogue stock times this (1
    /// for the demo's bursts; more for a large plan).
    pub stock_scale: i64,
}

/// Why a plan cannot be made.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlanError(pub String);

impl std::fmt::Display for PlanError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PlanError {}

fn role_of(index: usize) -> Role {
    match index {
        1 | 2 => Role::Scarce,
        7 => Role::Cancelled,
        i if i % 13 == 4 => Role::PaymentDeclined,
        i if i % 13 == 9 => Role::ShippingFails,
        _ => Role::Normal,
    }
}

fn money(text: &str) -> Result<Money, PlanError> {
    Decimal::from_str(text)
        .map_err(|e| e.to_string())
        .and_then(Money::new)
        .map_err(|e| PlanError(format!("price {text}: {e}")))
}

fn line(product: &Product, units: u64) -> Result<OrderLine, PlanError> {
    Ok(OrderLine {
        product_id: ProductId::parse(product.id).map_err(PlanError)?,
        quantity: Quantity::new(units).map_err(PlanError)?,
        price: Some(money(product.price)?),
    })
}

impl Customer {
    pub fn registered(&self) -> Result<UserRegistered, PlanError> {
        Ok(UserRegistered {
            user_id: UserId::parse(self.user_id).map_err(PlanError)?,
            email: EmailAddress::parse(self.email).map_err(PlanError)?,
            registration_date: Some("2025-10-30T09:00:00Z".to_owned()),
            name: Some(self.name.to_owned()),
        })
    }
}

impl Plan {
    /// `orders` orders from the first `customers` customers. Every other
    /// order carries the customer's `email`; the others rely on the address
    /// registered with `USER_REGISTERED`.
    pub fn new(orders: usize, customers: usize) -> Result<Self, PlanError> {
        if !(MIN_ORDERS..=MAX_ORDERS).contains(&orders) {
            return Err(PlanError(format!(
                "{orders} orders: the demo plans {MIN_ORDERS} to {MAX_ORDERS}"
            )));
        }
        Self::build(orders, customers, 1)
    }

    /// A plan of up to [`LARGE_MAX_ORDERS`] orders, the same story as
    /// [`Plan::new`] told at scale: the regular stock is multiplied so every
    /// order of the larger burst can have its goods, while the scarce
    /// product keeps its three units, so still exactly one of the two
    /// orders wanting it gets it.
    pub fn large(orders: usize, customers: usize) -> Result<Self, PlanError> {
        if !(MIN_ORDERS..=LARGE_MAX_ORDERS).contains(&orders) {
            return Err(PlanError(format!(
                "{orders} orders: a large plan has {MIN_ORDERS} to {LARGE_MAX_ORDERS}"
            )));
        }
        // The demand of a burst grows with its size, block by block of
        // MAX_ORDERS; one block more keeps a margin for the uneven last one.
        let scale = orders.div_ceil(MAX_ORDERS) + 1;
        Self::build(orders, customers, i64::try_from(scale).unwrap_or(i64::MAX))
    }

    fn build(orders: usize, customers: usize, stock_scale: i64) -> Result<Self, PlanError> {
        if !(MIN_CUSTOMERS..=CUSTOMERS.len()).contains(&customers) {
            return Err(PlanError(format!(
                "{customers} customers: the demo has {MIN_CUSTOMERS} to {}",
                CUSTOMERS.len()
            )));
        }
        let mut planned = Vec::with_capacity(orders);
        for index in 0..orders {
            let customer = index % customers;
            let role = role_of(index);
            // One to three distinct products, one to three units each,
            // spread evenly over the catalogue.
            let mut lines = Vec::new();
            for k in 0..1 + (index * 7) % 3 {
                let product = &PRODUCTS[(index * 3 + k * 5) % PRODUCTS.len()];
                lines.push(line(product, 1 + ((index + k) % 3) as u64)?);
            }
            if role == Role::Scarce {
                lines.push(line(&SCARCE, SCARCE_UNITS)?);
            }
            let items = OrderLines::new(lines).map_err(PlanError)?;
            let total = items.priced_total();
            let who = &CUSTOMERS[customer];
            planned.push(PlannedOrder {
                placed: OrderPlaced {
                    order_id: OrderId::parse(format!("ord-{}", 1001 + index)).map_err(PlanError)?,
                    user_id: UserId::parse(who.user_id).map_err(PlanError)?,
                    items,
                    total,
                    email: (index % 2 == 0)
                        .then(|| EmailAddress::parse(who.email))
                        .transpose()
                        .map_err(PlanError)?,
                },
                role,
                customer,
            });
        }
        let duplicated = planned[0].id().clone();
        Ok(Self {
            customers: CUSTOMERS[..customers].to_vec(),
            orders: planned,
            duplicated,
            invalid_order: "ord-9999".to_owned(),
            not_json: b"order ord-1001 shipped!!! (not JSON)".to_vec(),
            stock_scale,
        })
    }

    /// Every product with the stock this plan starts from, scarce one last.
    pub fn stock(&self) -> Vec<Product> {
        all_products()
            .map(|product| Product {
                stock: if product.id == SCARCE.id {
                    product.stock
                } else {
                    product.stock.saturating_mul(self.stock_scale)
                },
                ..*product
            })
            .collect()
    }

    pub fn orders_with(&self, role: Role) -> impl Iterator<Item = &PlannedOrder> {
        self.orders.iter().filter(move |o| o.role == role)
    }

    pub fn ids_with(&self, role: Role) -> Vec<OrderId> {
        self.orders_with(role).map(|o| o.id().clone()).collect()
    }

    pub fn order(&self, id: &str) -> Option<&PlannedOrder> {
        self.orders.iter().find(|o| o.id().as_str() == id)
    }

    pub fn customer_of(&self, order: &PlannedOrder) -> &Customer {
        &self.customers[order.customer]
    }

    /// The order the customer cancels.
    pub fn cancelled(&self) -> Option<&PlannedOrder> {
        self.orders_with(Role::Cancelled).next()
    }

    /// The record data of the invalid order: JSON with a known type, so
    /// the filters let it through, and a payload no function accepts.
    pub fn invalid_order_data(&self) -> Vec<u8> {
        serde_json::json!({
            "eventId": format!("placed-{}", self.invalid_order),
            "eventType": "ORDER_PLACED",
            "timestamp": "2025-10-30T12:00:00Z",
            "payload": {
                "orderId": self.invalid_order,
                "userId": self.customers[0].user_id,
                "items": [{"productId": PRODUCTS[0].id, "quantity": 0, "price": 24.90}],
            },
        })
        .to_string()
        .into_bytes()
    }

    /// Units every order of the plan asks for, per product.
    pub fn demand(&self) -> BTreeMap<&str, i64> {
        let mut demand = BTreeMap::new();
        for order in &self.orders {
            for (product, units) in order.units() {
                *demand.entry(product).or_insert(0) += units;
            }
        }
        demand
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn regular_stock_covers_every_order_of_the_largest_burst() {
        let plan = Plan::new(MAX_ORDERS, CUSTOMERS.len()).unwrap();
        let demand = plan.demand();
        for product in PRODUCTS {
            let wanted = demand.get(product.id).copied().unwrap_or(0);
            assert!(
                wanted <= product.stock,
                "{}: {wanted} wanted, {} in stock",
                product.id,
                product.stock
            );
            assert!((20..=100).contains(&product.stock));
        }
        // Two orders want the scarce product, and only one can have it.
        assert_eq!(demand[SCARCE.id], 2 * SCARCE_UNITS as i64);
        assert!(SCARCE.stock >= SCARCE_UNITS as i64 && SCARCE.stock < 2 * SCARCE_UNITS as i64);
    }

    #[test]
    fn every_planned_failure_is_present_even_in_the_smallest_burst() {
        let plan = Plan::new(MIN_ORDERS, MIN_CUSTOMERS).unwrap();
        assert_eq!(plan.orders.len(), MIN_ORDERS);
        assert_eq!(plan.orders_with(Role::Scarce).count(), 2);
        assert_eq!(plan.orders_with(Role::Cancelled).count(), 1);
        assert_eq!(plan.orders_with(Role::PaymentDeclined).count(), 1);
        assert_eq!(plan.orders_with(Role::ShippingFails).count(), 1);
        assert_eq!(
            plan.order(plan.duplicated.as_str()).unwrap().role,
            Role::Normal
        );

        let plan = Plan::new(MAX_ORDERS, CUSTOMERS.len()).unwrap();
        assert_eq!(plan.orders_with(Role::PaymentDeclined).count(), 3);
        assert_eq!(plan.orders_with(Role::ShippingFails).count(), 3);
        let ids: std::collections::BTreeSet<_> = plan.orders.iter().map(|o| o.id()).collect();
        assert_eq!(ids.len(), plan.orders.len(), "order ids are unique");
    }

    #[test]
    fn half_the_orders_rely_on_the_registered_address() {
        let plan = Plan::new(20, 10).unwrap();
        let with_email = plan
            .orders
            .iter()
            .filter(|o| o.placed.email.is_some())
            .count();
        assert_eq!(with_email, 10);
        for order in &plan.orders {
            let customer = plan.customer_of(order);
            assert_eq!(order.placed.user_id.as_str(), customer.user_id);
            if let Some(email) = &order.placed.email {
                assert_eq!(email.as_str(), customer.email);
            }
            assert!(order.placed.total.is_some());
            assert!((1..=4).contains(&order.placed.items.len()));
        }
    }

    #[test]
    fn the_invalid_order_is_json_that_passes_the_filter_but_not_the_model() {
        let plan = Plan::new(MIN_ORDERS, MIN_CUSTOMERS).unwrap();
        let data = plan.invalid_order_data();
        let envelope = order_events::Envelope::parse(&data).unwrap();
        assert_eq!(
            envelope.kind().unwrap(),
            order_events::EventKind::OrderPlaced
        );
        assert!(envelope
            .event(order_events::EventKind::OrderPlaced)
            .is_err());
        assert!(serde_json::from_slice::<serde_json::Value>(&plan.not_json).is_err());
    }

    #[test]
    fn a_large_plan_stocks_every_order_but_keeps_the_scarce_product_contested() {
        for orders in [MIN_ORDERS, 60, 200, 333, LARGE_MAX_ORDERS] {
            let plan = Plan::large(orders, CUSTOMERS.len()).unwrap();
            assert_eq!(plan.orders.len(), orders);
            let demand = plan.demand();
            for product in plan.stock() {
                let wanted = demand.get(product.id).copied().unwrap_or(0);
                if product.id == SCARCE.id {
                    assert_eq!(product.stock, SCARCE.stock);
                    assert_eq!(wanted, 2 * SCARCE_UNITS as i64);
                } else {
                    assert!(
                        wanted <= product.stock,
                        "{orders} orders: {}: {wanted} wanted, {} in stock",
                        product.id,
                        product.stock
                    );
                }
            }
            assert_eq!(plan.orders_with(Role::Cancelled).count(), 1);
        }
        assert!(Plan::large(LARGE_MAX_ORDERS + 1, 5).is_err());
        assert!(Plan::large(MIN_ORDERS - 1, 5).is_err());
        // The demo's plans keep the catalogue's stock as it is.
        let demo = Plan::new(MAX_ORDERS, CUSTOMERS.len()).unwrap();
        let stock = demo.stock();
        assert!(stock.iter().zip(all_products()).all(|(a, b)| a == b));
    }

    #[test]
    fn sizes_outside_the_plan_are_refused() {
        assert!(Plan::new(MIN_ORDERS - 1, 5).is_err());
        assert!(Plan::new(MAX_ORDERS + 1, 5).is_err());
        assert!(Plan::new(20, 1).is_err());
        assert!(Plan::new(20, CUSTOMERS.len() + 1).is_err());
    }
}
