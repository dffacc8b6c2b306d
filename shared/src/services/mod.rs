//! Use cases: domain input in, domain result out (one error enum per service); the HTTP layer
//! maps them to answers.

pub mod auth;
pub mod balance;
pub mod cart;
pub mod catalog;
pub mod charge_window;
pub mod charges;
pub mod idempotency;
mod order_stock;
pub mod orders;
pub mod payment_methods;
pub mod popular;
pub mod reconciler;
pub mod webhook;

#[cfg(test)]
mod fault_tests;
