//! Fault injection at the SDK's HTTP boundary, for the integration tests against DynamoDB Local
//! and moto: the faults the emulators never produce on their own (a request that fails before
//! it is applied, an answer lost after it was, a process that dies before or after a call, a
//! `TransactionConflict`, a PutEvents partial failure).
//!
//! The faults are the in-memory fault plan's ([`Fault`], `shop_shared::fault`), and so is the
//! plan's shape: [`SdkFaultPlan`] gives a fault to calls by their position among all calls of the
//! client since the plan was set ([`SdkFaultPlan::set`]) or by their operation
//! ([`SdkFaultPlan::set_named`]), keeps a trace, and knows when the "process" died. At this
//! boundary a fault that does not apply the call neuters the request (the server applies
//! nothing), and the caller gets the fault's usual answer instead of the server's (a throttling
//! error for [`Fault::Throttle`], a 500 for the others) or the one a rule names
//! ([`SdkFaultPlan::set_named_answering`]). A crash is seen by the test ([`SdkFaultPlan::crashed`]),
//! which throws away whatever the handler answered; from then on no call reaches the server.
//! A hanging call ([`Fault::Hang`], [`Fault::HangApplied`]) is sent to a local endpoint that never
//! answers (after passing the request on to the server, for the latter).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::Value;
pub use shop_shared::fault::Fault;

pub use crate::sdk_boundary::{dynamodb_with, eventbridge_with};

mod hanging;
use crate::sdk_boundary::{Answer, Boundary, Request};

/// Builds the answer the caller gets from the original request body: `(status, JSON body)`.
pub type Responder = fn(&Value) -> (u16, String);

#[derive(Debug, Clone, Copy)]
struct Rule {
    fault: Fault,
    respond: Responder,
}

impl Rule {
    fn new(fault: Fault, respond: Responder) -> Self {
        assert!(
            !matches!(fault, Fault::Delayed(_)),
            "requests are not held at the SDK boundary to land later: functions/tests/api/stall.rs freezes DynamoDB Local"
        );
        Self { fault, respond }
    }

    /// The fault with its usual answer.
    fn usual(fault: Fault) -> Self {
        let respond = match fault {
            Fault::Throttle => throttled,
            _ => internal_server_error,
        };
        Self::new(fault, respond)
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Calls `from .. from + count` get the rule.
    positional: Mutex<Option<(usize, usize, Rule)>>,
    /// The next `count` calls of the operation get the rule.
    named: Mutex<Vec<(&'static str, usize, Rule)>>,
    calls: AtomicUsize,
    crashed: AtomicBool,
    trace: Mutex<Vec<String>>,
}

/// Which calls of a client get which [`Fault`]. Clones share the plan: install one
/// ([`dynamodb_with`], [`eventbridge_with`]) and drive another.
#[derive(Debug, Clone, Default)]
pub struct SdkFaultPlan {
    inner: Arc<Inner>,
}

impl SdkFaultPlan {
    /// From now on, calls `from .. from + count` (counting from 0 now) get `fault`.
    pub fn set(&self, from: usize, count: usize, fault: Fault) {
        let rule = Rule::usual(fault);
        self.inner.calls.store(0, Ordering::SeqCst);
        self.inner.crashed.store(false, Ordering::SeqCst);
        self.inner.trace.lock().expect("trace").clear();
        *self.inner.positional.lock().expect("rules") = Some((from, count, rule));
    }

    /// From now on, the next `count` calls of `op` (e.g. `TransactWriteItems`) get `fault`.
    pub fn set_named(&self, op: &'static str, count: usize, fault: Fault) {
        self.add_named(op, count, Rule::usual(fault));
    }

    /// [`SdkFaultPlan::set_named`], the caller hearing `respond`'s answer instead of the usual one
    /// (e.g. a [`transaction_conflict`] for a request that [`Fault::FailBefore`] kept from
    /// DynamoDB).
    pub fn set_named_answering(
        &self,
        op: &'static str,
        count: usize,
        fault: Fault,
        respond: Responder,
    ) {
        self.add_named(op, count, Rule::new(fault, respond));
    }

    fn add_named(&self, op: &'static str, count: usize, rule: Rule) {
        self.inner
            .named
            .lock()
            .expect("rules")
            .push((op, count, rule));
    }

    /// No more faults (and the "process" lives again).
    pub fn clear(&self) {
        *self.inner.positional.lock().expect("rules") = None;
        self.inner.named.lock().expect("rules").clear();
        self.inner.crashed.store(false, Ordering::SeqCst);
        self.inner.calls.store(0, Ordering::SeqCst);
        self.inner.trace.lock().expect("trace").clear();
    }

    /// Whether the "process" died: its answer means nothing.
    pub fn crashed(&self) -> bool {
        self.inner.crashed.load(Ordering::SeqCst)
    }

    /// The operations called (every attempt) since the plan was set or cleared.
    pub fn trace(&self) -> Vec<String> {
        self.inner.trace.lock().expect("trace").clone()
    }

    /// How many attempts of `op` were made (faulted or not) since the plan was set or cleared.
    pub fn seen(&self, op: &str) -> usize {
        self.inner
            .trace
            .lock()
            .expect("trace")
            .iter()
            .filter(|o| *o == op)
            .count()
    }

    fn next(&self, op: &str) -> Option<Rule> {
        let i = self.inner.calls.fetch_add(1, Ordering::SeqCst);
        self.inner.trace.lock().expect("trace").push(op.to_owned());
        if self.crashed() {
            return Some(Rule::usual(Fault::CrashBefore));
        }
        {
            let mut named = self.inner.named.lock().expect("rules");
            if let Some(rule) = named.iter_mut().find(|(n, c, _)| *n == op && *c > 0) {
                rule.1 -= 1;
                return Some(rule.2);
            }
        }
        self.inner
            .positional
            .lock()
            .expect("rules")
            .filter(|(from, count, _)| i >= *from && i < from.saturating_add(*count))
            .map(|(_, _, rule)| rule)
    }
}

impl Boundary for SdkFaultPlan {
    fn on_send(&self, request: &mut Request<'_>) -> Option<Answer> {
        let Rule { fault, respond } = self.next(request.op())?;
        match fault {
            Fault::Hang => {
                request.redirect(&hanging::never_answers());
                return None;
            }
            Fault::HangApplied => {
                let target = request.redirect(&hanging::applies_and_never_answers());
                request.set_header(hanging::FORWARD_TO, target);
                return None;
            }
            _ => {}
        }
        let original = request.json().unwrap_or(Value::Null);
        if fault.kills() {
            self.inner.crashed.store(true, Ordering::SeqCst);
        }
        if !fault.applies() {
            request.neuter();
        }
        let (status, body) = respond(&original);
        Some(Answer { status, body })
    }
}

/// `TransactionCanceledException` with a `TransactionConflict` on the first action.
pub fn transaction_conflict(request: &Value) -> (u16, String) {
    let n = request["TransactItems"]
        .as_array()
        .map_or(1, Vec::len)
        .max(1);
    let reasons: Vec<Value> = (0..n)
        .map(|i| {
            if i == 0 {
                serde_json::json!({"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"})
            } else {
                serde_json::json!({"Code": "None"})
            }
        })
        .collect();
    let body = serde_json::json!({
        "__type": "com.amazonaws.dynamodb.v20120810#TransactionCanceledException",
        "message": "Transaction cancelled, please refer cancellation reasons for specific reasons [TransactionConflict]",
        "CancellationReasons": reasons,
    });
    (400, body.to_string())
}

/// A 500: the caller cannot tell whether the server applied the request.
pub fn internal_server_error(_request: &Value) -> (u16, String) {
    (
        500,
        serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#InternalServerError", "message": "injected"})
            .to_string(),
    )
}

/// A throttling error: the server applied nothing.
pub fn throttled(_request: &Value) -> (u16, String) {
    (
        400,
        serde_json::json!({"__type": "com.amazonaws.dynamodb.v20120810#ProvisionedThroughputExceededException", "message": "injected"})
            .to_string(),
    )
}

/// PutEvents answer in which every entry failed.
pub fn put_events_all_failed(request: &Value) -> (u16, String) {
    let n = request["Entries"].as_array().map_or(1, Vec::len).max(1);
    let entries: Vec<Value> = (0..n)
        .map(|_| serde_json::json!({"ErrorCode": "InternalFailure", "ErrorMessage": "injected"}))
        .collect();
    (
        200,
        serde_json::json!({"FailedEntryCount": n, "Entries": entries}).to_string(),
    )
}

#[cfg(test)]
mod tests {
    use aws_smithy_runtime_api::client::orchestrator::HttpRequest;
    use aws_smithy_types::body::SdkBody;
    use serde_json::json;

    use super::*;

    /// One call of `op` with `body` through the plan: (the body that leaves, the answer).
    fn send(plan: &SdkFaultPlan, op: &str, body: &Value) -> (String, Option<Answer>) {
        let mut http = HttpRequest::new(SdkBody::from(body.to_string()));
        let answer = plan.on_send(&mut Request::new(op, &mut http));
        let sent = String::from_utf8(http.body().bytes().expect("bytes").to_vec()).expect("utf-8");
        (sent, answer)
    }

    fn status(answer: Option<Answer>) -> Option<u16> {
        answer.map(|a| a.status)
    }

    #[test]
    fn a_positional_fault_hits_only_its_calls() {
        let plan = SdkFaultPlan::default();
        let body = json!({"TableName": "t"});
        plan.set(1, 1, Fault::FailBefore);
        assert_eq!(send(&plan, "GetItem", &body), (body.to_string(), None));
        let (sent, answer) = send(&plan, "PutItem", &body);
        assert_eq!((sent.as_str(), status(answer)), ("{}", Some(500)));
        assert_eq!(send(&plan, "GetItem", &body), (body.to_string(), None));
        assert_eq!(plan.trace(), ["GetItem", "PutItem", "GetItem"]);
        assert!(!plan.crashed());
    }

    #[test]
    fn a_lost_answer_reaches_the_server() {
        let plan = SdkFaultPlan::default();
        let body = json!({"TableName": "t"});
        plan.set(0, 1, Fault::LoseAnswer);
        let (sent, answer) = send(&plan, "PutItem", &body);
        assert_eq!((sent, status(answer)), (body.to_string(), Some(500)));
    }

    #[test]
    fn after_a_crash_nothing_reaches_the_server_until_cleared() {
        let plan = SdkFaultPlan::default();
        let body = json!({"TableName": "t"});
        plan.set(0, 1, Fault::CrashAfter);
        let (sent, answer) = send(&plan, "PutItem", &body);
        assert_eq!((sent, status(answer)), (body.to_string(), Some(500)));
        assert!(plan.crashed());
        let (sent, answer) = send(&plan, "GetItem", &body);
        assert_eq!((sent.as_str(), status(answer)), ("{}", Some(500)));
        plan.clear();
        assert!(!plan.crashed());
        assert_eq!(send(&plan, "GetItem", &body), (body.to_string(), None));
    }

    #[test]
    fn a_throttled_call_is_refused_and_not_sent() {
        let plan = SdkFaultPlan::default();
        plan.set(0, 1, Fault::Throttle);
        let (sent, answer) = send(&plan, "GetItem", &json!({"TableName": "t"}));
        let answer = answer.expect("answer");
        assert_eq!((sent.as_str(), answer.status), ("{}", 400));
        assert!(answer
            .body
            .contains("ProvisionedThroughputExceededException"));
    }

    #[test]
    fn a_named_fault_counts_down_on_its_operation_only() {
        let plan = SdkFaultPlan::default();
        plan.set_named_answering(
            "TransactWriteItems",
            1,
            Fault::FailBefore,
            transaction_conflict,
        );
        let write = json!({"TransactItems": [{}, {}]});
        assert_eq!(send(&plan, "GetItem", &write).1, None);
        let (sent, answer) = send(&plan, "TransactWriteItems", &write);
        let answer = answer.expect("answer");
        assert_eq!((sent.as_str(), answer.status), ("{}", 400));
        let reasons: Value = serde_json::from_str(&answer.body).expect("json");
        assert_eq!(
            reasons["CancellationReasons"],
            json!([{"Code": "TransactionConflict", "Message": "Transaction is ongoing for the item"}, {"Code": "None"}])
        );
        assert_eq!(send(&plan, "TransactWriteItems", &write).1, None);
        assert_eq!(plan.seen("TransactWriteItems"), 2);
    }

    #[test]
    #[should_panic(expected = "not held at the SDK boundary")]
    fn requests_are_not_held_at_the_sdk_boundary() {
        SdkFaultPlan::default().set(0, 1, Fault::Delayed(1));
    }
}
