//! Operator tools behind `shop-local`: redrive of dead letters, event reconciliation and the sales
//! table migration. They run locally and against AWS alike (docs/OPERATIONS.md).

pub mod event_audit;
pub mod redrive;
pub mod sales_migration;
