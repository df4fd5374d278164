//! The replies of the simulated payment and shipping services.

use std::collections::HashSet;

use order_events::{
    DedupKey, Event, EventId, EventKind, OrderId, OutgoingRecord, StepReply, Timestamp,
};
use stream_core::{Handled, Handler, HandlerError, IncomingEvent};

/// The commands the simulator answers; the others on the commands stream
/// (the inventory commands) belong to inventory-update.
pub const HANDLED_KINDS: &[EventKind] = &[
    EventKind::ProcessPayment,
    EventKind::RefundPayment,
    EventKind::ShipOrder,
];

/// The simulated services. Every command succeeds unless its order is listed
/// as failing.
#[derive(Debug, Clone, Default)]
pub struct Simulator {
    payment_failures: HashSet<OrderId>,
    shipping_failures: HashSet<OrderId>,
    unanswered: HashSet<OrderId>,
}

impl Simulator {
    /// A simulator under which every payment and every shipment succeeds.
    pub fn succeeding() -> Self {
        Self::default()
    }

    /// A simulator that declines the payment of the orders in
    /// `payment_failures` and fails the shipping of those in
    /// `shipping_failures`.
    pub fn new(
        payment_failures: impl IntoIterator<Item = OrderId>,
        shipping_failures: impl IntoIterator<Item = OrderId>,
    ) -> Self {
        Self {
            payment_failures: payment_failures.into_iter().collect(),
            shipping_failures: shipping_failures.into_iter().collect(),
            unanswered: HashSet::new(),
        }
    }

    /// The same simulator, answering no command of the orders in
    /// `unanswered`.
    pub fn with_unanswered(mut self, unanswered: impl IntoIterator<Item = OrderId>) -> Self {
        self.unanswered = unanswered.into_iter().collect();
        self
    }

    /// The reply to `command`, or `None` for a command the simulator does
    /// not answer. The reply's id depends only on the command's
    /// deduplication key: a redelivered command gets the same reply.
    pub fn reply_to(&self, command: &Event, dedup_key: &DedupKey) -> Option<(EventId, Event)> {
        if command
            .order_id()
            .is_some_and(|order| self.unanswered.contains(order))
        {
            return None;
        }
        let reply = |order_id: &OrderId, saga_id, reason: Option<&str>| StepReply {
            order_id: order_id.clone(),
            saga_id,
            reason: reason.map(str::to_owned),
        };
        let event = match command {
            Event::ProcessPayment(cmd) if self.payment_failures.contains(&cmd.order_id) => {
                Event::PaymentFailed(reply(
                    &cmd.order_id,
                    cmd.saga_id.clone(),
                    Some("payment declined (simulated)"),
                ))
            }
            Event::ProcessPayment(cmd) => {
                Event::PaymentProcessed(reply(&cmd.order_id, cmd.saga_id.clone(), None))
            }
            Event::RefundPayment(cmd) => {
                Event::PaymentRefunded(reply(&cmd.order_id, cmd.saga_id.clone(), None))
            }
            Event::ShipOrder(cmd) if self.shipping_failures.contains(&cmd.order_id) => {
                Event::ShippingFailed(reply(
                    &cmd.order_id,
                    cmd.saga_id.clone(),
                    Some("carrier unavailable (simulated)"),
                ))
            }
            Event::ShipOrder(cmd) => {
                Event::OrderShipped(reply(&cmd.order_id, cmd.saga_id.clone(), None))
            }
            _ => return None,
        };
        let id = EventId::derived(&["participant-simulator", "reply", &dedup_key.to_string()]);
        Some((id, event))
    }
}

impl Handler for Simulator {
    fn handles(&self, kind: EventKind) -> bool {
        crate::DESCRIPTOR.handles(kind)
    }

    async fn handle(&self, incoming: IncomingEvent) -> Result<Handled, HandlerError> {
        if let Some(order) = incoming
            .event
            .order_id()
            .filter(|order| self.unanswered.contains(*order))
        {
            tracing::info!(
                orderId = %order,
                command = %incoming.event.kind(),
                "simulated participant leaves the command unanswered"
            );
            return Ok(Handled::Skipped {
                reason: "the simulated participant does not answer this order",
            });
        }
        let Some((event_id, reply)) = self.reply_to(&incoming.event, &incoming.dedup_key) else {
            return Ok(Handled::Skipped {
                reason: "not a payment or shipping command",
            });
        };
        let record = OutgoingRecord::new(event_id, Timestamp::now(), &reply).map_err(|e| {
            HandlerError::permanent(format!("reply {} cannot be written: {e}", reply.kind()))
        })?;
        tracing::info!(
            orderId = %reply.partition_key(),
            command = %incoming.event.kind(),
            reply = %reply.kind(),
            "simulated participant replied"
        );
        Ok(Handled::Done { emit: vec![record] })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use order_events::{
        Money, OrderLines, ProcessPayment, RefundPayment, SagaId, ShipOrder, UserId,
    };

    fn order(id: &str) -> OrderId {
        OrderId::parse(id).unwrap()
    }

    fn payment(id: &str) -> Event {
        Event::ProcessPayment(ProcessPayment {
            order_id: order(id),
            saga_id: SagaId::parse(id).unwrap(),
            user_id: UserId::parse("u-1").unwrap(),
            total: "10.00".parse::<Money>().unwrap(),
        })
    }

    fn shipment(id: &str) -> Event {
        Event::ShipOrder(ShipOrder {
            order_id: order(id),
            saga_id: SagaId::parse(id).unwrap(),
            user_id: UserId::parse("u-1").unwrap(),
            items: serde_json::from_str::<OrderLines>(r#"[{"productId":"p","quantity":1}]"#)
                .unwrap(),
        })
    }

    fn refund(id: &str) -> Event {
        Event::RefundPayment(RefundPayment {
            order_id: order(id),
            saga_id: SagaId::parse(id).unwrap(),
            total: None,
        })
    }

    fn key(id: &str) -> DedupKey {
        DedupKey::EventId(id.to_owned())
    }

    fn kind_of(sim: &Simulator, command: &Event) -> EventKind {
        sim.reply_to(command, &key("k")).unwrap().1.kind()
    }

    #[test]
    fn succeeds_by_default_and_fails_listed_orders() {
        let sim = Simulator::succeeding();
        assert_eq!(kind_of(&sim, &payment("o-1")), EventKind::PaymentProcessed);
        assert_eq!(kind_of(&sim, &shipment("o-1")), EventKind::OrderShipped);
        assert_eq!(kind_of(&sim, &refund("o-1")), EventKind::PaymentRefunded);

        let sim = Simulator::new([order("o-pay")], [order("o-ship")]);
        assert_eq!(kind_of(&sim, &payment("o-pay")), EventKind::PaymentFailed);
        assert_eq!(kind_of(&sim, &shipment("o-pay")), EventKind::OrderShipped);
        assert_eq!(
            kind_of(&sim, &payment("o-ship")),
            EventKind::PaymentProcessed
        );
        assert_eq!(
            kind_of(&sim, &shipment("o-ship")),
            EventKind::ShippingFailed
        );
        // A refund always succeeds, even of a payment that failed.
        assert_eq!(kind_of(&sim, &refund("o-pay")), EventKind::PaymentRefunded);
    }

    #[test]
    fn replies_carry_the_saga_and_a_reason_on_failure() {
        let sim = Simulator::new([order("o-pay")], []);
        let (_, reply) = sim.reply_to(&payment("o-pay"), &key("k")).unwrap();
        let Event::PaymentFailed(reply) = reply else {
            panic!("wrong reply {reply:?}")
        };
        assert_eq!(reply.order_id, order("o-pay"));
        assert_eq!(reply.saga_id.as_str(), "o-pay");
        assert!(reply.reason.unwrap().contains("declined"));
    }

    #[test]
    fn reply_ids_follow_the_command_dedup_key() {
        let sim = Simulator::succeeding();
        let (first, _) = sim.reply_to(&payment("o-1"), &key("cmd-1")).unwrap();
        let (again, _) = sim.reply_to(&payment("o-1"), &key("cmd-1")).unwrap();
        let (other, _) = sim.reply_to(&payment("o-1"), &key("cmd-2")).unwrap();
        assert_eq!(first, again);
        assert_ne!(first, other);
    }

    #[test]
    fn unanswered_orders_get_no_reply_to_any_command() {
        let sim =
            Simulator::new([order("o-pay")], []).with_unanswered([order("o-pay"), order("o-down")]);
        for command in [
            payment("o-down"),
            shipment("o-down"),
            refund("o-down"),
            payment("o-pay"),
        ] {
            assert_eq!(sim.reply_to(&command, &key("k")), None, "{command:?}");
        }
        assert_eq!(kind_of(&sim, &payment("o-up")), EventKind::PaymentProcessed);
    }

    #[tokio::test]
    async fn an_unanswered_command_is_acknowledged_and_sends_nothing() {
        let sim = Simulator::succeeding().with_unanswered([order("o-down")]);
        let incoming = |id: &str| stream_core::IncomingEvent {
            event: payment(id),
            dedup_key: key("k"),
            timestamp: None,
            origin: stream_core::RecordOrigin {
                event_source_arn: None,
                event_id: None,
                shard_id: None,
                sequence_number: "1".into(),
                sub_sequence_number: None,
                partition_key: id.to_owned(),
                approximate_arrival_timestamp: None,
            },
            deadline: stream_core::Deadline::in_(std::time::Duration::from_secs(5)),
        };
        let handled = sim.handle(incoming("o-down")).await.unwrap();
        assert!(matches!(handled, Handled::Skipped { .. }), "{handled:?}");
        let handled = sim.handle(incoming("o-up")).await.unwrap();
        assert!(
            matches!(handled, Handled::Done { ref emit } if emit.len() == 1),
            "{handled:?}"
        );
    }

    #[test]
    fn answers_only_payment_and_shipping_commands() {
        let sim = Simulator::succeeding();
        for kind in EventKind::ALL {
            assert_eq!(sim.handles(*kind), HANDLED_KINDS.contains(kind), "{kind}");
        }
        assert!(!sim.handles(EventKind::ReserveInventory));
        assert!(!sim.handles(EventKind::ReleaseInventory));
    }
}
