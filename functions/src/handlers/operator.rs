//! The operator Lambda: redrive, republish and the event audit run on AWS under a role of their
//! own that reaches only the two dead-letter queues, the bus, the orders stream and `placed` index,
//! and the consumer's records; an operator needs nothing but `lambda:InvokeFunction` on it
//! (docs/OPERATIONS.md). It is invoked by hand, never by an event source, and runs one action:
//!
//! `{"action": "redrive-relay" | "redrive-consumer", "dryRun": false}`
//! `{"action": "republish", "from": RFC3339, "to": RFC3339, "dryRun": false, "beyondMemory": false}`
//! `{"action": "audit", "from": RFC3339, "to": RFC3339}`
//!
//! Each run stops starting work after [`RUN_BUDGET`] and says so (`complete: false`, and for a
//! window `resumeFrom`); run it again to go on. `shop-local` runs the same actions locally.

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};
use shop_shared::adapters::dynamodb::Db;
use shop_shared::aws::{sqs_client, AwsPorts};
use shop_shared::clock::Clock;
use shop_shared::ports::{DataPlatform, DeadLetterStore, EventPublisher, StoreError};
use shop_shared::wiring::{Ports, WireError};
use thiserror::Error;

use crate::ops::event_audit::{self, AuditReport, ReadOptions};
use crate::ops::pace::Budget;
use crate::ops::redrive::{self, Queue, RedriveReport};
use crate::ops::republish::{self, RepublishError, RepublishOptions, RepublishReport};
use crate::ops::stream_reader::StreamReader;
use crate::ops::window::{Window, WindowError};

/// Work starts only within this much of a run; the last unit of work (a receive of 10 messages
/// and their delivery, or an index page and its publishing) fits in the rest of the operator's
/// 15-minute timeout (functions/tests/api/infra_events.rs checks the template).
pub const RUN_BUDGET: Duration = Duration::from_secs(12 * 60);

/// One operator action (the invocation's payload).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(
    tag = "action",
    rename_all = "kebab-case",
    rename_all_fields = "camelCase",
    deny_unknown_fields
)]
pub enum Action {
    RedriveRelay {
        #[serde(default)]
        dry_run: bool,
    },
    RedriveConsumer {
        #[serde(default)]
        dry_run: bool,
    },
    Republish {
        from: String,
        to: String,
        #[serde(default)]
        dry_run: bool,
        /// Accept duplicates for orders older than the consumer remembers.
        #[serde(default)]
        beyond_memory: bool,
        /// Index pages a second (default 5).
        pages_per_second: Option<u32>,
    },
    Audit {
        from: String,
        to: String,
        pages_per_second: Option<u32>,
    },
}

/// What the action did.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Outcome {
    Redrive(RedriveReport),
    Republish(RepublishReport),
    Audit(AuditReport),
}

#[derive(Debug, Error)]
pub enum OperatorError {
    #[error(transparent)]
    Window(#[from] WindowError),
    #[error(transparent)]
    Republish(#[from] RepublishError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("queue: {0}")]
    Queue(String),
    #[error("{0} is not set")]
    NotSet(&'static str),
}

/// What the operator runs with.
pub struct OperatorPorts {
    pub db: Arc<Db>,
    pub sqs: aws_sdk_sqs::Client,
    pub streams: aws_sdk_dynamodbstreams::Client,
    pub publisher: Arc<dyn EventPublisher>,
    pub relay_dead_letters: Arc<dyn DeadLetterStore>,
    pub relay_dlq_url: String,
    pub consumer_dlq_url: String,
    /// For the consumer's redrive (`DATA_PLATFORM_URL`; the other actions run without it).
    pub platform: Option<Arc<dyn DataPlatform>>,
    pub clock: Arc<dyn Clock>,
    /// How long a run starts work ([`RUN_BUDGET`] on AWS).
    pub budget: Option<Duration>,
}

fn setting(name: &'static str) -> Result<String, WireError> {
    std::env::var(name)
        .ok()
        .filter(|v| !v.is_empty())
        .ok_or(WireError::MissingSetting(name))
}

/// The ports its Lambda is built with (`RELAY_DLQ_URL`, `CONSUMER_DLQ_URL`, `DATA_PLATFORM_URL`).
pub async fn wire(p: &AwsPorts) -> Result<OperatorPorts, WireError> {
    let mut ports = over(p, setting("RELAY_DLQ_URL")?, setting("CONSUMER_DLQ_URL")?)?;
    ports.budget = Some(RUN_BUDGET);
    Ok(ports)
}

/// Over explicit queue URLs (the local tools find the local queues by name), without a budget.
pub fn over(
    p: &AwsPorts,
    relay_dlq_url: String,
    consumer_dlq_url: String,
) -> Result<OperatorPorts, WireError> {
    let config = p.config();
    let mut streams = aws_sdk_dynamodbstreams::config::Builder::from(p.sdk())
        .interceptor(shop_shared::xray::XrayInterceptor::from_env());
    if let Some(e) = &config.dynamodb_endpoint {
        streams = streams.endpoint_url(e);
    }
    let sqs = sqs_client(p.sdk(), config);
    Ok(OperatorPorts {
        db: p.db(),
        relay_dead_letters: Arc::new(shop_shared::adapters::sqs::SqsDeadLetters::new(
            sqs.clone(),
            relay_dlq_url.clone(),
        )),
        sqs,
        streams: aws_sdk_dynamodbstreams::Client::from_conf(streams.build()),
        publisher: p.publisher(),
        relay_dlq_url,
        consumer_dlq_url,
        platform: match p.data_platform() {
            Ok(platform) => Some(platform),
            Err(WireError::MissingSetting(_)) => None,
            Err(e) => return Err(e),
        },
        clock: p.env().clock,
        budget: None,
    })
}

fn read_options(ctx: &OperatorPorts, pages_per_second: Option<u32>) -> ReadOptions {
    ReadOptions {
        pages_per_second: pages_per_second.unwrap_or(ReadOptions::default().pages_per_second),
        budget: budget(ctx),
        ..ReadOptions::default()
    }
}

fn budget(ctx: &OperatorPorts) -> Budget {
    ctx.budget.map_or_else(Budget::unlimited, Budget::of)
}

pub async fn handle(ctx: &OperatorPorts, action: Action) -> Result<Outcome, OperatorError> {
    tracing::info!(?action, "operator action");
    let queue_error = |e: crate::ops::BoxError| OperatorError::Queue(e.to_string());
    let outcome = match action {
        Action::RedriveRelay { dry_run } => {
            let queue = Queue {
                sqs: &ctx.sqs,
                url: &ctx.relay_dlq_url,
            };
            let reader = StreamReader {
                streams: &ctx.streams,
            };
            Outcome::Redrive(
                redrive::redrive_relay(
                    &queue,
                    ctx.publisher.as_ref(),
                    ctx.relay_dead_letters.as_ref(),
                    Some(&reader),
                    dry_run,
                    budget(ctx),
                )
                .await
                .map_err(queue_error)?,
            )
        }
        Action::RedriveConsumer { dry_run } => {
            let platform = ctx
                .platform
                .as_ref()
                .ok_or(OperatorError::NotSet("DATA_PLATFORM_URL"))?;
            let queue = Queue {
                sqs: &ctx.sqs,
                url: &ctx.consumer_dlq_url,
            };
            Outcome::Redrive(
                redrive::redrive_consumer(
                    &queue,
                    ctx.db.as_ref(),
                    platform.as_ref(),
                    ctx.clock.as_ref(),
                    dry_run,
                    budget(ctx),
                )
                .await
                .map_err(queue_error)?,
            )
        }
        Action::Republish {
            from,
            to,
            dry_run,
            beyond_memory,
            pages_per_second,
        } => {
            let window = Window::parse(&from, &to)?;
            let options = RepublishOptions {
                dry_run,
                beyond_memory,
                read: read_options(ctx, pages_per_second),
            };
            Outcome::Republish(
                republish::republish(
                    &ctx.db,
                    ctx.publisher.as_ref(),
                    &window,
                    ctx.clock.now(),
                    options,
                )
                .await?,
            )
        }
        Action::Audit {
            from,
            to,
            pages_per_second,
        } => {
            let window = Window::parse(&from, &to)?;
            Outcome::Audit(
                event_audit::missing_events(
                    &ctx.db,
                    &window,
                    ctx.clock.now(),
                    read_options(ctx, pages_per_second),
                )
                .await?,
            )
        }
    };
    tracing::info!(outcome = %serde_json::to_string(&outcome).unwrap_or_default(), "operator report");
    Ok(outcome)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn actions_read_as_documented() {
        let read = |v: serde_json::Value| serde_json::from_value::<Action>(v);
        assert_eq!(
            read(serde_json::json!({"action": "redrive-relay"})).expect("action"),
            Action::RedriveRelay { dry_run: false }
        );
        assert_eq!(
            read(
                serde_json::json!({"action": "republish", "from": "a", "to": "b", "dryRun": true})
            )
            .expect("action"),
            Action::Republish {
                from: "a".into(),
                to: "b".into(),
                dry_run: true,
                beyond_memory: false,
                pages_per_second: None
            }
        );
        assert!(read(serde_json::json!({"action": "drop-table"})).is_err());
        assert!(
            read(serde_json::json!({"action": "audit", "from": "a", "to": "b", "x": 1})).is_err()
        );
    }
}
