//! The charge ledger as DynamoDB holds it, to compare answers with.

use aws_sdk_dynamodb::types::AttributeValue;

use super::TestApp;

/// The user's charge ledger entries (`USER#<id>` / `CHARGE#<chargeId>`), read consistently:
/// (chargeId, amount, paymentId).
pub async fn ledger(app: &TestApp, user_id: &str) -> Vec<(String, i64, String)> {
    let out = app
        .db
        .client
        .query()
        .table_name(&app.db.tables.users)
        .key_condition_expression("pk = :pk AND begins_with(sk, :c)")
        .expression_attribute_values(":pk", AttributeValue::S(format!("USER#{user_id}")))
        .expression_attribute_values(":c", AttributeValue::S("CHARGE#".into()))
        .consistent_read(true)
        .send()
        .await
        .expect("ledger");
    out.items()
        .iter()
        .map(|i| {
            (
                i["chargeId"].as_s().expect("chargeId").clone(),
                i["amount"].as_n().expect("amount").parse().expect("n"),
                i["paymentId"].as_s().expect("paymentId").clone(),
            )
        })
        .collect()
}
