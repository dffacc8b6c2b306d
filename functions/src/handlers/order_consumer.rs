//! The consumer, on the `OrderPlaced` EventBridge rule: forwards each order to the data platform
//! once per `eventId`. An error fails the invocation: retried, then dead-lettered. Its log line
//! names the order's X-Ray trace (`order_trace_id`), the trace of the request that placed it.

use std::sync::Arc;

use aws_lambda_events::eventbridge::EventBridgeEvent;
use shop_shared::aws::AwsPorts;
use shop_shared::clock::Clock;
use shop_shared::events::consumer::{self, ConsumeError, Consumed};
use shop_shared::events::OrderPlaced;
use shop_shared::ports::{DataPlatform, IdempotencyStore};
use shop_shared::wiring::{Ports, WireError};

/// What the consumer runs with: the de-duplication records and the data platform.
pub struct ConsumerPorts {
    pub clock: Arc<dyn Clock>,
    pub idempotency: Arc<dyn IdempotencyStore>,
    pub platform: Arc<dyn DataPlatform>,
}

/// The ports its Lambda is built with.
pub async fn wire(p: &AwsPorts) -> Result<ConsumerPorts, WireError> {
    Ok(ConsumerPorts {
        clock: p.env().clock,
        idempotency: p.idempotency(),
        platform: p.data_platform()?,
    })
}

pub async fn handle(
    ctx: &ConsumerPorts,
    event: EventBridgeEvent<OrderPlaced>,
) -> Result<Consumed, ConsumeError> {
    let outcome = consumer::consume(
        ctx.idempotency.as_ref(),
        ctx.platform.as_ref(),
        ctx.clock.as_ref(),
        &event.detail,
    )
    .await?;
    // The trace this invocation runs in is the order's: the relay put the order request's trace
    // header on the event, and EventBridge invokes the consumer in it.
    let order_trace_id = shop_shared::xray::current().map(|t| t.root);
    tracing::info!(event_id = %event.detail.event_id, ?outcome, order_trace_id, "order event consumed");
    Ok(outcome)
}
