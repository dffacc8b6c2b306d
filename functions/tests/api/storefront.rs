//! The storefront in a real browser: headless Chromium (Debian's chromium + chromium-driver, driven by
//! scripts/storefront_test.py with selenium from the tools venv) walks a full purchase through the page
//! (the catalog and popular products before logging in, sign up, a refused and a saved card, a top-up
//! with it, a declined token, top-ups through the sandbox's payment window, one of them late: pending,
//! then settled on screen by the sandbox's webhook call, cart add and remove, order the cart, buy now,
//! history, popular), and everything the page showed is checked against the API. On failure the page's
//! screenshot is in target/storefront-failure.png.

use std::process::Command;
use std::time::Duration;

use crate::helpers::ledger::ledger;
use crate::helpers::template::repo_root;
use crate::helpers::TestApp;
use serde_json::{json, Value};

/// The test stage's `SANDBOX_LATE_MS`: a `late` window payment is captured (and the webhook called)
/// this long after its confirm, long enough for the page to show it pending.
const LATE_MS: i64 = 6_000;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_purchase_through_the_storefront_matches_the_api() {
    let python = std::env::var("SHOP_BROWSER_PYTHON")
        .expect("SHOP_BROWSER_PYTHON (set by scripts/test.sh: the tools venv with selenium)");
    let (app, webhook) = TestApp::with_sandbox_webhook(LATE_MS).await;
    let admin = app.admin().await;
    let a = app.product(&admin, 1_200, 10).await;
    let b = app.product(&admin, 500, 5).await;
    // Someone else bought one B: popular before anyone logs in.
    let (_, buyer) = app.user().await;
    app.charge(&buyer, 500).await;
    let r = app
        .post(
            "/orders",
            Some(&buyer),
            json!({"items": [{"productId": b, "quantity": 1}]}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let base = app
        .serve_http_with(
            shop_tools::storefront::router().merge(shop_tools::sandbox_window::router()),
        )
        .await;
    webhook.deliver_to(&base);
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

    // Before logging in: the catalog with live stock and popular products, and no buying.
    assert_eq!(seen["visitorStockB"], 4, "{seen}");
    assert!(
        seen["visitorPopular"]
            .as_str()
            .is_some_and(|t| t.contains("1 sold")),
        "{seen}"
    );
    assert_eq!(seen["visitorCanBuy"], false, "{seen}");
    assert_eq!(seen["visitorSeesAuth"], true, "{seen}");
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
    assert_eq!(balance, 100_000 + 20_000 + 30_000 - 2_400 - 1_200);
    assert_eq!(seen["balanceShown"], balance);
    assert!(seen["balanceShownAfterTopUp"]
        .as_str()
        .is_some_and(|t| t.contains("100,000")));
    for (what, code) in [
        ("declined", "declinedCode"),
        ("card refused", "cardRefusedCode"),
    ] {
        assert_eq!(
            seen[code], "PAYMENT_DECLINED",
            "a {what} shows the problem's code: {seen}"
        );
    }
    assert_eq!(
        seen["declinedIsError"], true,
        "a declined card shows the problem: {seen}"
    );

    // The saved card is the API's, and it paid the first top-up.
    let cards = app.get("/payment-methods", Some(&token)).await.body;
    let card_ids: Vec<&Value> = cards["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| &c["paymentMethodId"])
        .collect();
    assert_eq!(
        card_ids,
        vec![&seen["cardShown"]],
        "one saved card: {cards}"
    );
    assert_eq!(seen["cardChosen"], seen["cardShown"]);

    // The window's charges: credited as the page said, the late one once, by the webhook.
    let late = seen["lateCharge"].as_str().expect("lateCharge");
    assert_eq!(seen["lateSettledCharge"], late);
    assert_eq!(
        seen["balanceWhilePending"], 120_000,
        "pending credits nothing"
    );
    for (charge, amount) in [
        (seen["windowOkCharge"].as_str().expect("ok"), 20_000),
        (late, 30_000),
    ] {
        let view = app
            .get(&format!("/balance/charges/{charge}"), Some(&token))
            .await
            .body;
        assert_eq!(
            (&view["status"], &view["amount"]),
            (&json!("CREDITED"), &json!(amount)),
            "{view}"
        );
    }
    let me = app.get("/balance", Some(&token)).await.body;
    let user_id = me["userId"].as_str().expect("userId");
    let mut credited: Vec<i64> = ledger(&app, user_id).await.iter().map(|e| e.1).collect();
    credited.sort_unstable();
    assert_eq!(
        credited,
        vec![20_000, 30_000, 100_000],
        "each top-up credited once"
    );
    assert!(
        webhook
            .sent()
            .iter()
            .any(|s| s.status == "DONE" && s.accepted() && !s.duplicate),
        "the late payment was settled by the webhook: {:?}",
        webhook.sent()
    );

    assert_eq!(app.stock(&a).await, 7);
    assert_eq!(seen["stockShownA"], 7);
    assert_eq!(app.stock(&b).await, 4);
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
