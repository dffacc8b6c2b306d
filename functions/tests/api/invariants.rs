//! A mixed run of concurrent orders, charges and restocks over a few products, then the
//! invariants: money conserved, units sold = stock removed, nothing negative, popular = sold.

use std::collections::HashMap;

use crate::helpers::TestApp;
use futures::stream::{self, StreamExt};
use serde_json::json;

const USERS: usize = 12;
const PRODUCTS: usize = 4;
const OPERATIONS: usize = 2_500;
const CONCURRENCY: usize = 32;

#[derive(Debug, Clone)]
enum Op {
    Order {
        user: usize,
        lines: Vec<(usize, i64)>,
    },
    Charge {
        user: usize,
        amount: i64,
    },
    Restock {
        product: usize,
        quantity: i64,
    },
}

/// A deterministic pseudo-random plan (xorshift), so a failure can be replayed.
fn plan(seed: u64) -> Vec<Op> {
    let mut x = seed;
    let mut next = move |n: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % n
    };
    (0..OPERATIONS)
        .map(|_| match next(10) {
            0 => Op::Charge {
                user: next(USERS as u64) as usize,
                amount: 1_000 + next(20_000) as i64,
            },
            1 => Op::Restock {
                product: next(PRODUCTS as u64) as usize,
                quantity: 1 + next(5) as i64,
            },
            _ => {
                let first = next(PRODUCTS as u64) as usize;
                let mut lines = vec![(first, 1 + next(3) as i64)];
                if next(3) == 0 {
                    lines.push(((first + 1) % PRODUCTS, 1 + next(2) as i64));
                }
                Op::Order {
                    user: next(USERS as u64) as usize,
                    lines,
                }
            }
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mixed_concurrent_run_conserves_money_and_stock() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let prices = [700_i64, 1_300, 2_900, 5_100];
    let initial_stock = 150_i64;
    let mut products = Vec::new();
    for p in prices {
        products.push(app.product(&admin, p, initial_stock).await);
    }
    let mut users = Vec::new();
    for _ in 0..USERS {
        let (_, t) = app.user().await;
        app.charge(&t, 30_000).await;
        users.push(t);
    }
    let ops = plan(0x5eed_1234_abcd);
    let results: Vec<(Op, u16, serde_json::Value)> = stream::iter(ops.into_iter())
        .map(|op| {
            let app = &app;
            let users = &users;
            let products = &products;
            let admin = &admin;
            async move {
                let r = match &op {
                    Op::Order { user, lines } => {
                        let items: Vec<_> = lines
                            .iter()
                            .map(|(p, q)| json!({"productId": products[*p], "quantity": q}))
                            .collect();
                        app.post_until_final("/orders", &users[*user], json!({"items": items}))
                            .await
                    }
                    Op::Charge { user, amount } => {
                        app.post_until_final(
                            "/balance/charge",
                            &users[*user],
                            json!({"amount": amount}),
                        )
                        .await
                    }
                    Op::Restock { product, quantity } => {
                        app.post(
                            &format!("/products/{}/restock", products[*product]),
                            Some(admin),
                            json!({"quantity": quantity}),
                        )
                        .await
                    }
                };
                (op, r.status, r.body)
            }
        })
        .buffer_unordered(CONCURRENCY)
        .collect()
        .await;

    let mut charged = [0_i64; USERS];
    let mut restocked = [0_i64; PRODUCTS];
    let mut sold = [0_i64; PRODUCTS];
    let mut spent = [0_i64; USERS];
    let mut outcomes: HashMap<String, usize> = HashMap::new();
    for (op, status, body) in &results {
        let code = body["code"].as_str().unwrap_or("").to_owned();
        *outcomes.entry(format!("{status} {code}")).or_default() += 1;
        assert!(
            [200, 201].contains(status)
                || ["INSUFFICIENT_STOCK", "INSUFFICIENT_BALANCE"].contains(&code.as_str()),
            "unexpected answer {status} {body}"
        );
        match (op, status) {
            (Op::Charge { user, amount }, 200) => charged[*user] += amount,
            (Op::Restock { product, quantity }, 200) => restocked[*product] += quantity,
            (Op::Order { user, lines }, 201) => {
                let mut total = 0;
                for (i, (p, q)) in lines.iter().enumerate() {
                    sold[*p] += q;
                    assert_eq!(body["items"][i]["unitPrice"], prices[*p]);
                    total += prices[*p] * q;
                }
                assert_eq!(body["totalAmount"], total);
                spent[*user] += total;
            }
            _ => {}
        }
    }
    eprintln!("outcomes: {outcomes:?}");
    assert!(
        outcomes.get("201 ").copied().unwrap_or(0) > 100,
        "enough orders succeeded to mean something"
    );

    for (u, t) in users.iter().enumerate() {
        let balance = app.balance(t).await;
        assert!(balance >= 0);
        assert_eq!(
            balance,
            30_000 + charged[u] - spent[u],
            "user {u}: money is conserved"
        );
        // Every order the user holds is one we saw succeed.
        let orders = app.get("/orders?limit=100", Some(t)).await;
        let sum: i64 = orders.body["items"].as_array().map_or(0, |o| {
            o.iter()
                .map(|x| x["totalAmount"].as_i64().unwrap_or(0))
                .sum()
        });
        assert_eq!(
            sum, spent[u],
            "user {u}: sum of order totals = balance decrease"
        );
    }
    let popular = app.get("/products/popular", None).await;
    for (p, id) in products.iter().enumerate() {
        let stock = app.stock(id).await;
        assert!(stock >= 0);
        assert_eq!(
            initial_stock + restocked[p] - stock,
            sold[p],
            "product {p}: units sold = stock removed"
        );
        let counted = popular.body["items"]
            .as_array()
            .and_then(|items| items.iter().find(|i| i["productId"] == id.as_str()))
            .and_then(|i| i["soldQuantity"].as_i64())
            .unwrap_or(0);
        assert_eq!(counted, sold[p], "product {p}: popular count = units sold");
    }
}
