//! Auth endpoints and the guard, against DynamoDB Local.

use crate::helpers::TestApp;
use serde_json::json;

#[tokio::test]
async fn signup_then_login() {
    let app = TestApp::new().await;
    let r = app
        .post(
            "/auth/signup",
            None,
            json!({"email": "Kim@Example.com", "password": "password123", "name": "김민수"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert!(r.body["userId"].as_str().is_some_and(|s| !s.is_empty()));
    assert_eq!(r.body["email"], "Kim@Example.com");
    assert_eq!(r.body["name"], "김민수");
    assert!(r.body.get("password").is_none() && r.body.get("passwordHash").is_none());

    // Emails compare case-insensitively.
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"email": "kim@example.COM", "password": "password123"}),
        )
        .await;
    assert_eq!(r.status, 200, "{r:?}");
    assert_eq!(r.body["tokenType"], "Bearer");
    assert!(r.body["expiresIn"].as_u64().is_some_and(|s| s > 0));
    assert_eq!(
        r.body["accessToken"].as_str().map(|t| t.split('.').count()),
        Some(3)
    );

    let dup = app
        .post(
            "/auth/signup",
            None,
            json!({"email": "KIM@example.com", "password": "password123", "name": "x"}),
        )
        .await;
    assert_eq!((dup.status, dup.code()), (409, "EMAIL_TAKEN"));
}

#[tokio::test]
async fn wrong_password_and_unknown_email_answer_alike() {
    let app = TestApp::new().await;
    app.post(
        "/auth/signup",
        None,
        json!({"email": "a@b.co", "password": "password123", "name": "A"}),
    )
    .await;
    let wrong = app
        .post(
            "/auth/login",
            None,
            json!({"email": "a@b.co", "password": "password124"}),
        )
        .await;
    let unknown = app
        .post(
            "/auth/login",
            None,
            json!({"email": "nobody@b.co", "password": "password123"}),
        )
        .await;
    assert_eq!((wrong.status, wrong.code()), (401, "INVALID_CREDENTIALS"));
    assert_eq!(
        (unknown.status, unknown.code()),
        (401, "INVALID_CREDENTIALS")
    );
    assert_eq!(wrong.body["detail"], unknown.body["detail"]);
}

#[tokio::test]
async fn concurrent_signups_with_one_email_have_exactly_one_winner() {
    let app = TestApp::new().await;
    let calls = (0..20).map(|i| {
        let app = &app;
        async move {
            app.post_while_busy(
                "/auth/signup",
                json!({"email": if i % 2 == 0 { "race@example.com" } else { "RACE@example.com" }, "password": "password123", "name": "R"}),
            )
            .await
        }
    });
    let replies = futures::future::join_all(calls).await;
    let created = replies.iter().filter(|r| r.status == 201).count();
    let taken = replies
        .iter()
        .filter(|r| r.status == 409 && r.code() == "EMAIL_TAKEN")
        .count();
    assert_eq!((created, taken), (1, 19), "{replies:?}");
}

#[tokio::test]
async fn validation_errors_name_the_field() {
    let app = TestApp::new().await;
    let cases = [
        (json!({"password": "password123", "name": "n"}), "email"),
        (
            json!({"email": "not-an-email", "password": "password123", "name": "n"}),
            "email",
        ),
        (
            json!({"email": format!("{}@b.co", "a".repeat(251)), "password": "password123", "name": "n"}),
            "email",
        ),
        (
            json!({"email": "a@b.co", "password": "short", "name": "n"}),
            "password",
        ),
        (
            json!({"email": "a@b.co", "password": "x".repeat(129), "name": "n"}),
            "password",
        ),
        (
            json!({"email": "a@b.co", "password": 12345678, "name": "n"}),
            "password",
        ),
        (
            json!({"email": "a@b.co", "password": "password123", "name": ""}),
            "name",
        ),
        (
            json!({"email": "a@b.co", "password": "password123", "name": "n".repeat(101)}),
            "name",
        ),
        (
            json!({"email": "a@b.co", "password": "password123", "name": ["n"]}),
            "name",
        ),
        (json!([1, 2]), "body"),
    ];
    for (body, field) in cases {
        let r = app.post("/auth/signup", None, body.clone()).await;
        assert_eq!((r.status, r.code()), (400, "VALIDATION_FAILED"), "{body}");
        assert_eq!(r.body["field"], field, "{body}: {r:?}");
    }
    // Exactly 100 characters (multi-byte) is fine.
    let r = app
        .post(
            "/auth/signup",
            None,
            json!({"email": "b@b.co", "password": "password123", "name": "가".repeat(100)}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    for raw in ["{", "", "null", "{\"email\": }"] {
        let r = app
            .request(
                axum::http::Method::POST,
                "/auth/signup",
                None,
                &[],
                Some(raw.as_bytes().to_vec()),
            )
            .await;
        assert_eq!((r.status, r.code()), (400, "VALIDATION_FAILED"), "{raw}");
    }
}

#[tokio::test]
async fn routes_methods_sizes_and_health() {
    let app = TestApp::new().await;
    let r = app.get("/health", None).await;
    assert_eq!((r.status, r.body.clone()), (200, json!({"status": "ok"})));
    let r = app.get("/nope", None).await;
    assert_eq!((r.status, r.code()), (404, "NOT_FOUND"));
    let r = app.delete("/auth/signup", None).await;
    assert_eq!((r.status, r.code()), (405, "METHOD_NOT_ALLOWED"));
    assert_eq!(
        r.headers.get("allow").and_then(|v| v.to_str().ok()),
        Some("POST")
    );
    let big = format!(
        "{{\"email\": \"a@b.co\", \"password\": \"password123\", \"name\": \"{}\"}}",
        "x".repeat(70_000)
    );
    let r = app
        .request(
            axum::http::Method::POST,
            "/auth/signup",
            None,
            &[],
            Some(big.into_bytes()),
        )
        .await;
    assert_eq!((r.status, r.code()), (413, "PAYLOAD_TOO_LARGE"));
}

/// Inside each Lambda (not only in the local gateway): an oversized body is 413 on every route and
/// method, before auth and before the body is read.
#[tokio::test]
async fn every_lambda_refuses_an_oversized_body_on_any_method() {
    use shop_functions::handlers;
    use shop_tools::gateway::to_lambda_request;
    let app = TestApp::new().await;
    let big = vec![b'x'; shop_functions::http::MAX_BODY_BYTES + 1];
    for route in handlers::TABLE {
        let endpoint = handlers::endpoint(route.function).expect("endpoint");
        let served = (endpoint.wire)(app.ctx()).await.expect("wired");
        let path = route
            .path
            .replace("{productId}", "prd_0")
            .replace("{orderId}", "ord_0");
        let (parts, ()) = axum::http::Request::builder()
            .method(route.method.clone())
            .uri(&path)
            .body(())
            .expect("request")
            .into_parts();
        let params = vec![];
        let req = to_lambda_request(parts, big.clone(), route.clone(), params);
        let budget = app.ctx().config().request_budget;
        let resp = shop_functions::lambda::invoke(budget, req, false, |req| served(req)).await;
        assert_eq!(
            resp.status().as_u16(),
            413,
            "{} {}",
            route.method,
            route.path
        );
    }
}

/// Issue 20, item 8: the contract orders 404/405 for the route before 413. On AWS a request no
/// route serves reaches the `$default` route's function (route-fallback) through the same `invoke`
/// as every Lambda: however large its body, it gets 404 or 405, not 413.
#[tokio::test]
async fn an_oversized_body_to_no_route_is_404_or_405_not_413() {
    use lambda_http::Body;
    let big = vec![b'x'; shop_functions::http::MAX_BODY_BYTES + 1];
    let call = |method: &str, path: &str| {
        let req = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("https://api.example.com{path}"))
            .body(Body::Binary(big.clone()))
            .expect("request");
        shop_functions::lambda::invoke(std::time::Duration::from_secs(5), req, false, |req| {
            shop_functions::handlers::route_fallback::handle(&(), req)
        })
    };
    let r = call("POST", "/nope").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = call("PUT", "/cart").await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET");
}

#[tokio::test]
async fn guard_refuses_bad_tokens_and_non_admins() {
    use shop_shared::auth::{authenticate, require_admin, JwtKeys};
    use shop_shared::domain::user::Role;
    let app = TestApp::new().await;
    let (user_id, token) = app.user().await;
    let keys = &app.ctx().jwt;
    let p = authenticate(keys, Some(&format!("Bearer {token}"))).expect("valid");
    assert_eq!(p.user_id, user_id);
    assert_eq!(p.role, Role::User);
    let forbidden = require_admin(&p).map_err(shop_functions::http::problem::ApiError::from);
    assert_eq!(forbidden.map_err(|e| e.code.as_str()), Err("FORBIDDEN"));

    let now = chrono::Utc::now().timestamp();
    let expired = keys.issue(&user_id, Role::User, now - 7200).expect("issue");
    let foreign = JwtKeys::new("another-secret", 3600)
        .issue(&user_id, Role::Admin, now)
        .expect("issue");
    let mut tampered = token.clone();
    tampered.pop();
    tampered.push(if token.ends_with('A') { 'B' } else { 'A' });
    for bad in [
        None,
        Some("garbage".to_string()),
        Some(format!("Bearer {expired}")),
        Some(format!("Bearer {foreign}")),
        Some(format!("Bearer {tampered}")),
    ] {
        let e = authenticate(keys, bad.as_deref()).expect_err("refused");
        let e = shop_functions::http::problem::ApiError::from(e);
        assert_eq!(e.code.as_str(), "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn the_default_route_function_answers_404_and_405_as_problems() {
    use lambda_http::Body;
    let call = |method: &str, path: &str| {
        let req = lambda_http::http::Request::builder()
            .method(method)
            .uri(format!("https://api.example.com{path}"))
            .body(Body::Empty)
            .expect("request");
        async move {
            shop_functions::handlers::route_fallback::handle(&(), req)
                .await
                .expect("an answer")
        }
    };
    let r = call("GET", "/nope").await;
    assert_eq!(r.status(), 404);
    assert_eq!(r.headers()["content-type"], "application/problem+json");
    let r = call("DELETE", "/cart").await;
    assert_eq!(r.status(), 405);
    assert_eq!(r.headers()["allow"], "GET");
    let body = match r.body() {
        Body::Text(t) => t.clone(),
        _ => String::new(),
    };
    assert!(body.contains("METHOD_NOT_ALLOWED"), "{body}");
}

/// API.md: after 10 failed logins for one email within 15 minutes, every further login for that
/// email (right password included) gets 429 with Retry-After, until the oldest of those failures
/// is 15 minutes old. Kept in DynamoDB, so it holds across Lambda instances.
#[tokio::test]
async fn failed_logins_lock_an_email_for_15_minutes_and_parallel_failures_all_count() {
    use std::sync::Arc;

    use shop_shared::clock::FixedClock;
    let start = chrono::Utc::now();
    let clock = Arc::new(FixedClock::new(start));
    let app = TestApp::with_clock(clock.clone()).await;
    let email = format!("lock{}@example.com", uuid::Uuid::new_v4().simple());
    let r = app
        .post(
            "/auth/signup",
            None,
            json!({"email": email, "password": "password123", "name": "L"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let login = |password: &'static str| {
        let (app, email) = (&app, email.clone());
        async move {
            app.post(
                "/auth/login",
                None,
                json!({"email": email, "password": password}),
            )
            .await
        }
    };

    // Ten wrong passwords at once: each one counts.
    let replies = futures::future::join_all((0..10).map(|_| login("wrong-password"))).await;
    assert!(replies.iter().all(|r| r.status == 401), "{replies:?}");
    let r = login("password123").await;
    assert_eq!((r.status, r.code()), (429, "TOO_MANY_REQUESTS"), "{r:?}");
    let retry_after: u32 = r.headers["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((899..=900).contains(&retry_after), "{retry_after}");
    // Differently cased: the same email.
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"email": email.to_uppercase(), "password": "password123"}),
        )
        .await;
    assert_eq!(r.status, 429, "{r:?}");

    // Fifteen minutes after those failures the email is free again.
    clock.set(start + chrono::Duration::seconds(15 * 60 + 1));
    let r = login("password123").await;
    assert_eq!(r.status, 200, "{r:?}");

    // The window slides: 9 failures now, 1 ten minutes later: locked until the 9 are 15 minutes old.
    let t0 = start + chrono::Duration::minutes(20);
    clock.set(t0);
    for _ in 0..9 {
        assert_eq!(login("wrong-password").await.status, 401);
    }
    clock.set(t0 + chrono::Duration::minutes(10));
    assert_eq!(login("wrong-password").await.status, 401);
    let r = login("password123").await;
    assert_eq!(r.status, 429, "{r:?}");
    let retry_after: u32 = r.headers["retry-after"]
        .to_str()
        .expect("header")
        .parse()
        .expect("seconds");
    assert!((299..=300).contains(&retry_after), "{retry_after}");
    clock.set(t0 + chrono::Duration::seconds(15 * 60 + 1));
    assert_eq!(login("password123").await.status, 200);
}

/// Issue 20: the count is atomic. Of 50 parallel wrong log-ins exactly 10 are tried (401) and the
/// other 40 are refused before any password check (429); exactly 10 attempt slots are held.
#[tokio::test]
async fn of_50_parallel_wrong_logins_exactly_10_are_tried() {
    let app = TestApp::new().await;
    let email = format!("count{}@example.com", uuid::Uuid::new_v4().simple());
    let replies = futures::future::join_all((0..50).map(|_| {
        app.post(
            "/auth/login",
            None,
            json!({"email": email, "password": "wrong-password"}),
        )
    }))
    .await;
    let tried = replies.iter().filter(|r| r.status == 401).count();
    let throttled = replies
        .iter()
        .filter(|r| r.status == 429 && r.code() == "TOO_MANY_REQUESTS")
        .count();
    assert_eq!((tried, throttled), (10, 40), "{replies:?}");
    let item = app
        .db
        .client
        .get_item()
        .table_name(&app.db.tables.users)
        .key(
            "pk",
            aws_sdk_dynamodb::types::AttributeValue::S(format!("LOGINFAIL#{email}")),
        )
        .key(
            "sk",
            aws_sdk_dynamodb::types::AttributeValue::S("SLOTS".into()),
        )
        .consistent_read(true)
        .send()
        .await
        .expect("read")
        .item
        .expect("the slots");
    let held = (0..20)
        .filter(|i| item.contains_key(&format!("s{i}")))
        .count();
    assert_eq!(held, 10);
    let r = app
        .post(
            "/auth/login",
            None,
            json!({"email": email, "password": "wrong-password"}),
        )
        .await;
    assert_eq!((r.status, r.code()), (429, "TOO_MANY_REQUESTS"), "{r:?}");
}

/// A successful log-in gives its attempt slot back: it never counts as a failure.
#[tokio::test]
async fn a_successful_login_does_not_count_as_a_failure() {
    let app = TestApp::new().await;
    let email = format!("ok{}@example.com", uuid::Uuid::new_v4().simple());
    let r = app
        .post(
            "/auth/signup",
            None,
            json!({"email": email, "password": "password123", "name": "O"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    let login = |password: &'static str| {
        app.post(
            "/auth/login",
            None,
            json!({"email": email, "password": password}),
        )
    };
    for _ in 0..9 {
        assert_eq!(login("wrong-password").await.status, 401);
    }
    for _ in 0..3 {
        assert_eq!(login("password123").await.status, 200);
    }
    assert_eq!(
        login("wrong-password").await.status,
        401,
        "the tenth failure"
    );
    assert_eq!(login("password123").await.status, 429);
}

/// `shop-local admin` / set-up: an existing admin email without the admin role is an error, not
/// "already present".
#[tokio::test]
async fn admin_bootstrap_fails_loudly_when_the_admin_email_is_not_an_admin() {
    use shop_tools::local_setup::{create_admin, AdminError};
    let app = TestApp::new().await;
    assert_eq!(create_admin(app.ctx()).await, Ok(true), "created");
    assert_eq!(create_admin(app.ctx()).await, Ok(false), "already present");

    let other = TestApp::new().await;
    let r = other
        .post(
            "/auth/signup",
            None,
            json!({"email": shop_shared::config::ADMIN_EMAIL, "password": "password123", "name": "Squatter"}),
        )
        .await;
    assert_eq!(r.status, 201, "{r:?}");
    assert_eq!(create_admin(other.ctx()).await, Err(AdminError::NotAnAdmin));
}
