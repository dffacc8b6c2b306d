//! One module per function: `wire` builds what its Lambda runs with (exactly the ports its
//! service uses) from a source of ports; `handle` parses, authenticates, calls the service and
//! maps the result (HTTP endpoints), or handles the event (the event Lambdas).

pub mod balance_charge;
pub mod balance_get;
pub mod cart_add;
pub mod cart_get;
pub mod cart_remove;
pub mod health;
pub mod login;
pub mod openapi;
pub mod order_consumer;
pub mod order_relay;
pub mod orders_create;
pub mod orders_get;
pub mod orders_list;
pub mod products_create;
pub mod products_get;
pub mod products_list;
pub mod products_popular;
pub mod products_restock;
pub mod reconciler;
pub mod route_fallback;
pub mod signup;

use shop_shared::auth::JwtKeys;
use shop_shared::wiring::{Ports, WireError};

/// What an authenticated endpoint runs with: the token keys and its service's ports.
pub struct Authed<P> {
    pub keys: JwtKeys,
    pub ports: P,
}

impl<P> Authed<P> {
    pub async fn wire(source: &impl Ports, ports: P) -> Result<Self, WireError> {
        Ok(Self {
            keys: source.jwt().await?,
            ports,
        })
    }
}
