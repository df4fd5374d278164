//! Everything the functions need, created in the emulator under names of
//! this run's own: the two streams, the four tables of the contract, the
//! dead-letter queue and the sender's SES identity; then the stock.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};
use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::{
    AttributeDefinition, AttributeValue, BillingMode, KeySchemaElement, KeyType,
    ScalarAttributeType, TableStatus,
};
use aws_sdk_kinesis::types::StreamStatus;
use order_events::EmailAddress;

use crate::shop::Product;

/// Shards of each stream, as the template creates them.
pub const SHARDS: i32 = 2;

/// How long to wait for a resource to become active (the emulator makes
/// them active at once).
const ACTIVE_TIMEOUT: Duration = Duration::from_secs(30);

/// The names of one run's resources.
#[derive(Debug, Clone)]
pub struct Resources {
    pub events_stream: String,
    pub commands_stream: String,
    pub inventory_table: String,
    pub saga_table: String,
    pub idempotency_table: String,
    pub customers_table: String,
    pub dead_letter_queue_url: String,
    pub sender: EmailAddress,
}

impl Resources {
    /// The environment of `function`, as the template would set it.
    pub fn vars(&self, function: &str) -> HashMap<String, String> {
        [
            ("AWS_LAMBDA_FUNCTION_NAME", function),
            ("DEAD_LETTER_QUEUE_URL", &self.dead_letter_queue_url),
            ("ORDER_EVENTS_STREAM", &self.events_stream),
            ("ORDER_COMMANDS_STREAM", &self.commands_stream),
            ("INVENTORY_TABLE", &self.inventory_table),
            ("SAGA_TABLE", &self.saga_table),
            ("IDEMPOTENCY_TABLE", &self.idempotency_table),
            ("CUSTOMERS_TABLE", &self.customers_table),
            ("SENDER_EMAIL", self.sender.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect()
    }

    /// The dead-letter queue's name: the last segment of its URL.
    pub fn dead_letter_queue_name(&self) -> String {
        let url = self.dead_letter_queue_url.trim_end_matches('/');
        url.rsplit('/').next().unwrap_or(url).to_owned()
    }

    /// Creates every resource; `suffix` keeps this run's names apart from
    /// any other run's on the same emulator.
    pub async fn create(
        sdk: &SdkConfig,
        suffix: &str,
        sender: EmailAddress,
    ) -> anyhow::Result<Self> {
        let name = |prefix: &str| format!("{prefix}-{suffix}");
        let resources = Self {
            events_stream: name("order-events"),
            commands_stream: name("order-commands"),
            inventory_table: name("inventory"),
            saga_table: name("order-sagas"),
            idempotency_table: name("idempotency"),
            customers_table: name("customers"),
            dead_letter_queue_url: String::new(),
            sender,
        };
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        let kinesis = aws_sdk_kinesis::Client::new(sdk);
        let queue_name = name("order-dead-letters");
        let (events, commands, inventory, sagas, idempotency, customers, queue, identity) = tokio::join!(
            create_stream(&kinesis, &resources.events_stream),
            create_stream(&kinesis, &resources.commands_stream),
            create_table(&dynamodb, &resources.inventory_table, "productId"),
            create_table(&dynamodb, &resources.saga_table, "orderId"),
            create_table(&dynamodb, &resources.idempotency_table, "id"),
            create_table(&dynamodb, &resources.customers_table, "userId"),
            create_queue(sdk, &queue_name),
            create_sender_identity(sdk, resources.sender.as_str()),
        );
        events?;
        commands?;
        inventory?;
        sagas?;
        idempotency?;
        customers?;
        identity?;
        Ok(Self {
            dead_letter_queue_url: queue?,
            ..resources
        })
    }

    /// Puts each product in the inventory table with its stock.
    pub async fn seed_stock<'a>(
        &self,
        sdk: &SdkConfig,
        products: impl IntoIterator<Item = &'a Product>,
    ) -> anyhow::Result<()> {
        let dynamodb = aws_sdk_dynamodb::Client::new(sdk);
        for product in products {
            dynamodb
                .put_item()
                .table_name(&self.inventory_table)
                .item("productId", AttributeValue::S(product.id.to_owned()))
                .item("available", AttributeValue::N(product.stock.to_string()))
                .item("name", AttributeValue::S(product.name.to_owned()))
                .send()
                .await
                .map_err(crate::sdk_error)
                .with_context(|| format!("stocking {}", product.id))?;
        }
        Ok(())
    }
}

async fn wait_until<F, Fut>(what: &str, mut ready: F) -> anyhow::Result<()>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<bool>>,
{
    let started = Instant::now();
    while !ready().await? {
        if started.elapsed() > ACTIVE_TIMEOUT {
            bail!("{what} did not become active within {ACTIVE_TIMEOUT:?}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

async fn create_stream(kinesis: &aws_sdk_kinesis::Client, name: &str) -> anyhow::Result<()> {
    kinesis
        .create_stream()
        .stream_name(name)
        .shard_count(SHARDS)
        .send()
        .await
        .map_err(crate::sdk_error)
        .with_context(|| format!("creating stream {name}"))?;
    wait_until(&format!("stream {name}"), || async {
        let out = kinesis
            .describe_stream_summary()
            .stream_name(name)
            .send()
            .await
            .map_err(crate::sdk_error)
            .with_context(|| format!("describing stream {name}"))?;
        Ok(out
            .stream_description_summary()
            .is_some_and(|s| s.stream_status() == &StreamStatus::Active))
    })
    .await
}

async fn create_table(
    dynamodb: &aws_sdk_dynamodb::Client,
    name: &str,
    key: &str,
) -> anyhow::Result<()> {
    dynamodb
        .create_table()
        .table_name(name)
        .attribute_definitions(
            AttributeDefinition::builder()
                .attribute_name(key)
                .attribute_type(ScalarAttributeType::S)
                .build()?,
        )
        .key_schema(
            KeySchemaElement::builder()
                .attribute_name(key)
                .key_type(KeyType::Hash)
                .build()?,
        )
        .billing_mode(BillingMode::PayPerRequest)
        .send()
        .await
        .map_err(crate::sdk_error)
        .with_context(|| format!("creating table {name}"))?;
    wait_until(&format!("table {name}"), || async {
        let out = dynamodb
            .describe_table()
            .table_name(name)
            .send()
            .await
            .map_err(crate::sdk_error)
            .with_context(|| format!("describing table {name}"))?;
        Ok(out.table().and_then(|t| t.table_status()) == Some(&TableStatus::Active))
    })
    .await
}

async fn create_queue(sdk: &SdkConfig, name: &str) -> anyhow::Result<String> {
    let out = aws_sdk_sqs::Client::new(sdk)
        .create_queue()
        .queue_name(name)
        .send()
        .await
        .map_err(crate::sdk_error)
        .with_context(|| format!("creating queue {name}"))?;
    out.queue_url()
        .map(str::to_owned)
        .with_context(|| format!("queue {name} was created without a URL"))
}

/// A domain identity lets every address of the domain send.
async fn create_sender_identity(sdk: &SdkConfig, sender: &str) -> anyhow::Result<()> {
    let domain = sender
        .rsplit_once('@')
        .map(|(_, domain)| domain)
        .with_context(|| format!("sender {sender} has no domain"))?;
    let result = aws_sdk_sesv2::Client::new(sdk)
        .create_email_identity()
        .email_identity(domain)
        .send()
        .await;
    match result {
        Ok(_) => Ok(()),
        Err(err)
            if aws_sdk_sesv2::error::ProvideErrorMetadata::code(&err)
                == Some("AlreadyExistsException") =>
        {
            Ok(())
        }
        Err(err) => Err(crate::sdk_error(err))
            .with_context(|| format!("creating the SES identity {domain}")),
    }
}

/// Empties the emulator at `endpoint` (`POST /moto-api/reset`): every
/// resource of every region goes, so only for an emulator of one's own.
pub async fn reset_emulator(endpoint: &str) -> anyhow::Result<()> {
    testkit::emulator_api::reset(endpoint).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn resources() -> Resources {
        Resources {
            events_stream: "order-events-x".into(),
            commands_stream: "order-commands-x".into(),
            inventory_table: "inventory-x".into(),
            saga_table: "order-sagas-x".into(),
            idempotency_table: "idempotency-x".into(),
            customers_table: "customers-x".into(),
            dead_letter_queue_url: "http://127.0.0.1:5000/123456789012/dlq".into(),
            sender: EmailAddress::parse("orders@shop.example.com").unwrap(),
        }
    }

    #[test]
    fn each_function_gets_its_own_name_and_the_contract_variables() {
        let resources = resources();
        let vars = resources.vars("inventory-update");
        assert_eq!(vars["AWS_LAMBDA_FUNCTION_NAME"], "inventory-update");
        let config = inventory_update::Config::from_vars(&vars).unwrap();
        assert_eq!(config.inventory_table, "inventory-x");
        let config = email_notification::Config::from_vars(&resources.vars("e")).unwrap();
        assert_eq!(config.sender.as_str(), "orders@shop.example.com");
        assert_eq!(config.core.function_name, "e");
    }

    #[test]
    fn the_queue_is_named_by_the_last_segment_of_its_url() {
        assert_eq!(resources().dead_letter_queue_name(), "dlq");
    }

    /// Every linked function builds from the resources' variables alone.
    #[test]
    fn every_linked_function_is_configured_by_the_resources() {
        use event_source_runner::linked::{self, Wire, WiringError};

        struct Built(Vec<&'static str>);
        impl Wire for Built {
            fn wire<I: event_source_runner::Invoke + 'static>(
                &mut self,
                function: stream_core::FunctionDescriptor,
                _invoker: I,
            ) -> Result<(), WiringError> {
                self.0.push(function.name);
                Ok(())
            }
        }

        let resources = resources();
        let sdk = aws_config::SdkConfig::builder()
            .behavior_version(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new("us-east-1"))
            .build();
        let mut built = Built(Vec::new());
        for function in linked::LINKED {
            linked::build(
                function.name,
                &sdk,
                &resources.vars(function.name),
                &mut built,
            )
            .unwrap_or_else(|e| panic!("{}: {e}", function.name));
        }
        let names: Vec<&str> = linked::LINKED.iter().map(|f| f.name).collect();
        assert_eq!(built.0, names);
    }
}
