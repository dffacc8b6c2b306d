//! The scheduled reconciler's wiring (`shop_shared::services::reconciler` does the work).

use shop_shared::context::{AppContext, ContextError};
use shop_shared::services::reconciler::{self, Report};
use shop_shared::wiring::Ports;

/// The ports the reconciler Lambda is built with: the records, the ledger and the gateway.
pub async fn wire(ports: &impl Ports) -> Result<AppContext, ContextError> {
    Ok(AppContext {
        idempotency: Some(ports.idempotency()?),
        charges: Some(ports.charges()?),
        users: Some(ports.users()?),
        payment: Some(ports.payment().await?),
        ..ports.bare()
    })
}

/// One pass with exactly the reconciler Lambda's ports, taken from `source` (tests, local tools).
pub async fn run_wired(source: &impl Ports) -> Result<Report, ContextError> {
    Ok(reconciler::run(&wire(source).await?).await)
}
