//! One module per endpoint. Each handler: size check, auth, parse, call the service, map to HTTP.

pub mod balance_charge;
pub mod balance_get;
pub mod cart_add;
pub mod cart_get;
pub mod cart_remove;
pub mod health;
pub mod login;
pub mod openapi;
pub mod orders_create;
pub mod orders_get;
pub mod orders_list;
pub mod products_create;
pub mod products_get;
pub mod products_list;
pub mod products_popular;
pub mod products_restock;
pub mod route_fallback;
pub mod signup;
