//! Helpers of the benchmark binaries (`make bench`, `make bench-pipeline`, `make bench-lambda`).

use shop_shared::domain::ids::{self, ProductId, UserId};
use shop_shared::domain::product::Product;
use shop_shared::domain::user::{Role, UserProfile};
use shop_shared::ports::{ProductStore, StoreError, UserStore};

/// utime + stime of a process in seconds (`/proc/<pid>/stat`, USER_HZ = 100 on Linux); `"self"`
/// for this process.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// What the DynamoDB server under test is called in the reports (`BENCH_DDB_NAME`, set by
/// scripts/bench.sh from its `DDB_BACKEND`): DynamoDB Local unless said otherwise.
pub fn ddb_name() -> String {
    std::env::var("BENCH_DDB_NAME")
        .ok()
        .filter(|n| !n.is_empty())
        .unwrap_or_else(|| "DynamoDB Local".to_owned())
}

/// The pid in environment variable `name` (set by scripts/bench.sh), if any.
pub fn pid_from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|p| !p.is_empty())
}

/// Seeds one product (one stock bucket) straight into the store (no admin, no HTTP); returns
/// its id.
pub async fn seed_product(
    store: &dyn ProductStore,
    name: &str,
    price: i64,
    stock: i64,
) -> Result<ProductId, StoreError> {
    seed_bucketed(store, name, price, stock, 1).await
}

/// [`seed_product`] with its stock split over `buckets`.
pub async fn seed_bucketed(
    store: &dyn ProductStore,
    name: &str,
    price: i64,
    stock: i64,
    buckets: u32,
) -> Result<ProductId, StoreError> {
    let product = Product {
        product_id: ids::new_product_id(),
        name: name.to_owned(),
        price,
        stock,
    };
    store
        .create(&product, buckets, &chrono::Utc::now().to_rfc3339())
        .await?;
    Ok(product.product_id)
}

/// Seeds one user with `balance` straight into the store (no argon2: the password is never used);
/// returns the user id.
pub async fn seed_user(store: &dyn UserStore, balance: i64) -> Result<UserId, StoreError> {
    let email = format!("bench-{}@example.com", uuid::Uuid::new_v4().simple());
    create(store, &email, balance, "not-a-password-hash").await
}

/// Seeds one user who can log in with `password` (hashed as signup does); returns the email.
pub async fn seed_login(
    store: &dyn UserStore,
    password: &str,
) -> Result<String, Box<dyn std::error::Error + Send + Sync>> {
    let email = format!("bench-login-{}@example.com", uuid::Uuid::new_v4().simple());
    let hash = shop_shared::auth::password::hash_blocking(password)?;
    create(store, &email, 0, &hash).await?;
    Ok(email)
}

async fn create(
    store: &dyn UserStore,
    email: &str,
    balance: i64,
    password_hash: &str,
) -> Result<UserId, StoreError> {
    let user_id = ids::new_user_id();
    let email = email.to_owned();
    let profile = UserProfile {
        user_id: user_id.clone(),
        email: email.clone(),
        name: "Bench".to_owned(),
        role: Role::User,
        balance,
        created_at: chrono::Utc::now().to_rfc3339(),
    };
    store.create_user(&profile, &email, password_hash).await?;
    Ok(user_id)
}
