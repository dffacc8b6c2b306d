//! `infra/template.yaml` against the event path's promises (issue 20): how long copies of an event
//! can arrive against how long the consumer remembers it. No local stack needed.

use crate::helpers::template::template;
use shop_shared::events::consumer::REDRIVE_HORIZON_SECONDS;

fn seconds(v: &serde_yaml_ng::Value, what: &str) -> i64 {
    v.as_i64()
        .unwrap_or_else(|| panic!("{what} is not a number of seconds: {v:?}"))
}

/// A copy of an event can arrive as late as a dead-letter queue keeps it, after as long as the event
/// may wait before landing there (the stream records' and the rule's maximum age). The consumer
/// remembers forwarded event ids longer than that horizon (a compile-time check in the consumer), so a
/// late redrive reaches the data platform once.
#[test]
fn the_consumer_remembers_events_longer_than_anything_can_be_redriven() {
    let doc = template();
    let r = &doc["Resources"];
    let relay_source =
        &r["OrderRelayFunction"]["Properties"]["Events"]["OrdersStream"]["Properties"];
    let rule = &r["OrderConsumerFunction"]["Properties"]["Events"]["OrderPlaced"]["Properties"];
    let waits_before_dead_letter = seconds(
        &relay_source["MaximumRecordAgeInSeconds"],
        "the stream's MaximumRecordAgeInSeconds",
    )
    .max(seconds(
        &rule["RetryPolicy"]["MaximumEventAgeInSeconds"],
        "the rule's MaximumEventAgeInSeconds",
    ));
    for queue in ["RelayDeadLetterQueue", "ConsumerDeadLetterQueue"] {
        let kept = seconds(
            &r[queue]["Properties"]["MessageRetentionPeriod"],
            &format!("{queue}'s MessageRetentionPeriod"),
        );
        assert!(
            kept + waits_before_dead_letter <= REDRIVE_HORIZON_SECONDS,
            "{queue}: {kept} s kept + {waits_before_dead_letter} s before it is beyond the redrive horizon"
        );
    }
}

/// Item 5: the operator Lambda is invoked by hand only, one run at a time, with a timeout that
/// covers its run budget and the last unit of work, and a role that reaches exactly the queues,
/// the bus and the stream its actions use (its DynamoDB actions are checked against what the code
/// does in iam.rs). No wildcard resource, nothing beyond these actions.
#[test]
fn the_operator_lambda_runs_by_hand_with_a_least_privilege_role() {
    use crate::helpers::template::{as_list, statements, tagged};
    use shop_functions::handlers::operator::RUN_BUDGET;
    let doc = template();
    let f = &doc["Resources"]["OperatorFunction"];
    let props = &f["Properties"];
    assert!(
        props.get("Events").is_none(),
        "invoked by hand, never by an event source"
    );
    assert_eq!(props["ReservedConcurrentExecutions"].as_u64(), Some(1));
    let timeout = props["Timeout"].as_u64().expect("Timeout");
    assert!(
        RUN_BUDGET.as_secs() + 120 <= timeout && timeout <= 900,
        "{timeout} s must cover the {RUN_BUDGET:?} budget and 2 minutes of last work"
    );
    let mut granted = std::collections::BTreeSet::new();
    let mut on_stream = std::collections::BTreeSet::new();
    for s in statements(f) {
        assert_eq!(s["Effect"].as_str(), Some("Allow"));
        for r in as_list(&s["Resource"]) {
            let (_, v) = tagged(r).unwrap_or_else(|| panic!("a literal resource: {r:?}"));
            let text = v
                .as_str()
                .map(str::to_owned)
                .unwrap_or_else(|| format!("{v:?}"));
            assert!(!text.contains('*'), "a wildcard resource: {text}");
            for a in as_list(&s["Action"]) {
                let a = a.as_str().expect("action");
                if text.contains("StreamArn") {
                    on_stream.insert(a.to_owned());
                } else if !a.starts_with("dynamodb:") {
                    granted.insert(format!("{a} on {}", text.trim_end_matches(".Arn")));
                }
            }
        }
    }
    let expected: std::collections::BTreeSet<String> = [
        "events:PutEvents on EventBus",
        "sqs:ChangeMessageVisibility on RelayDeadLetterQueue",
        "sqs:DeleteMessage on RelayDeadLetterQueue",
        "sqs:GetQueueAttributes on RelayDeadLetterQueue",
        "sqs:ReceiveMessage on RelayDeadLetterQueue",
        "sqs:SendMessage on RelayDeadLetterQueue",
        "sqs:ChangeMessageVisibility on ConsumerDeadLetterQueue",
        "sqs:DeleteMessage on ConsumerDeadLetterQueue",
        "sqs:GetQueueAttributes on ConsumerDeadLetterQueue",
        "sqs:ReceiveMessage on ConsumerDeadLetterQueue",
    ]
    .into_iter()
    .map(str::to_owned)
    .collect();
    assert_eq!(granted, expected);
    // Only the stream reads a pointer redrive needs.
    assert_eq!(
        on_stream,
        ["dynamodb:GetRecords", "dynamodb:GetShardIterator"]
            .into_iter()
            .map(str::to_owned)
            .collect()
    );
}
