//! The sandbox's stand-in for the gateway's payment window (local and test stages only; never
//! deployed, not an API route): `POST /sandbox/payments` `{"orderId", "amount", "card"?}` -> 200
//! `{"paymentKey"}`, served by the local gateway next to the storefront, without auth. The key is
//! bound to the orderId, the amount and the card: the sandbox gateway's confirm checks all three
//! (`shop_shared::adapters::payment::sandbox`). Nothing is captured before the confirm.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{json, Value};
use shop_shared::adapters::payment::sandbox::{window_payment_key, WINDOW_CARDS};

fn bad(field: &str, reason: &str) -> Response {
    (
        StatusCode::BAD_REQUEST,
        [(axum::http::header::CONTENT_TYPE, "application/problem+json")],
        json!({
            "type": "https://shop.example.com/problems/validation-failed",
            "title": "Validation failed",
            "status": 400,
            "code": "VALIDATION_FAILED",
            "detail": format!("{field}: {reason}"),
            "field": field,
        })
        .to_string(),
    )
        .into_response()
}

async fn pay(body: axum::body::Bytes) -> Response {
    let Ok(Value::Object(body)) = serde_json::from_slice::<Value>(&body) else {
        return bad("body", "must be a JSON object");
    };
    let Some(order_id) = body
        .get("orderId")
        .and_then(Value::as_str)
        .filter(|o| !o.is_empty() && o.len() <= 256)
    else {
        return bad("orderId", "must be a non-empty string");
    };
    let Some(amount) = body
        .get("amount")
        .and_then(Value::as_i64)
        .filter(|a| (1..=shop_shared::domain::money::MAX_CHARGE).contains(a))
    else {
        return bad("amount", "must be an integer from 1 to 100000000");
    };
    let card = match body.get("card") {
        None | Some(Value::Null) => "ok",
        Some(Value::String(c)) => c.as_str(),
        Some(_) => return bad("card", "must be a string"),
    };
    match window_payment_key(order_id, amount, card) {
        Some(payment_key) => axum::Json(json!({ "paymentKey": payment_key })).into_response(),
        None => bad(
            "card",
            &format!("must be one of {}", WINDOW_CARDS.join(", ")),
        ),
    }
}

/// `POST /sandbox/payments`.
pub fn router() -> axum::Router {
    axum::Router::new().route("/sandbox/payments", post(pay))
}
