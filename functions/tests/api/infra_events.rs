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
