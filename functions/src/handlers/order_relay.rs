//! The outbox relay, on the orders table's stream: publishes `OrderPlaced` to EventBridge; what it
//! cannot publish within its budget ([`RelayBudget::LAMBDA`], below the Lambda's timeout) goes to
//! its dead-letter queue (`RELAY_DLQ_URL`) with its full content.

use std::convert::Infallible;
use std::sync::Arc;

use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use shop_shared::adapters::dynamodb::stream;
use shop_shared::aws::AwsPorts;
use shop_shared::events::relay::{self, ChangeRecord, RelayBudget};
use shop_shared::ports::{DeadLetterStore, EventPublisher};
use shop_shared::wiring::WireError;

/// What the relay runs with.
pub struct RelayPorts {
    pub publisher: Arc<dyn EventPublisher>,
    pub dead_letters: Arc<dyn DeadLetterStore>,
    pub budget: RelayBudget,
}

/// The ports its Lambda is built with.
pub async fn wire(p: &AwsPorts) -> Result<RelayPorts, WireError> {
    Ok(RelayPorts {
        publisher: p.publisher(),
        dead_letters: p.relay_dead_letters()?,
        budget: RelayBudget::LAMBDA,
    })
}

/// Stream records from a Lambda DynamoDB event.
pub fn change_records(event: StreamEvent) -> Vec<ChangeRecord> {
    event
        .records
        .into_iter()
        .map(|r| {
            let image = Some(r.change.new_image).filter(|i| !i.is_empty());
            stream::change_record(
                r.change.sequence_number.unwrap_or_default(),
                &r.event_name,
                image,
            )
        })
        .collect()
}

/// Publishes the batch; what cannot be published (or read) is dead-lettered with its content.
/// Only when the dead-letter store fails too is the first such record reported, so the event
/// source mapping retries from there.
pub async fn handle(
    ctx: &RelayPorts,
    event: StreamEvent,
) -> Result<DynamoDbEventResponse, Infallible> {
    let records = change_records(event);
    let outcome = relay::relay(
        ctx.publisher.as_ref(),
        ctx.dead_letters.as_ref(),
        &records,
        ctx.budget,
    )
    .await;
    tracing::info!(
        records = records.len(),
        published = outcome.published,
        dead_lettered = outcome.dead_lettered,
        "relayed order events"
    );
    let mut response = DynamoDbEventResponse::default();
    if let Some(seq) = outcome.first_failed_sequence {
        tracing::error!(sequence = %seq, "events neither published nor dead-lettered; reporting a batch item failure");
        let mut failure = DynamoDbBatchItemFailure::default();
        failure.item_identifier = Some(seq);
        response.batch_item_failures.push(failure);
    }
    Ok(response)
}
