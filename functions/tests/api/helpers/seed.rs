//! Users and products written straight into the stores (no password hashing, no admin, no HTTP),
//! for tests that set up many of them, or a user with money from the start.

use shop_shared::domain::ids::{self, ProductId};
use shop_shared::domain::product::{Product, Stocked};
use shop_shared::domain::user::{Role, UserProfile};

use super::TestApp;

impl TestApp {
    /// A user with `balance`, created in the users store, and a token for it: (userId, token).
    pub async fn seeded_user(&self, balance: i64) -> (String, String) {
        let user_id = ids::new_user_id();
        let email = format!("{user_id}@example.com");
        let profile = UserProfile {
            user_id: user_id.clone(),
            email: email.clone(),
            name: "Seeded".into(),
            role: Role::User,
            balance,
            created_at: "2026-11-24T00:00:00Z".into(),
        };
        let ctx = self.ctx();
        ctx.users
            .create_user(&profile, &email, "unused")
            .await
            .expect("user");
        let token = ctx
            .jwt
            .issue(&user_id, Role::User, chrono::Utc::now().timestamp())
            .expect("token");
        (user_id.to_string(), token)
    }

    /// A product created in the products store; returns its id.
    /// The product and its buckets as stored.
    pub async fn stocked(&self, product_id: &str) -> Stocked {
        let id = ProductId::from(product_id);
        self.ctx()
            .products
            .stocked(std::slice::from_ref(&id))
            .await
            .expect("read")
            .remove(&id)
            .expect("product")
    }

    pub async fn seeded_product(&self, name: &str, price: i64, stock: i64) -> String {
        let p = Product {
            product_id: ids::new_product_id(),
            name: name.to_owned(),
            price,
            stock,
        };
        self.ctx()
            .products
            .create(&p, 1, "2026-11-24T00:00:00Z")
            .await
            .expect("product");
        p.product_id.to_string()
    }
}
