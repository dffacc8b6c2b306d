//! The orders table's stream, read as the outbox: a stream record (its sequence number, event
//! name and new image, as Lambda's event or DynamoDB Streams hand it) decoded into what the relay
//! needs ([`ChangeRecord`]).

use serde_json::Value;

use super::orders::{is_stream_fence, OrderRecord};
use crate::events::relay::{ChangeRecord, Parsed};
use crate::events::OrderPlaced;

/// Decodes one stream record: `event_name` is `INSERT`, `MODIFY` or `REMOVE`.
pub fn change_record(
    sequence_number: String,
    event_name: &str,
    new_image: Option<serde_dynamo::Item>,
) -> ChangeRecord {
    ChangeRecord {
        content: parse(event_name, new_image),
        sequence_number,
    }
}

fn parse(event_name: &str, new_image: Option<serde_dynamo::Item>) -> Parsed {
    if event_name != "INSERT" {
        return Parsed::Skip;
    }
    let Some(image) = new_image else {
        return Parsed::Unreadable {
            reason: "an INSERT without a new image".into(),
            image: Value::Null,
        };
    };
    // A fence (the tombstone of an order id that was never used) is not an order.
    if is_stream_fence(&image) {
        return Parsed::Skip;
    }
    let raw = serde_json::to_value(&image).unwrap_or(Value::Null);
    match serde_dynamo::from_item::<_, OrderRecord>(image) {
        Ok(r) => Parsed::Event(OrderPlaced {
            event_id: r.event_id,
            order: r.order,
            trace_header: r.trace_header,
        }),
        Err(e) => Parsed::Unreadable {
            reason: format!("not an order: {e}"),
            image: raw,
        },
    }
}

/// The stream image of a one-line order (tests of the relay and of this decoder).
#[cfg(test)]
pub(crate) fn order_image(order_id: &str) -> serde_dynamo::Item {
    use crate::domain::order::{build_order, PricedLine};
    let line = PricedLine {
        product_id: "prd_1".into(),
        name: "n".into(),
        unit_price: 10,
        quantity: 1,
    };
    let order = build_order(
        &order_id.into(),
        &"usr_1".into(),
        &[line],
        "2026-11-24T00:00:00Z",
    )
    .expect("order");
    serde_dynamo::to_item(OrderRecord::new(order, "h".into())).expect("item")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fences_updates_and_removals_are_skipped() {
        let mut fence = serde_dynamo::Item::default();
        fence.insert("fenced".into(), serde_dynamo::AttributeValue::Bool(true));
        assert_eq!(
            change_record("1".into(), "INSERT", Some(fence)).content,
            Parsed::Skip
        );
        let removal = change_record("2".into(), "REMOVE", Some(order_image("ord_x")));
        assert_eq!(removal.content, Parsed::Skip);
        let mut garbage = serde_dynamo::Item::default();
        garbage.insert(
            "pk".into(),
            serde_dynamo::AttributeValue::S("USER#x".into()),
        );
        let unreadable = change_record("3".into(), "INSERT", Some(garbage));
        assert!(
            matches!(&unreadable.content, Parsed::Unreadable { image, .. } if image["pk"]["S"] == "USER#x"),
            "{unreadable:?}"
        );
    }

    #[test]
    fn a_new_order_is_its_event() {
        let r = change_record("4".into(), "INSERT", Some(order_image("ord_y")));
        assert_eq!(r.event().map(|e| e.event_id.as_str()), Some("evt_ord_y"));
    }
}
