//! The state of one order's saga, as stored and as the state machine sees
//! it. Nothing here does I/O.

use std::fmt;

use order_events::{EmailAddress, FailureReason, Money, OrderId, OrderLines, SagaId, UserId};

/// The contract's `status` attribute of a saga item.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum SagaStatus {
    Running,
    Compensating,
    Completed,
    Failed,
}

impl SagaStatus {
    pub const ALL: [SagaStatus; 4] = [
        SagaStatus::Running,
        SagaStatus::Compensating,
        SagaStatus::Completed,
        SagaStatus::Failed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            SagaStatus::Running => "RUNNING",
            SagaStatus::Compensating => "COMPENSATING",
            SagaStatus::Completed => "COMPLETED",
            SagaStatus::Failed => "FAILED",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// A saga in a final status never moves again.
    pub fn is_final(self) -> bool {
        matches!(self, SagaStatus::Completed | SagaStatus::Failed)
    }
}

impl fmt::Display for SagaStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A forward step: an action the saga asks a participant for. Named after
/// its command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Step {
    ReserveInventory,
    ProcessPayment,
    ShipOrder,
}

impl Step {
    /// The steps in the order the saga runs them.
    pub const ALL: [Step; 3] = [
        Step::ReserveInventory,
        Step::ProcessPayment,
        Step::ShipOrder,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Step::ReserveInventory => "RESERVE_INVENTORY",
            Step::ProcessPayment => "PROCESS_PAYMENT",
            Step::ShipOrder => "SHIP_ORDER",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|s| s.as_str() == text)
    }

    /// The step after this one; `None` after shipping.
    pub fn next(self) -> Option<Step> {
        match self {
            Step::ReserveInventory => Some(Step::ProcessPayment),
            Step::ProcessPayment => Some(Step::ShipOrder),
            Step::ShipOrder => None,
        }
    }

    /// What undoes this step. A shipment cannot be called back, and it is
    /// the last step, so nothing ever has to undo it.
    pub fn compensation(self) -> Option<Compensation> {
        match self {
            Step::ReserveInventory => Some(Compensation::ReleaseInventory),
            Step::ProcessPayment => Some(Compensation::RefundPayment),
            Step::ShipOrder => None,
        }
    }
}

/// An action that undoes a step. Named after its command.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Compensation {
    RefundPayment,
    ReleaseInventory,
}

impl Compensation {
    pub const ALL: [Compensation; 2] =
        [Compensation::RefundPayment, Compensation::ReleaseInventory];

    pub fn as_str(self) -> &'static str {
        match self {
            Compensation::RefundPayment => "REFUND_PAYMENT",
            Compensation::ReleaseInventory => "RELEASE_INVENTORY",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|c| c.as_str() == text)
    }
}

/// Where a saga is. Each non-final phase waits for exactly one reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Phase {
    /// The command of `awaiting` was sent and its reply is awaited; every
    /// earlier step has succeeded.
    Running {
        awaiting: Step,
    },
    /// The compensations still owed, in the order they are sent (newest
    /// step first). The first one was sent and its reply is awaited; the
    /// others follow one at a time. Never empty.
    Compensating {
        pending: Vec<Compensation>,
    },
    Completed,
    Failed,
}

impl Phase {
    pub fn status(&self) -> SagaStatus {
        match self {
            Phase::Running { .. } => SagaStatus::Running,
            Phase::Compensating { .. } => SagaStatus::Compensating,
            Phase::Completed => SagaStatus::Completed,
            Phase::Failed => SagaStatus::Failed,
        }
    }

    /// The command whose reply the saga waits for, as stored in `step`;
    /// the status itself for a saga that has ended.
    pub fn step_name(&self) -> &'static str {
        match self {
            Phase::Running { awaiting } => awaiting.as_str(),
            Phase::Compensating { pending } => pending.first().map_or("NONE", |c| c.as_str()),
            Phase::Completed => SagaStatus::Completed.as_str(),
            Phase::Failed => SagaStatus::Failed.as_str(),
        }
    }
}

/// What the saga keeps of the order to write its later commands and its
/// outcome event.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OrderInfo {
    pub user_id: UserId,
    /// So ORDER_COMPLETED and ORDER_FAILED can be addressed by the email
    /// function. Its `Debug` is masked.
    pub email: Option<EmailAddress>,
    pub items: OrderLines,
    pub total: Money,
}

/// One order's saga. There is one saga per order, keyed by the order id,
/// and its saga id is the order id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Saga {
    pub order_id: OrderId,
    pub saga_id: SagaId,
    /// Starts at 1 and grows by one with every applied event; each write is
    /// conditional on the version read.
    pub version: u64,
    pub phase: Phase,
    /// Forward steps whose success reply arrived, oldest first.
    pub completed: Vec<Step>,
    pub order: OrderInfo,
    /// Why the saga is compensating or failed, as the code ORDER_FAILED
    /// carries.
    pub reason: Option<FailureReason>,
    /// What the participant or producer said about the failure, or what
    /// timed out: kept for people reading the table and the logs, never
    /// sent on. Control characters stripped, at most
    /// [`crate::text::MAX_DETAIL_CHARS`] characters.
    pub detail: Option<String>,
    /// When the awaited reply is overdue, in milliseconds since the Unix
    /// epoch: set whenever a command is sent, `None` once the saga has
    /// ended (and on sagas stored before deadlines existed).
    pub step_deadline: Option<u64>,
    /// How often the first pending compensation was sent again because its
    /// reply was overdue; back to 0 whenever the saga moves on.
    pub resends: u32,
    /// Compensations given up on after their replies stayed overdue through
    /// every re-send: their effect may not be undone, and an operator has
    /// to check them.
    pub unconfirmed: Vec<Compensation>,
    /// Deduplication keys of the events applied, oldest first, with
    /// `deadline:<epoch ms>` for each passed deadline acted on. The last
    /// one is the event whose records the stored outbox holds.
    pub applied: Vec<String>,
}

impl Saga {
    pub fn status(&self) -> SagaStatus {
        self.phase.status()
    }

    /// The deduplication key of the last applied event.
    pub fn last_applied(&self) -> Option<&str> {
        self.applied.last().map(String::as_str)
    }
}
