//! Pure domain rules: no AWS types, no I/O.

pub mod cart;
pub mod ids;
pub mod input;
pub mod money;
pub mod order;
pub mod popular;
pub mod user;
