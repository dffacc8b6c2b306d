//! The storefront in a real browser: headless Chromium (Debian's chromium + chromium-driver, driven by
//! scripts/storefront_test.py with selenium from the tools venv) walks a full purchase through the page
//! (sign up, top up, a declined card, cart add and remove, order the cart, buy now, history, popular),
//! and everything the page showed is checked against the API. On failure the page's screenshot is in
//! target/storefront-failure.png.

use std::process::Command;
use std::time::Duration;

use crate::helpers::template::repo_root;
use crate::helpers::TestApp;
use serde_json::{json, Value};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_purchase_through_the_storefront_matches_the_api() {
    let python = std::env::var("SHOP_BROWSER_PYTHON")
        .expect("SHOP_BROWSER_PYTHON (set by scripts/test.sh: the tools venv with selenium)");
    let app = TestApp::new().await;
    let admin = app.admin().await;
    let a = app.product(&admin, 1_200, 10).await;
    let b = app.product(&admin, 500, 5).await;
    let base = app.serve_http_with(shop_tools::storefront::router()).await;
    let email = format!("web{}@example.com", uuid::Uuid::new_v4().simple());
    let password = "browser-password-1";
    let screenshot = repo_root().join("target/storefront-failure.png");
    let script = repo_root().join("scripts/storefront_test.py");
    let args = [
        script.display().to_string(),
        base,
        email.clone(),
        password.to_owned(),
        a.clone(),
        b.clone(),
        screenshot.display().to_string(),
    ];
    let run = tokio::task::spawn_blocking(move || Command::new(python).args(args).output());
    let out = tokio::time::timeout(Duration::from_secs(90), run)
        .await
        .expect("the browser walk ends within 90 s")
        .expect("join")
        .expect("run python");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "browser walk failed: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let seen: Value = serde_json::from_str(stdout.trim()).expect("the script's report");

    assert_eq!(
        seen["authFormsHidden"], true,
        "logged in: the sign-up and log-in forms go away"
    );

    // What the page showed is what the API says.
    let token = app.login(&email, password).await;
    let orders = app.get("/orders?limit=10", Some(&token)).await.body;
    let ids: Vec<&str> = orders["items"]
        .as_array()
        .expect("orders")
        .iter()
        .map(|o| o["orderId"].as_str().expect("orderId"))
        .collect();
    let shown: Vec<&str> = seen["ordersShown"]
        .as_array()
        .expect("ordersShown")
        .iter()
        .map(|v| v.as_str().expect("id"))
        .collect();
    assert_eq!(shown, ids, "the history is the API's, newest first");
    assert_eq!(ids.len(), 2);
    assert_eq!(seen["buyNowOrderId"], ids[0]);
    assert_eq!(seen["cartOrderId"], ids[1]);
    let cart_order = app
        .get(&format!("/orders/{}", ids[1]), Some(&token))
        .await
        .body;
    assert_eq!(cart_order["items"][0]["productId"], a.as_str());
    assert_eq!(
        cart_order["items"][0]["quantity"], 2,
        "B was removed from the cart"
    );
    assert_eq!(cart_order["items"].as_array().map(Vec::len), Some(1));
    assert!(
        seen["cartOrderTotal"]
            .as_str()
            .is_some_and(|t| t.contains("2,400")),
        "KRW for ko-KR: {seen}"
    );
    let balance = app.balance(&token).await;
    assert_eq!(balance, 100_000 - 2_400 - 1_200);
    assert_eq!(seen["balanceShown"], balance);
    assert!(seen["balanceShownAfterTopUp"]
        .as_str()
        .is_some_and(|t| t.contains("100,000")));
    assert_eq!(
        seen["declinedIsError"], true,
        "a declined card shows the problem: {seen}"
    );
    assert_eq!(app.stock(&a).await, 7);
    assert_eq!(seen["stockShownA"], 7);
    assert_eq!(app.stock(&b).await, 5);
    let popular = app.get("/products/popular", None).await.body;
    assert_eq!(popular["items"][0]["productId"], a.as_str());
    assert_eq!(popular["items"][0]["soldQuantity"], 3);
    assert!(seen["popularShown"]
        .as_str()
        .is_some_and(|t| t.contains("3 sold")));
    assert_eq!(
        app.get("/cart", Some(&token)).await.body,
        json!({"items": [], "totalAmount": 0})
    );
}
