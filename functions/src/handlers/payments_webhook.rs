//! `POST /payments/webhook` (no auth: called by the payment gateway). Only the event's
//! identifiers are read; `shop_shared::services::webhook` settles the charge from the gateway's
//! truth. 200 once the event is handled or safely ignored; 503 when the charge could not be
//! settled yet (the gateway sends the event again).

use lambda_http::Request;
use serde_json::{json, Value};
use shop_shared::services::charges::ChargePorts;
use shop_shared::services::webhook::{self, Handled};
use shop_shared::wiring::{Ports, WireError};

use crate::http::{self, HttpResult};

/// The ports its Lambda is built with: the reconciler's (records, ledger, gateway).
pub async fn wire(p: &impl Ports) -> Result<ChargePorts, WireError> {
    ChargePorts::wire(p).await
}

pub async fn handle(ctx: &ChargePorts, req: Request) -> HttpResult {
    // A JSON object (400 otherwise); its fields are read as the gateway's event.
    http::json_body(&req)?;
    let event: Value = serde_json::from_slice(http::body_bytes(&req)).unwrap_or(Value::Null);
    let result = match webhook::handle(ctx, &event).await? {
        Handled::Ignored(_) => "IGNORED",
        Handled::LeftToOwner => "PENDING",
        Handled::Settled(_) => "HANDLED",
    };
    Ok(http::json(200, &json!({ "result": result })))
}
