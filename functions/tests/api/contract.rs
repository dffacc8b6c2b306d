//! The contract, from the client's side, against DynamoDB Local over HTTP:
//! - clients generated from openapi.yaml (openapi-python-client, openapi-typescript) generate without a
//!   warning, and a purchase through the Python one parses every answer, errors included, into its type;
//! - Schemathesis (all checks; examples, coverage, fuzzing and stateful phases; a user's and an admin's
//!   token; fixed seed, bounded examples) finds no disagreement between the document and the service.
//!
//! Tools come from `scripts/tools.sh install contract` (scripts/test.sh sets SHOP_CONTRACT_BIN and
//! SHOP_NPM_BIN).

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::Duration;

use crate::helpers::template::repo_root;
use crate::helpers::TestApp;
use serde_json::Value;

fn tool(var: &str, name: &str) -> PathBuf {
    let dir = std::env::var(var).unwrap_or_else(|_| {
        panic!("{var} (set by scripts/test.sh: `scripts/tools.sh install contract`)")
    });
    Path::new(&dir).join(name)
}

/// Runs a command off the runtime's threads (the gateway keeps serving) with a time limit.
async fn run(mut cmd: Command, limit: Duration) -> Output {
    let what = format!("{cmd:?}");
    let task = tokio::task::spawn_blocking(move || cmd.output());
    tokio::time::timeout(limit, task)
        .await
        .unwrap_or_else(|_| panic!("{what} took more than {limit:?}"))
        .expect("join")
        .unwrap_or_else(|e| panic!("{what}: {e}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn scratch(name: &str) -> PathBuf {
    let dir = repo_root()
        .join("target/contract")
        .join(format!("{name}-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("scratch dir");
    dir
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn generated_clients_type_every_answer() {
    let openapi = repo_root().join("openapi.yaml");

    // TypeScript: types for every operation and problem, no warning.
    let ts_dir = scratch("ts");
    let mut ts = Command::new(tool("SHOP_NPM_BIN", "openapi-typescript"));
    ts.arg(&openapi).arg("-o").arg(ts_dir.join("shop.d.ts"));
    let out = run(ts, Duration::from_secs(60)).await;
    let said = text(&out);
    assert!(out.status.success(), "openapi-typescript: {said}");
    assert!(
        !said.to_lowercase().contains("warn"),
        "openapi-typescript warned: {said}"
    );
    let types = std::fs::read_to_string(ts_dir.join("shop.d.ts")).expect("types");
    for name in ["InsufficientStockProblem", "placeOrder", "Order"] {
        assert!(
            types.contains(name),
            "{name} missing from the TypeScript types"
        );
    }

    // Python: generate (no warning), then a purchase through it.
    let py_dir = scratch("python");
    // The client cannot parse YAML: GET /openapi.yaml comes back as bytes. No formatter (ruff) after.
    std::fs::write(
        py_dir.join("config.yaml"),
        "content_type_overrides:\n  application/yaml: application/octet-stream\npost_hooks: []\n",
    )
    .expect("config");
    let mut gen = Command::new(tool("SHOP_CONTRACT_BIN", "openapi-python-client"));
    gen.args(["generate", "--meta", "none", "--path"])
        .arg(&openapi)
        .arg("--output-path")
        .arg(py_dir.join("shop_client"))
        .arg("--config")
        .arg(py_dir.join("config.yaml"));
    let out = run(gen, Duration::from_secs(90)).await;
    let said = text(&out);
    assert!(out.status.success(), "openapi-python-client: {said}");
    assert!(
        !said.contains("Warning"),
        "openapi-python-client warned: {said}"
    );

    let app = TestApp::new().await;
    let (admin_email, admin_password) = app.admin_credentials().await;
    let base = app.serve_http().await;
    let mut purchase = Command::new(tool("SHOP_CONTRACT_BIN", "python"));
    purchase
        .arg(repo_root().join("scripts/client_test.py"))
        .args([&base, &admin_email, &admin_password])
        .env("PYTHONPATH", &py_dir);
    let out = run(purchase, Duration::from_secs(60)).await;
    assert!(
        out.status.success(),
        "purchase through the Python client: {}",
        text(&out)
    );
    let report: Value =
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    assert_eq!(report["balanceAfterCharge"], 20_000);
    assert_eq!(report["orderTotal"], 5_000);
    assert_eq!(report["balance"], 15_000);
    let refusal = &report["refusal"];
    assert_eq!(refusal["type"], "InsufficientStockProblem");
    assert_eq!(refusal["code"], "INSUFFICIENT_STOCK");
    assert_eq!(refusal["status"], 409);
    assert_eq!(refusal["productId"], report["productId"]);
    assert_eq!(refusal["available"], 1);
    assert_eq!(report["invalid"]["code"], "VALIDATION_FAILED");
    assert_eq!(report["invalid"]["field"], "amount");
    let _ = std::fs::remove_dir_all(&py_dir);
    let _ = std::fs::remove_dir_all(&ts_dir);
}

/// One Schemathesis run with `token`: all checks, every phase, fixed seed, bounded examples.
async fn schemathesis(base: &str, token: &str, who: &str) -> String {
    let report = scratch(&format!("schemathesis-{who}"));
    let mut st = Command::new(tool("SHOP_CONTRACT_BIN", "schemathesis"));
    st.current_dir(repo_root())
        .args([
            "--config-file",
            "schemathesis.toml",
            "run",
            "openapi.yaml",
            "--url",
            base,
        ])
        .args(["--header", &format!("Authorization: Bearer {token}")])
        .args([
            "--checks",
            "all",
            "--phases",
            "examples,coverage,fuzzing,stateful",
        ])
        .args([
            "--seed",
            "20261126",
            "--max-examples",
            "12",
            "--request-timeout",
            "10",
        ])
        .args(["--no-color", "--report-dir"])
        .arg(&report)
        .env("SCHEMATHESIS_HOOKS", "");
    let out = run(st, Duration::from_secs(150)).await;
    let said = text(&out);
    assert!(
        out.status.success(),
        "Schemathesis ({who}) found failures:\n{said}"
    );
    let summary: Vec<&str> = said
        .lines()
        .filter(|l| l.contains("generated") || l.contains("passed"))
        .collect();
    eprintln!("schemathesis ({who}): {}", summary.join(" | "));
    let _ = std::fs::remove_dir_all(&report);
    said
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemathesis_finds_no_disagreement_with_a_user_or_an_admin_token() {
    let app = TestApp::new().await;
    let admin = app.admin().await;
    for (price, stock) in [(1_000, 1_000), (2_500, 5)] {
        app.product(&admin, price, stock).await;
    }
    let (_, user) = app.user().await;
    app.charge(&user, 1_000_000).await;
    let base = app.serve_http().await;
    let summary_user = schemathesis(&base, &user, "user").await;
    let summary_admin = schemathesis(&base, &admin, "admin").await;
    for s in [summary_user, summary_admin] {
        assert!(s.contains("passed"), "{s}");
    }
}
