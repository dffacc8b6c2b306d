//! The scheduled reconciler (every minute): settles what requests left in doubt: charges approved
//! and not credited (credited), never approved (released or failed), failed with a void still to
//! do (voided), and order keys left PENDING (released). `shop_shared::services::reconciler` does
//! the work.

use std::convert::Infallible;

use serde_json::Value;
use shop_shared::services::charges::ChargePorts;
use shop_shared::services::reconciler::{self, Report};
use shop_shared::wiring::{Ports, WireError};

/// The ports its Lambda is built with: the records, the ledger and the gateway.
pub async fn wire(p: &impl Ports) -> Result<ChargePorts, WireError> {
    ChargePorts::wire(p).await
}

pub async fn handle(ctx: &ChargePorts, _event: Value) -> Result<Report, Infallible> {
    Ok(reconciler::run(ctx).await)
}

/// One pass with exactly the reconciler Lambda's ports, taken from `source` (tests, local tools).
pub async fn run_wired(source: &impl Ports) -> Result<Report, WireError> {
    Ok(reconciler::run(&wire(source).await?).await)
}
