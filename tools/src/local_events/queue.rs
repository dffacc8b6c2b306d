//! The queues of the local event plumbing, with SQS's delivery semantics: a received message is
//! hidden (not removed) until it is deleted, or made visible again after its visibility timeout or
//! when released, and counts its receives. [`SqsQueue`] is a real SQS queue (moto, `make dev
//! STACK=emulators`); [`MemoryQueue`] the same semantics in process (the embedded stack).

use std::collections::VecDeque;
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
use aws_sdk_sqs::types::{
    ChangeMessageVisibilityBatchRequestEntry, DeleteMessageBatchRequestEntry,
    MessageSystemAttributeName, SendMessageBatchRequestEntry,
};
use tokio::sync::Notify;
use tokio::time::Instant;

use super::{err, BoxError};

/// SQS takes at most 10 entries per batch call (and returns at most 10 per receive).
const BATCH: usize = 10;

/// A message handed to a receiver.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Received {
    /// Settles this receive (delete or release); stale once the message is received again.
    pub receipt: String,
    pub body: String,
    /// How often the message has been received, this time included.
    pub receives: u32,
    /// The X-Ray trace header SQS kept with the message (`AWSTraceHeader`: what EventBridge
    /// passed on from the PutEvents entry), as Lambda would invoke the consumer under it.
    pub trace_header: Option<String>,
}

#[async_trait]
pub trait EventQueue: Send + Sync {
    /// Up to `max` (at most 10) visible messages, waiting up to `wait` for the first; each is
    /// hidden for `hide_for`.
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        hide_for: Duration,
    ) -> Result<Vec<Received>, BoxError>;
    /// Stores every body, or fails.
    async fn send(&self, bodies: &[String]) -> Result<(), BoxError>;
    /// Removes received messages for good.
    async fn delete(&self, receipts: &[String]) -> Result<(), BoxError>;
    /// Makes received messages visible again `after` from now (redelivered).
    async fn release(&self, receipts: &[String], after: Duration) -> Result<(), BoxError>;
}

/// An SQS queue (moto locally).
#[derive(Debug, Clone)]
pub struct SqsQueue {
    pub sqs: aws_sdk_sqs::Client,
    pub url: String,
}

fn sqs_err(e: impl std::error::Error + 'static) -> BoxError {
    err(aws_sdk_sqs::error::DisplayErrorContext(e))
}

fn seconds(d: Duration) -> i32 {
    i32::try_from(d.as_secs()).unwrap_or(i32::MAX)
}

#[async_trait]
impl EventQueue for SqsQueue {
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        hide_for: Duration,
    ) -> Result<Vec<Received>, BoxError> {
        let out = self
            .sqs
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(i32::try_from(max.clamp(1, BATCH)).unwrap_or(1))
            .wait_time_seconds(seconds(wait))
            .visibility_timeout(seconds(hide_for))
            .message_system_attribute_names(MessageSystemAttributeName::ApproximateReceiveCount)
            .message_system_attribute_names(MessageSystemAttributeName::AwsTraceHeader)
            .send()
            .await
            .map_err(sqs_err)?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .map(|m| Received {
                receives: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::ApproximateReceiveCount))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(1),
                trace_header: m
                    .attributes()
                    .and_then(|a| a.get(&MessageSystemAttributeName::AwsTraceHeader))
                    .cloned(),
                receipt: m.receipt_handle.unwrap_or_default(),
                body: m.body.unwrap_or_default(),
            })
            .collect())
    }

    async fn send(&self, bodies: &[String]) -> Result<(), BoxError> {
        for chunk in bodies.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, body)| {
                    SendMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .message_body(body)
                        .build()
                        .map_err(err)
                })
                .collect::<Result<Vec<_>, _>>()?;
            let out = self
                .sqs
                .send_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_err)?;
            if !out.failed().is_empty() {
                return Err(err(format!("{} messages not stored", out.failed().len())));
            }
        }
        Ok(())
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), BoxError> {
        for chunk in receipts.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .map_err(err)
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.sqs
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_err)?;
        }
        Ok(())
    }

    async fn release(&self, receipts: &[String], after: Duration) -> Result<(), BoxError> {
        for chunk in receipts.chunks(BATCH) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    ChangeMessageVisibilityBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .visibility_timeout(seconds(after))
                        .build()
                        .map_err(err)
                })
                .collect::<Result<Vec<_>, _>>()?;
            self.sqs
                .change_message_visibility_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(sqs_err)?;
        }
        Ok(())
    }
}

struct Stored {
    id: u64,
    body: String,
    receives: u32,
    visible_at: Instant,
}

impl Stored {
    fn receipt(&self) -> String {
        format!("{}.{}", self.id, self.receives)
    }
}

#[derive(Default)]
struct Messages {
    next_id: u64,
    queue: VecDeque<Stored>,
}

/// A queue in this process: SQS's visibility semantics, nothing kept across a restart.
#[derive(Default)]
pub struct MemoryQueue {
    messages: Mutex<Messages>,
    /// Woken when a message is sent or released.
    arrived: Notify,
}

impl MemoryQueue {
    fn lock(&self) -> std::sync::MutexGuard<'_, Messages> {
        self.messages
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Every message held (visible or not), oldest first.
    pub fn bodies(&self) -> Vec<String> {
        self.lock().queue.iter().map(|m| m.body.clone()).collect()
    }

    pub fn len(&self) -> usize {
        self.lock().queue.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Takes what is visible now; else when the next hidden message becomes visible.
    fn take(&self, max: usize, hide_for: Duration) -> (Vec<Received>, Option<Instant>) {
        let now = Instant::now();
        let mut m = self.lock();
        let mut out = Vec::new();
        let mut next_visible: Option<Instant> = None;
        for s in m.queue.iter_mut() {
            if s.visible_at > now {
                next_visible = Some(next_visible.map_or(s.visible_at, |t| t.min(s.visible_at)));
                continue;
            }
            if out.len() == max {
                break;
            }
            s.receives += 1;
            s.visible_at = now + hide_for;
            out.push(Received {
                receipt: s.receipt(),
                body: s.body.clone(),
                receives: s.receives,
                trace_header: None,
            });
        }
        (out, next_visible)
    }
}

#[async_trait]
impl EventQueue for MemoryQueue {
    async fn receive(
        &self,
        max: usize,
        wait: Duration,
        hide_for: Duration,
    ) -> Result<Vec<Received>, BoxError> {
        let deadline = Instant::now() + wait;
        loop {
            // Registered before looking, so a send in between is not missed.
            let arrived = self.arrived.notified();
            let (got, next_visible) = self.take(max.clamp(1, BATCH), hide_for);
            if !got.is_empty() || Instant::now() >= deadline {
                return Ok(got);
            }
            let until = next_visible.map_or(deadline, |t| t.min(deadline));
            tokio::select! {
                () = arrived => {}
                () = tokio::time::sleep_until(until) => {}
            }
        }
    }

    async fn send(&self, bodies: &[String]) -> Result<(), BoxError> {
        {
            let now = Instant::now();
            let mut m = self.lock();
            for body in bodies {
                m.next_id += 1;
                let id = m.next_id;
                m.queue.push_back(Stored {
                    id,
                    body: body.clone(),
                    receives: 0,
                    visible_at: now,
                });
            }
        }
        self.arrived.notify_waiters();
        Ok(())
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), BoxError> {
        self.lock()
            .queue
            .retain(|s| !receipts.contains(&s.receipt()));
        Ok(())
    }

    async fn release(&self, receipts: &[String], after: Duration) -> Result<(), BoxError> {
        {
            let at = Instant::now() + after;
            let mut m = self.lock();
            for s in m
                .queue
                .iter_mut()
                .filter(|s| receipts.contains(&s.receipt()))
            {
                s.visible_at = at;
            }
        }
        self.arrived.notify_waiters();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_WAIT: Duration = Duration::ZERO;
    const HIDE: Duration = Duration::from_secs(30);

    fn bodies(got: &[Received]) -> Vec<&str> {
        got.iter().map(|r| r.body.as_str()).collect()
    }

    #[tokio::test]
    async fn a_received_message_is_hidden_until_deleted_or_released() {
        let q = MemoryQueue::default();
        q.send(&["a".into(), "b".into()]).await.expect("send");
        let first = q.receive(1, NO_WAIT, HIDE).await.expect("receive");
        assert_eq!(bodies(&first), ["a"]);
        assert_eq!(first[0].receives, 1);
        // Hidden: the next receive gets the other one, then nothing.
        let second = q.receive(10, NO_WAIT, HIDE).await.expect("receive");
        assert_eq!(bodies(&second), ["b"]);
        assert!(q
            .receive(10, NO_WAIT, HIDE)
            .await
            .expect("receive")
            .is_empty());

        q.delete(&[second[0].receipt.clone()])
            .await
            .expect("delete");
        q.release(&[first[0].receipt.clone()], Duration::ZERO)
            .await
            .expect("release");
        let again = q.receive(10, NO_WAIT, HIDE).await.expect("receive");
        assert_eq!(
            bodies(&again),
            ["a"],
            "released: redelivered; deleted: gone"
        );
        assert_eq!(again[0].receives, 2);
        // The first receive's receipt is stale now: deleting with it changes nothing.
        q.delete(&[first[0].receipt.clone()]).await.expect("delete");
        assert_eq!(q.len(), 1);
        q.delete(&[again[0].receipt.clone()]).await.expect("delete");
        assert!(q.is_empty());
    }

    #[tokio::test]
    async fn a_message_not_settled_comes_back_after_its_visibility_timeout() {
        let q = MemoryQueue::default();
        q.send(&["a".into()]).await.expect("send");
        let hide_for = Duration::from_millis(300);
        let got = q.receive(10, NO_WAIT, hide_for).await.expect("receive");
        assert_eq!(got.len(), 1);
        // A long poll waits for it to become visible again.
        let started = Instant::now();
        let again = q
            .receive(10, Duration::from_secs(20), HIDE)
            .await
            .expect("receive");
        assert_eq!(bodies(&again), ["a"]);
        assert_eq!(again[0].receives, 2);
        let waited = started.elapsed();
        assert!(
            waited >= Duration::from_millis(250) && waited < Duration::from_secs(5),
            "{waited:?}"
        );
    }

    #[tokio::test]
    async fn a_long_poll_returns_as_soon_as_a_message_is_sent() {
        let q = std::sync::Arc::new(MemoryQueue::default());
        let waiting = tokio::spawn({
            let q = q.clone();
            async move { q.receive(10, Duration::from_secs(20), HIDE).await }
        });
        tokio::time::sleep(Duration::from_millis(50)).await;
        q.send(&["late".into()]).await.expect("send");
        let got = tokio::time::timeout(Duration::from_secs(5), waiting)
            .await
            .expect("woken")
            .expect("join")
            .expect("receive");
        assert_eq!(bodies(&got), ["late"]);
    }
}
