//! One module per function: `wire` builds what its Lambda runs with (exactly the ports its
//! service uses) from a source of ports; `handle` parses, authenticates, calls the service and
//! maps the result (HTTP endpoints), or handles the event (the event Lambdas).

// The event Lambdas, the operator Lambda and the API's `$default` route.
pub mod operator;
pub mod order_consumer;
pub mod order_relay;
pub mod reconciler;
pub mod route_fallback;

// The API's endpoints: the one route table (`crate::routes`), which also declares their modules.
crate::routes::routes! {
    GET "/health" => "health", health;
    POST "/auth/signup" => "auth-signup", signup;
    POST "/auth/login" => "auth-login", login;
    GET "/balance" => "balance-get", balance_get;
    POST "/balance/charge" => "balance-charge", balance_charge;
    POST "/balance/charges" => "balance-charges-create", balance_charges_create;
    GET "/balance/charges/{chargeId}" => "balance-charges-get", balance_charges_get;
    POST "/balance/charges/{chargeId}/confirm" => "balance-charges-confirm", balance_charges_confirm;
    GET "/cart" => "cart-get", cart_get;
    POST "/cart/items" => "cart-add", cart_add;
    DELETE "/cart/items/{productId}" => "cart-remove", cart_remove;
    GET "/openapi.yaml" => "openapi", openapi;
    GET "/orders" => "orders-list", orders_list;
    POST "/orders" => "orders-create", orders_create;
    GET "/orders/{orderId}" => "orders-get", orders_get;
    GET "/payment-methods" => "payment-methods-list", payment_methods_list;
    POST "/payment-methods" => "payment-methods-create", payment_methods_create;
    DELETE "/payment-methods/{paymentMethodId}" => "payment-methods-delete", payment_methods_delete;
    POST "/payments/webhook" => "payments-webhook", payments_webhook;
    GET "/products/popular" => "products-popular", products_popular;
    GET "/products" => "products-list", products_list;
    POST "/products" => "products-create", products_create;
    GET "/products/{productId}" => "products-get", products_get;
    POST "/products/{productId}/restock" => "products-restock", products_restock;
}

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
