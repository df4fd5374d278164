//! The functions under measurement: the resources each needs (in the
//! emulator, or just names for the fake endpoint), the records it is fed,
//! and a check that a batch really had its effect (a fast answer that
//! dead-lettered every record would otherwise look like a fast function).

use aws_config::SdkConfig;
use serde_json::json;

use crate::fake_aws::CallCounts;

/// Products the inventory orders draw from; each order takes two of them.
const PRODUCTS: usize = 100;
/// Stock per product, far above what any batch reserves.
const STOCK: i64 = 1_000_000_000;
/// Units an inventory order reserves (1 + 2).
const UNITS_PER_ORDER: i64 = 3;
const TIMESTAMP: &str = "2026-01-01T12:00:00.000Z";

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Function {
    EmailNotification,
    InventoryUpdate,
    OrderSagaStep,
    /// The harness's own minimal function, for checking the harness.
    Echo,
}

impl Function {
    /// What is measured when no function is named.
    pub const PRODUCT: [Function; 3] = [
        Function::EmailNotification,
        Function::InventoryUpdate,
        Function::OrderSagaStep,
    ];
    pub const ALL: [Function; 4] = [
        Function::EmailNotification,
        Function::InventoryUpdate,
        Function::OrderSagaStep,
        Function::Echo,
    ];

    /// The binary's name, also the function's name.
    pub fn name(self) -> &'static str {
        match self {
            Function::EmailNotification => "email-notification",
            Function::InventoryUpdate => "inventory-update",
            Function::OrderSagaStep => "order-saga-step",
            Function::Echo => "echo-function",
        }
    }

    pub fn parse(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|f| f.name() == name)
    }

    pub fn needs_aws(self) -> bool {
        self != Function::Echo
    }

    /// The records a batch is made of, in words.
    pub fn workload(self) -> &'static str {
        match self {
            Function::EmailNotification => {
                "ORDER_PLACED with email, distinct orders (idempotency claim + SES send + confirm)"
            }
            Function::InventoryUpdate => {
                "ORDER_CREATED, 2 lines each, distinct orders (one TransactWriteItems each)"
            }
            Function::OrderSagaStep => {
                "ORDER_PLACED, distinct orders (saga start + RESERVE_INVENTORY command)"
            }
            Function::Echo => "any records, no AWS calls",
        }
    }
}

/// Resources made for one run of a function, and what it is fed.
#[derive(Debug, Clone)]
pub struct Setup {
    pub function: Function,
    /// The function's own variables.
    pub env: Vec<(String, String)>,
    /// Unique per setup: resource names, order ids and email domains.
    tag: String,
    /// Against the emulator (with state to check) or the fake endpoint.
    on_moto: bool,
    dead_letter_queue: Option<String>,
    inventory_table: Option<String>,
    commands_stream: Option<String>,
}

/// What a batch left behind.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Effects {
    pub dead_letters: usize,
    pub first_dead_letter_reason: Option<String>,
    /// Calls made, when against the fake endpoint.
    pub aws_calls: Option<CallCounts>,
    /// The function-specific check, in words.
    pub summary: String,
    /// Every record had its effect and none was dead-lettered.
    pub as_expected: bool,
}

fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
    pairs
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect()
}

/// Where a function's AWS calls go.
#[derive(Debug, Clone)]
pub enum Backend {
    /// The fast fake endpoint at this URL: resources are only names.
    Fake { endpoint: String },
    /// The local emulator: resources are created and seeded.
    Moto(Box<SdkConfig>),
}

/// Static credentials and region, as the emulator and the fake accept; a
/// function must never pick up real ones here.
fn aws_env(endpoint: &str) -> Vec<(String, String)> {
    env(&[
        ("AWS_ENDPOINT_URL", endpoint),
        ("AWS_ACCESS_KEY_ID", "test"),
        ("AWS_SECRET_ACCESS_KEY", "test"),
        ("AWS_REGION", "us-east-1"),
        ("AWS_DEFAULT_REGION", "us-east-1"),
    ])
}

/// Names of one setup's resources.
struct Names {
    dlq: String,
    idempotency: String,
    customers: String,
    inventory: String,
    sagas: String,
    commands: String,
    events: String,
}

impl Names {
    fn new(tag: &str) -> Self {
        let name = |what: &str| format!("{tag}-{what}");
        Self {
            dlq: name("dlq"),
            idempotency: name("idempotency"),
            customers: name("customers"),
            inventory: name("inventory"),
            sagas: name("sagas"),
            commands: name("commands"),
            events: name("events"),
        }
    }
}

/// The function's own variables for these resources.
fn function_env(
    function: Function,
    tag: &str,
    n: &Names,
    dlq_url: &str,
    events: &str,
) -> Vec<(String, String)> {
    match function {
        Function::EmailNotification => env(&[
            ("SENDER_EMAIL", &format!("shop@{}", email_domain(tag))),
            ("CUSTOMERS_TABLE", &n.customers),
            ("IDEMPOTENCY_TABLE", &n.idempotency),
            ("DEAD_LETTER_QUEUE_URL", dlq_url),
        ]),
        Function::InventoryUpdate => env(&[
            ("INVENTORY_TABLE", &n.inventory),
            ("ORDER_EVENTS_STREAM", events),
            ("IDEMPOTENCY_TABLE", &n.idempotency),
            ("DEAD_LETTER_QUEUE_URL", dlq_url),
        ]),
        Function::OrderSagaStep => env(&[
            ("SAGA_TABLE", &n.sagas),
            ("ORDER_COMMANDS_STREAM", &n.commands),
            ("ORDER_EVENTS_STREAM", events),
            ("IDEMPOTENCY_TABLE", &n.idempotency),
            ("DEAD_LETTER_QUEUE_URL", dlq_url),
        ]),
        Function::Echo => Vec::new(),
    }
}

/// Prepares a run of `function`: fresh, uniquely named resources, created
/// and seeded in the emulator, or only named for the fake endpoint.
pub async fn setup(function: Function, backend: &Backend) -> anyhow::Result<Setup> {
    let tag = testkit::unique_name("bench");
    let n = Names::new(&tag);
    let mut setup = Setup {
        function,
        env: Vec::new(),
        tag: tag.clone(),
        on_moto: matches!(backend, Backend::Moto(_)),
        dead_letter_queue: None,
        inventory_table: None,
        commands_stream: None,
    };
    let aws = match backend {
        Backend::Fake { endpoint } => {
            let dlq = format!("{endpoint}/123456789012/{}", n.dlq);
            let events = format!("arn:aws:kinesis:us-east-1:123456789012:stream/{}", n.events);
            setup.env = aws_env(endpoint);
            setup
                .env
                .extend(function_env(function, &tag, &n, &dlq, &events));
            return Ok(setup);
        }
        Backend::Moto(aws) => aws,
    };
    setup.env = aws_env(&testkit::endpoint());
    if function == Function::Echo {
        return Ok(setup);
    }

    let dlq = testkit::create_queue(aws, &n.dlq).await;
    testkit::create_table(aws, &n.idempotency, "id").await;
    setup.dead_letter_queue = Some(dlq.clone());
    let mut events = String::new();
    match function {
        Function::EmailNotification => {
            testkit::create_table(aws, &n.customers, "userId").await;
            testkit::verify_email_domain(aws, &email_domain(&tag)).await;
        }
        Function::InventoryUpdate => {
            testkit::create_table(aws, &n.inventory, "productId").await;
            for p in 0..PRODUCTS {
                testkit::put_item_number(
                    aws,
                    &n.inventory,
                    "productId",
                    &product(&tag, p),
                    "available",
                    STOCK,
                )
                .await;
            }
            events = testkit::create_stream(aws, &n.events, 1).await;
            setup.inventory_table = Some(n.inventory.clone());
        }
        Function::OrderSagaStep => {
            testkit::create_table(aws, &n.sagas, "orderId").await;
            testkit::create_stream(aws, &n.commands, 1).await;
            events = testkit::create_stream(aws, &n.events, 1).await;
            setup.commands_stream = Some(n.commands.clone());
        }
        Function::Echo => {}
    }
    setup
        .env
        .extend(function_env(function, &tag, &n, &dlq, &events));
    Ok(setup)
}

fn email_domain(tag: &str) -> String {
    format!("{tag}.example")
}

fn product(tag: &str, p: usize) -> String {
    format!("{tag}-p{p:03}")
}

impl Setup {
    /// Record `i` of a batch: (partition key, data). Every record is a
    /// distinct order, so no record is a duplicate of another.
    pub fn record(&self, i: usize) -> (String, Vec<u8>) {
        let tag = &self.tag;
        let order = format!("{tag}-o{i}");
        let user = format!("u{}", i % 1000);
        let (kind, payload) = match self.function {
            Function::InventoryUpdate => {
                // Two distinct products: the second is 1..=99 places on.
                let a = i % PRODUCTS;
                let b = (a + 1 + (i / PRODUCTS) % (PRODUCTS - 1)) % PRODUCTS;
                (
                    "ORDER_CREATED",
                    json!({
                        "orderId": order, "userId": user, "status": "PENDING", "total": "18.99",
                        "items": [
                            {"productId": product(tag, a), "quantity": 1, "price": "9.99"},
                            {"productId": product(tag, b), "quantity": 2, "price": 4.5}
                        ]
                    }),
                )
            }
            Function::EmailNotification | Function::OrderSagaStep | Function::Echo => (
                "ORDER_PLACED",
                json!({
                    "orderId": order, "userId": user, "total": 18.99,
                    "email": format!("customer{i}@{}", email_domain(tag)),
                    "items": [
                        {"productId": "sku-mug", "quantity": 1, "price": "9.99"},
                        {"productId": "sku-tea", "quantity": 2, "price": 4.5}
                    ]
                }),
            ),
        };
        let envelope = json!({
            "eventId": format!("{tag}-e{i}"),
            "eventType": kind,
            "timestamp": TIMESTAMP,
            "payload": payload,
        });
        (order, envelope.to_string().into_bytes())
    }

    /// The Lambda Kinesis event of records `0..records`, as JSON.
    pub fn batch(&self, records: usize) -> anyhow::Result<Vec<u8>> {
        let event = stream_core::testing::kinesis_event((0..records).map(|i| self.record(i)));
        Ok(serde_json::to_vec(&event)?)
    }

    pub fn on_moto(&self) -> bool {
        self.on_moto
    }

    /// Checks a batch of `records` against the calls the fake endpoint saw:
    /// the one call per record that is the function's effect, and no dead
    /// letter.
    pub fn verify_fake(&self, calls: &CallCounts, records: usize) -> Effects {
        let records = records as u64;
        let (what, done) = match self.function {
            Function::InventoryUpdate => (
                "reservation transactions",
                calls.calls("DynamoDB.TransactWriteItems"),
            ),
            Function::EmailNotification => ("emails sent", calls.calls("SESv2.SendEmail")),
            Function::OrderSagaStep => (
                "RESERVE_INVENTORY commands",
                calls
                    .kinesis_types
                    .get("RESERVE_INVENTORY")
                    .copied()
                    .unwrap_or(0),
            ),
            Function::Echo => ("AWS calls", 0),
        };
        let expected = if self.function == Function::Echo {
            0
        } else {
            records
        };
        let dead_letters = calls.calls("SQS.SendMessage");
        let per_record = calls.total() as f64 / records.max(1) as f64;
        let mut summary = if self.function == Function::Echo {
            format!("{} AWS calls, none expected", calls.total())
        } else {
            format!(
                "{done} {what}, {expected} expected; {} AWS calls ({per_record:.1}/record)",
                calls.total()
            )
        };
        if calls.unknown > 0 {
            summary.push_str(&format!(
                "; {} calls the fake does not serve",
                calls.unknown
            ));
        }
        Effects {
            dead_letters: dead_letters as usize,
            first_dead_letter_reason: None,
            aws_calls: Some(calls.clone()),
            summary,
            as_expected: done == expected && dead_letters == 0 && calls.unknown == 0,
        }
    }

    /// Checks what a batch of `records` left in the emulator.
    pub async fn verify_moto(&self, aws: &SdkConfig, records: usize) -> anyhow::Result<Effects> {
        let letters = match &self.dead_letter_queue {
            Some(queue) => testkit::receive_all(aws, queue).await,
            None => Vec::new(),
        };
        let first_dead_letter_reason = letters.first().map(|body| {
            serde_json::from_str::<serde_json::Value>(body)
                .ok()
                .and_then(|v| v.get("reason").and_then(|r| r.as_str()).map(str::to_owned))
                .unwrap_or_else(|| body.chars().take(300).collect())
        });
        let (summary, effect_ok) = match self.function {
            Function::InventoryUpdate => {
                let table = self.inventory_table.as_deref().unwrap_or_default();
                let mut reserved = 0;
                for p in 0..PRODUCTS {
                    let available = testkit::get_item_number(
                        aws,
                        table,
                        "productId",
                        &product(&self.tag, p),
                        "available",
                    )
                    .await
                    .unwrap_or(STOCK);
                    reserved += STOCK - available;
                }
                let expected = UNITS_PER_ORDER * records as i64;
                (
                    format!("{reserved} units reserved, {expected} expected"),
                    reserved == expected,
                )
            }
            Function::EmailNotification => {
                let suffix = format!("@{}", email_domain(&self.tag));
                let sent = testkit::sent_emails()
                    .await
                    .into_iter()
                    .filter(|m| m.to.iter().any(|to| to.ends_with(&suffix)))
                    .count();
                (
                    format!("{sent} emails sent, {records} expected"),
                    sent == records,
                )
            }
            Function::OrderSagaStep => {
                let stream = self.commands_stream.as_deref().unwrap_or_default();
                let commands = testkit::read_stream(aws, stream).await;
                let reserve = commands
                    .iter()
                    .filter(|r| {
                        serde_json::from_slice::<serde_json::Value>(r.data().as_ref())
                            .ok()
                            .is_some_and(|v| {
                                v.get("eventType").and_then(|t| t.as_str())
                                    == Some("RESERVE_INVENTORY")
                                    || v.get("commandType").and_then(|t| t.as_str())
                                        == Some("RESERVE_INVENTORY")
                            })
                    })
                    .count();
                (
                    format!("{reserve} RESERVE_INVENTORY commands sent, {records} expected"),
                    reserve == records,
                )
            }
            Function::Echo => ("no side effects".into(), true),
        };
        Ok(Effects {
            dead_letters: letters.len(),
            first_dead_letter_reason,
            aws_calls: None,
            summary,
            as_expected: effect_ok && letters.is_empty(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn setup_for(function: Function) -> Setup {
        Setup {
            function,
            env: Vec::new(),
            tag: "bench-0123456789ab".into(),
            on_moto: false,
            dead_letter_queue: None,
            inventory_table: None,
            commands_stream: None,
        }
    }

    #[test]
    fn inventory_orders_take_two_distinct_existing_products() {
        let setup = setup_for(Function::InventoryUpdate);
        let mut orders = std::collections::HashSet::new();
        for i in 0..10_000 {
            let (key, data) = setup.record(i);
            let v: serde_json::Value = serde_json::from_slice(&data).unwrap();
            assert_eq!(v["eventType"], "ORDER_CREATED");
            assert_eq!(v["payload"]["orderId"], key.as_str());
            let items = v["payload"]["items"].as_array().unwrap();
            assert_eq!(items.len(), 2);
            assert_ne!(items[0]["productId"], items[1]["productId"], "record {i}");
            for item in items {
                let id = item["productId"].as_str().unwrap();
                let n: usize = id.rsplit_once("-p").unwrap().1.parse().unwrap();
                assert!(n < PRODUCTS);
            }
            assert!(orders.insert(key));
        }
    }

    #[test]
    fn batches_are_lambda_kinesis_events() {
        for function in Function::ALL {
            let setup = setup_for(function);
            let event: serde_json::Value =
                serde_json::from_slice(&setup.batch(3).unwrap()).unwrap();
            let records = event["Records"].as_array().unwrap();
            assert_eq!(records.len(), 3);
            assert_eq!(records[2]["eventSource"], "aws:kinesis");
            assert_eq!(
                records[2]["kinesis"]["partitionKey"],
                "bench-0123456789ab-o2"
            );
            assert!(records[2]["kinesis"]["data"].as_str().is_some());
        }
    }

    #[tokio::test]
    async fn fake_setups_name_every_variable_and_point_at_the_fake() {
        let backend = Backend::Fake {
            endpoint: "http://127.0.0.1:9".into(),
        };
        for (function, names) in [
            (
                Function::EmailNotification,
                &["SENDER_EMAIL", "CUSTOMERS_TABLE", "IDEMPOTENCY_TABLE"][..],
            ),
            (
                Function::InventoryUpdate,
                &[
                    "INVENTORY_TABLE",
                    "ORDER_EVENTS_STREAM",
                    "IDEMPOTENCY_TABLE",
                ],
            ),
            (
                Function::OrderSagaStep,
                &["SAGA_TABLE", "ORDER_COMMANDS_STREAM", "ORDER_EVENTS_STREAM"],
            ),
        ] {
            let setup = setup(function, &backend).await.unwrap();
            let get = |k: &str| {
                setup
                    .env
                    .iter()
                    .find(|(n, _)| n == k)
                    .map(|(_, v)| v.clone())
            };
            assert_eq!(
                get("AWS_ENDPOINT_URL").as_deref(),
                Some("http://127.0.0.1:9")
            );
            assert_eq!(get("AWS_ACCESS_KEY_ID").as_deref(), Some("test"));
            assert!(get("DEAD_LETTER_QUEUE_URL")
                .unwrap()
                .starts_with("http://127.0.0.1:9/"));
            for name in names {
                assert!(
                    get(name).is_some_and(|v| !v.is_empty()),
                    "{function:?} {name}"
                );
            }
            assert!(!setup.on_moto());
        }
    }

    #[test]
    fn fake_effects_need_one_effect_per_record_and_no_dead_letter() {
        let setup = setup_for(Function::InventoryUpdate);
        let mut calls = CallCounts::default();
        calls
            .operations
            .insert("DynamoDB.TransactWriteItems".into(), 10);
        let effects = setup.verify_fake(&calls, 10);
        assert!(effects.as_expected, "{}", effects.summary);
        assert!(
            effects.summary.contains("10 AWS calls (1.0/record)"),
            "{}",
            effects.summary
        );
        assert!(!setup.verify_fake(&calls, 11).as_expected);

        calls.operations.insert("SQS.SendMessage".into(), 1);
        let effects = setup.verify_fake(&calls, 10);
        assert_eq!(effects.dead_letters, 1);
        assert!(!effects.as_expected);

        let saga = setup_for(Function::OrderSagaStep);
        let mut calls = CallCounts::default();
        calls.kinesis_types.insert("RESERVE_INVENTORY".into(), 3);
        assert!(saga.verify_fake(&calls, 3).as_expected);
        calls.unknown = 1;
        assert!(!saga.verify_fake(&calls, 3).as_expected);
    }

    #[test]
    fn names_round_trip() {
        for function in Function::ALL {
            assert_eq!(Function::parse(function.name()), Some(function));
        }
        assert_eq!(Function::parse("nope"), None);
    }
}
