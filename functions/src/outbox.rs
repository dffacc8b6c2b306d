//! The event Lambdas' handlers: the stream relay and the data-platform consumer.

use aws_lambda_events::dynamodb::Event as StreamEvent;
use aws_lambda_events::eventbridge::EventBridgeEvent;
use aws_lambda_events::streams::{DynamoDbBatchItemFailure, DynamoDbEventResponse};
use shop_shared::clock::Clock;
use shop_shared::events::consumer::{self, ConsumeError, Consumed, DataPlatform};
use shop_shared::events::publisher::EventPublisher;
use shop_shared::events::relay::{self, ChangeRecord, DeadLetterStore};
use shop_shared::events::OrderPlaced;
use shop_shared::ports::IdempotencyStore;

/// Stream records from a Lambda DynamoDB event.
pub fn change_records(event: StreamEvent) -> Vec<ChangeRecord> {
    event
        .records
        .into_iter()
        .map(|r| ChangeRecord {
            sequence_number: r.change.sequence_number.unwrap_or_default(),
            event_name: r.event_name,
            new_image: Some(r.change.new_image).filter(|i| !i.is_empty()),
        })
        .collect()
}

/// Publishes the batch; what cannot be published (or read) is dead-lettered with its content.
/// Only when the dead-letter store fails too is the first such record reported, so the event
/// source mapping retries from there.
pub async fn relay_handler(
    publisher: &dyn EventPublisher,
    dead_letters: &dyn DeadLetterStore,
    event: StreamEvent,
) -> DynamoDbEventResponse {
    let records = change_records(event);
    let outcome = relay::relay(publisher, dead_letters, &records).await;
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
    response
}

/// Forwards one `OrderPlaced` (once per `eventId`). An error fails the invocation: retried,
/// then dead-lettered.
pub async fn consumer_handler(
    idempotency: &dyn IdempotencyStore,
    platform: &dyn DataPlatform,
    clock: &dyn Clock,
    event: EventBridgeEvent<OrderPlaced>,
) -> Result<Consumed, ConsumeError> {
    let outcome = consumer::consume(idempotency, platform, clock, &event.detail).await?;
    tracing::info!(event_id = %event.detail.event_id, ?outcome, "order event consumed");
    Ok(outcome)
}
