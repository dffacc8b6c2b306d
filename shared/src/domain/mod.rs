//! Pure domain rules and types: no AWS types, no HTTP, no I/O.

pub mod cart;
pub mod charge;
pub mod events;
pub mod idempotency;
pub mod ids;
pub mod input;
pub mod money;
pub mod order;
pub mod popular;
pub mod popular_merge;
pub mod product;
pub mod stock;
pub mod user;
