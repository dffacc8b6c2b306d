//! Operator tools behind `shop-local`: redrive of dead letters and event reconciliation. They run
//! locally and against AWS alike (docs/OPERATIONS.md).

pub mod event_audit;
pub mod redrive;
