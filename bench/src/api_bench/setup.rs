//! Fixtures: products, users with a token, the gateway served over HTTP, the hot product's stock.

use shop_shared::adapters::dynamodb::Db;
use shop_shared::domain::ids::ProductId;
use shop_shared::domain::user::Role;
use shop_shared::ports::ProductStore;
use shop_shared::wiring::AllPorts;

use super::BoxResult;
use crate::bench_support::{seed_product, seed_user};
use shop_tools::gateway::Gateway;

pub(crate) const PRICE: i64 = 100;
pub(crate) const HOT_STOCK: i64 = 1_000_000_000;
const USER_BALANCE: i64 = 1_000_000_000;

pub(crate) async fn new_product(db: &Db, name: &str) -> BoxResult<String> {
    Ok(seed_product(db, name, PRICE, HOT_STOCK).await?.to_string())
}

/// A user with a big balance, created directly (no argon2: the password is never used), and a token.
pub(crate) async fn new_user(ctx: &AllPorts) -> BoxResult<(String, String)> {
    let user_id = seed_user(ctx.users.as_ref(), USER_BALANCE)
        .await
        .map_err(|e| format!("create user: {e}"))?;
    let token = ctx
        .jwt
        .issue(&user_id, Role::User, chrono::Utc::now().timestamp())
        .map_err(|e| format!("issue token: {e:?}"))?;
    Ok((user_id.to_string(), token))
}

/// Serves the gateway on an ephemeral 127.0.0.1 port: its base URL, and the sender that stops it.
pub async fn serve(gateway: Gateway) -> BoxResult<(String, tokio::sync::oneshot::Sender<()>)> {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(async move {
        let _ = axum::serve(listener, gateway.router())
            .with_graceful_shutdown(async {
                let _ = stopped.await;
            })
            .await;
    });
    Ok((format!("http://{addr}"), stop))
}

pub(crate) async fn stock(db: &Db, product_id: &str) -> BoxResult<i64> {
    Ok(ProductStore::get(db, &ProductId::from(product_id))
        .await?
        .ok_or("hot product vanished")?
        .stock)
}
