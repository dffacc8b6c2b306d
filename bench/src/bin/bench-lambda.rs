//! `make bench-lambda` (scripts/bench.sh builds the release binaries and starts a local stack):
//! the Lambdas as Lambda runs them, under a local runtime-API emulator, against a minimal
//! `lambda_http` hello-world built in the same run with the same profile, and a bare SDK `GetItem`
//! Lambda (bench-getitem: the least a get-product function can do, the floor of products-get).
//!
//! For each target, `BENCH_LAMBDA_COLD` times (targets interleaved): a fresh process with only
//! Lambda's environment, its first event already queued (cold: exec -> first response; init:
//! exec -> first `GET /next`; first invocation after init), then `BENCH_LAMBDA_WARM` warm calls
//! (each timed from hand-out to answer), then its peak RSS (`VmHWM`). Every answer is checked.
//!
//! Then over TLS: products-get against a TLS-terminating proxy (throw-away CA) in front of
//! DynamoDB Local, with and without the init-time warm-up read, to show what opening the
//! connection during init saves the first invocation.
//!
//! Then many invocations at once (`tools/src/lambda_bench/concurrent.rs`): products-get and
//! orders-create handed 1, 8 and 32 invocations at once, against a DynamoDB stand-in that answers
//! after a fixed delay (`ddb_standin.rs`); then auth-login's memory before and after a burst of
//! logins at 32 at once.
//!
//! Env: DYNAMODB_ENDPOINT, EVENTS_ENDPOINT (the local stack), BENCH_LAMBDA_COLD (10),
//! BENCH_LAMBDA_WARM (300), BENCH_LAMBDA_BIN_DIR (target/lambda-release: the Lambdas' profile),
//! BENCH_STANDIN_MS (5: the stand-in's answer time), BENCH_CONCURRENT_SECONDS (3 per level),
//! BENCH_LOGINS (500).

use std::error::Error;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};
use shop_bench::bench_support::{seed_login, seed_product, seed_user};
use shop_bench::lambda_bench::concurrent::{self, print_levels};
use shop_bench::lambda_bench::ddb_standin::StandIn;
use shop_bench::lambda_bench::emulator::{Emulator, Outcome};
use shop_bench::lambda_bench::process::{peak_rss_kib, size_mib, spawn, spawn_capturing};
use shop_bench::lambda_bench::stats::{median, quantile};
use shop_bench::lambda_bench::tls_proxy::TlsProxy;
use shop_shared::adapters::dynamodb::Db;
use shop_shared::auth::JwtKeys;
use shop_shared::aws::connect_dynamodb;
use shop_shared::config::Config;
use shop_shared::domain::ids;
use shop_shared::domain::user::Role;
use shop_tools::infra_tables;

type BoxResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const PRICE: i64 = 1_000;
const LOGIN_PASSWORD: &str = "bench-login-password-42";

/// What the events are about: one product, one user with a token, the relay's bus and queue.
struct Fixture {
    product_id: String,
    token: String,
    login_email: String,
    env: Vec<(String, String)>,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    Hello,
    /// The least a get-product Lambda does (bench-getitem): the same event as products-get.
    BareGetItem,
    ProductsGet,
    OrdersCreate,
    OrderRelay,
    Login,
}

struct Target {
    name: &'static str,
    kind: Kind,
    binary: PathBuf,
}

#[derive(Default)]
struct Samples {
    cold_ms: Vec<f64>,
    init_ms: Vec<f64>,
    first_ms: Vec<f64>,
    warm_ms: Vec<f64>,
    rss_mib: Vec<f64>,
}

fn env_num(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn api_event(
    method: &str,
    route: &str,
    path: &str,
    params: Value,
    headers: Value,
    body: Option<String>,
) -> Vec<u8> {
    json!({
        "version": "2.0",
        "routeKey": format!("{method} {route}"),
        "rawPath": path,
        "rawQueryString": "",
        "headers": headers,
        "pathParameters": params,
        "requestContext": {
            "accountId": "123456789012",
            "apiId": "bench",
            "domainName": "bench.execute-api.ap-northeast-2.amazonaws.com",
            "domainPrefix": "bench",
            "http": {"method": method, "path": path, "protocol": "HTTP/1.1",
                     "sourceIp": "127.0.0.1", "userAgent": "bench-lambda"},
            "requestId": uuid::Uuid::new_v4().to_string(),
            "routeKey": format!("{method} {route}"),
            "stage": "$default",
            "time": "26/Nov/2026:00:00:00 +0000",
            "timeEpoch": chrono::Utc::now().timestamp_millis()
        },
        "body": body,
        "isBase64Encoded": false
    })
    .to_string()
    .into_bytes()
}

fn event(kind: Kind, f: &Fixture) -> Vec<u8> {
    match kind {
        Kind::Hello => api_event(
            "GET",
            "/",
            "/",
            json!({}),
            json!({"accept": "text/plain"}),
            None,
        ),
        Kind::ProductsGet | Kind::BareGetItem => {
            let path = format!("/products/{}", f.product_id);
            api_event(
                "GET",
                "/products/{productId}",
                &path,
                json!({"productId": f.product_id}),
                json!({"accept": "application/json"}),
                None,
            )
        }
        Kind::OrdersCreate => api_event(
            "POST",
            "/orders",
            "/orders",
            json!({}),
            json!({"accept": "application/json", "content-type": "application/json",
                   "authorization": format!("Bearer {}", f.token)}),
            Some(json!({"items": [{"productId": f.product_id, "quantity": 1}]}).to_string()),
        ),
        Kind::Login => api_event(
            "POST",
            "/auth/login",
            "/auth/login",
            json!({}),
            json!({"accept": "application/json", "content-type": "application/json"}),
            Some(json!({"email": f.login_email, "password": LOGIN_PASSWORD}).to_string()),
        ),
        Kind::OrderRelay => {
            let order_id = ids::new_order_id();
            let user = "usr_019ab5f0a1b27c3d8e9f0a1b2c3d4e5f";
            let pk = format!("USER#{user}");
            let sk = format!("ORDER#{order_id}");
            json!({"Records": [{
                "eventID": uuid::Uuid::new_v4().simple().to_string(),
                "eventName": "INSERT",
                "eventVersion": "1.1",
                "eventSource": "aws:dynamodb",
                "awsRegion": "ap-northeast-2",
                "dynamodb": {
                    "ApproximateCreationDateTime": 1795489536,
                    "Keys": {"pk": {"S": pk}, "sk": {"S": sk}},
                    "NewImage": {
                        "pk": {"S": pk}, "sk": {"S": sk},
                        "eventId": {"S": format!("evt_{order_id}")},
                        "requestHash": {"S": "5d41402abc4b2a76b9719d911017c592"},
                        "orderId": {"S": order_id}, "userId": {"S": user},
                        "status": {"S": "PAID"},
                        "items": {"L": [{"M": {
                            "productId": {"S": f.product_id}, "name": {"S": "Bench"},
                            "unitPrice": {"N": PRICE.to_string()}, "quantity": {"N": "1"},
                            "amount": {"N": PRICE.to_string()}}}]},
                        "totalAmount": {"N": PRICE.to_string()},
                        "createdAt": {"S": "2026-11-26T00:00:00Z"}
                    },
                    "SequenceNumber": "4421584500000000017450439091",
                    "SizeBytes": 642,
                    "StreamViewType": "NEW_IMAGE"
                },
                "eventSourceARN": "arn:aws:dynamodb:ap-northeast-2:123456789012:table/shop-orders/stream/2026-11-24T00:00:00.000"
            }]})
            .to_string()
            .into_bytes()
        }
    }
}

/// Whether the function did the work: the expected status, or no failed stream record.
fn check(kind: Kind, outcome: &Outcome) -> Result<(), String> {
    let body: Value = serde_json::from_slice(&outcome.body).unwrap_or(Value::Null);
    let ok = outcome.ok
        && match kind {
            Kind::Hello | Kind::BareGetItem | Kind::ProductsGet | Kind::Login => {
                body["statusCode"] == 200
            }
            Kind::OrdersCreate => body["statusCode"] == 201,
            Kind::OrderRelay => body["batchItemFailures"]
                .as_array()
                .is_some_and(Vec::is_empty),
        };
    if ok {
        Ok(())
    } else {
        Err(format!(
            "unexpected answer: {}",
            String::from_utf8_lossy(&outcome.body)
        ))
    }
}

async fn outcome(
    rx: tokio::sync::oneshot::Receiver<Outcome>,
    emulator: &Emulator,
) -> BoxResult<Outcome> {
    match tokio::time::timeout(Duration::from_secs(20), rx).await {
        Ok(Ok(o)) => Ok(o),
        _ => Err(format!(
            "no answer within 20 s (init error: {:?})",
            emulator.init_error()
        )
        .into()),
    }
}

/// One cold start and `warm` warm calls of a fresh process.
async fn run_once(
    target: &Target,
    fixture: &Fixture,
    extra_env: &[(String, String)],
    warm: usize,
    samples: &mut Samples,
) -> BoxResult<()> {
    let emulator = Emulator::start().await?;
    let mut env = fixture.env.clone();
    env.extend_from_slice(extra_env);
    env.push(("AWS_LAMBDA_RUNTIME_API".into(), emulator.runtime_api()));
    env.push(("AWS_LAMBDA_FUNCTION_NAME".into(), target.name.into()));
    let first = emulator.invoke(event(target.kind, fixture));
    let started = Instant::now();
    let mut child = spawn(&target.binary, &env)?;
    let first = outcome(first, &emulator).await?;
    check(target.kind, &first).map_err(|e| format!("{}: first call: {e}", target.name))?;
    let polled = emulator.first_poll().unwrap_or(first.given);
    samples.cold_ms.push(ms(first.answered - started));
    samples.init_ms.push(ms(polled - started));
    samples.first_ms.push(ms(first.answered - first.given));
    for _ in 0..warm {
        let rx = emulator.invoke(event(target.kind, fixture));
        let o = outcome(rx, &emulator).await?;
        check(target.kind, &o).map_err(|e| format!("{}: warm call: {e}", target.name))?;
        samples.warm_ms.push(ms(o.answered - o.given));
    }
    if let Some(pid) = child.id() {
        if let Some(kib) = peak_rss_kib(pid) {
            samples.rss_mib.push(kib as f64 / 1024.0);
        }
    }
    child.kill().await?;
    Ok(())
}

async fn fixture(config: &Config) -> BoxResult<Fixture> {
    let db: Db = connect_dynamodb(config).await;
    infra_tables::create_all(&db.client, &db.tables).await?;
    let product_id = seed_product(&db, "Bench product", PRICE, 100_000_000).await?;
    let user_id = seed_user(&db, 1_000_000_000_000).await?;
    let login_email = seed_login(&db, LOGIN_PASSWORD).await?;
    let token = JwtKeys::new(&config.jwt_secret, config.jwt_ttl_seconds)
        .issue(&user_id, Role::User, chrono::Utc::now().timestamp())
        .map_err(|e| format!("token: {e:?}"))?;

    let sdk = shop_shared::aws::sdk_config(config).await;
    let suffix = uuid::Uuid::new_v4().simple().to_string();
    let bus = format!("bench-lambda-{}", &suffix[..8]);
    shop_shared::aws::eventbridge_client(&sdk, config)
        .create_event_bus()
        .name(&bus)
        .send()
        .await?;
    let dlq = shop_shared::aws::sqs_client(&sdk, config)
        .create_queue()
        .queue_name(format!("bench-lambda-dlq-{}", &suffix[..8]))
        .send()
        .await?
        .queue_url
        .ok_or("no queue url")?;

    let mut env = vec![
        (
            "AWS_LAMBDA_FUNCTION_MEMORY_SIZE".to_owned(),
            "128".to_owned(),
        ),
        (
            "AWS_LAMBDA_FUNCTION_VERSION".to_owned(),
            "$LATEST".to_owned(),
        ),
        (
            "AWS_LAMBDA_LOG_GROUP_NAME".to_owned(),
            "/aws/lambda/bench".to_owned(),
        ),
        ("AWS_LAMBDA_LOG_STREAM_NAME".to_owned(), "bench".to_owned()),
        ("AWS_REGION".to_owned(), config.region.clone()),
        ("AWS_DEFAULT_REGION".to_owned(), config.region.clone()),
        ("AWS_ACCESS_KEY_ID".to_owned(), "local".to_owned()),
        ("AWS_SECRET_ACCESS_KEY".to_owned(), "local".to_owned()),
        ("SHOP_STAGE".to_owned(), "local".to_owned()),
        ("RUST_LOG".to_owned(), "info".to_owned()),
        ("EVENT_BUS_NAME".to_owned(), bus),
        ("RELAY_DLQ_URL".to_owned(), dlq),
        ("JWT_SECRET".to_owned(), config.jwt_secret.clone()),
        (
            "BENCH_PRODUCTS_TABLE".to_owned(),
            db.tables.products.clone(),
        ),
    ];
    for name in ["TABLE_PREFIX", "EVENTS_ENDPOINT"] {
        if let Ok(v) = std::env::var(name) {
            env.push((name.to_owned(), v));
        }
    }
    Ok(Fixture {
        product_id: product_id.to_string(),
        token,
        login_email,
        env,
    })
}

fn ratio(value: f64, base: f64) -> String {
    format!("x{:.2}", value / base)
}

fn print_table(targets: &[Target], samples: &[Samples]) {
    let hello = &samples[0];
    let mut header = String::from("| |");
    let mut rule = String::from("|---|");
    for t in targets {
        header.push_str(&format!(" {} |", t.name));
        rule.push_str("---|");
    }
    println!("{header}\n{rule}");
    type Row = (&'static str, fn(&Samples) -> f64, &'static str);
    let rows: [Row; 6] = [
        (
            "cold (exec -> first response), median",
            |s| median(&s.cold_ms),
            "ms",
        ),
        (
            "  init (exec -> first /next), median",
            |s| median(&s.init_ms),
            "ms",
        ),
        (
            "  first invocation after init, median",
            |s| median(&s.first_ms),
            "ms",
        ),
        ("warm median", |s| median(&s.warm_ms), "ms"),
        ("warm p99", |s| quantile(&s.warm_ms, 0.99), "ms"),
        ("peak RSS (VmHWM), median", |s| median(&s.rss_mib), "MiB"),
    ];
    for (label, f, unit) in rows {
        let base = f(hello);
        let mut line = format!("| {label} |");
        for (i, s) in samples.iter().enumerate() {
            let v = f(s);
            let digits = if unit == "ms" && v < 10.0 { 3 } else { 2 };
            if i == 0 {
                line.push_str(&format!(" {v:.digits$} {unit} |"));
            } else {
                line.push_str(&format!(" {v:.digits$} {unit} ({}) |", ratio(v, base)));
            }
        }
        println!("{line}");
    }
    let base = size_mib(&targets[0].binary).unwrap_or(f64::NAN);
    let mut line = String::from("| stripped binary |");
    for (i, t) in targets.iter().enumerate() {
        let v = size_mib(&t.binary).unwrap_or(f64::NAN);
        if i == 0 {
            line.push_str(&format!(" {v:.2} MiB |"));
        } else {
            line.push_str(&format!(" {v:.2} MiB ({}) |", ratio(v, base)));
        }
    }
    println!("{line}");
}

fn upstream_of(endpoint: &str) -> BoxResult<SocketAddr> {
    let host_port = endpoint
        .trim_start_matches("http://")
        .trim_end_matches('/')
        .replace("localhost", "127.0.0.1");
    Ok(host_port.parse()?)
}

#[tokio::main]
async fn main() -> BoxResult<()> {
    let cold = env_num("BENCH_LAMBDA_COLD", 10);
    let warm = env_num("BENCH_LAMBDA_WARM", 300);
    let bin_dir = PathBuf::from(
        std::env::var("BENCH_LAMBDA_BIN_DIR")
            .unwrap_or_else(|_| "target/lambda-release".to_owned()),
    );
    let config = Config::from_env()?;
    let endpoint = config
        .dynamodb_endpoint
        .clone()
        .ok_or("DYNAMODB_ENDPOINT is not set (run `make bench-lambda`)")?;
    let fixture = fixture(&config).await?;
    let target = |name: &'static str, kind: Kind| Target {
        name,
        kind,
        binary: bin_dir.join(match kind {
            Kind::Hello => "bench-hello",
            Kind::BareGetItem => "bench-getitem",
            _ => name,
        }),
    };
    let targets = [
        target("hello", Kind::Hello),
        target("bare GetItem", Kind::BareGetItem),
        target("products-get", Kind::ProductsGet),
        target("orders-create", Kind::OrdersCreate),
        target("order-relay", Kind::OrderRelay),
    ];
    for t in &targets {
        if !t.binary.exists() {
            return Err(format!("{} is not built", t.binary.display()).into());
        }
    }
    let plain = vec![("DYNAMODB_ENDPOINT".to_owned(), endpoint.clone())];
    let mut samples: Vec<Samples> = targets.iter().map(|_| Samples::default()).collect();
    println!("bench-lambda: {cold} cold starts x {warm} warm calls per target, interleaved");
    for round in 0..cold {
        for (t, s) in targets.iter().zip(samples.iter_mut()) {
            run_once(t, &fixture, &plain, warm, s).await?;
        }
        eprintln!("bench-lambda: round {}/{cold} done", round + 1);
    }
    println!();
    print_table(&targets, &samples);

    // Over TLS: what the init-time warm-up saves the first invocation.
    let proxy = TlsProxy::start(upstream_of(&endpoint)?, Path::new("target/bench-lambda")).await?;
    let tls = |warm_up: &str| {
        vec![
            ("DYNAMODB_ENDPOINT".to_owned(), proxy.endpoint.clone()),
            (
                "SSL_CERT_FILE".to_owned(),
                proxy.ca_file.display().to_string(),
            ),
            ("SHOP_WARM_UP".to_owned(), warm_up.to_owned()),
        ]
    };
    let get = target("products-get", Kind::ProductsGet);
    let (mut with, mut without) = (Samples::default(), Samples::default());
    for _ in 0..cold {
        run_once(&get, &fixture, &tls("on"), 3, &mut with).await?;
        run_once(&get, &fixture, &tls("off"), 3, &mut without).await?;
    }
    println!();
    println!(
        "products-get over TLS (proxy {}), {cold} cold starts each:",
        proxy.endpoint
    );
    println!("| | warm-up during init | no warm-up |\n|---|---|---|");
    for (label, f) in [
        (
            "init (exec -> first /next), median",
            (|s: &Samples| median(&s.init_ms)) as fn(&Samples) -> f64,
        ),
        ("first invocation after init, median", |s| {
            median(&s.first_ms)
        }),
        ("cold (exec -> first response), median", |s| {
            median(&s.cold_ms)
        }),
        ("warm median", |s| median(&s.warm_ms)),
    ] {
        println!("| {label} | {:.2} ms | {:.2} ms |", f(&with), f(&without));
    }
    init_breakdown(&fixture, &proxy, &bin_dir, cold).await?;
    drop(proxy);
    concurrent_part(&fixture, &endpoint, &bin_dir).await
}

/// bench-init from both profiles of this run, `runs` fresh processes each (interleaved): the
/// median of every step.
async fn init_breakdown(
    fixture: &Fixture,
    proxy: &TlsProxy,
    bin_dir: &Path,
    runs: usize,
) -> BoxResult<()> {
    let release = std::env::current_exe()?
        .parent()
        .ok_or("no directory")?
        .join("bench-init");
    let builds = [release, bin_dir.join("bench-init")];
    let mut env = fixture.env.clone();
    env.push(("AWS_LAMBDA_FUNCTION_NAME".into(), "bench-init".into()));
    env.push(("DYNAMODB_ENDPOINT".into(), proxy.endpoint.clone()));
    env.push(("BENCH_CA_FILE".into(), proxy.ca_file.display().to_string()));
    let mut samples: [std::collections::BTreeMap<String, Vec<f64>>; 2] = Default::default();
    for _ in 0..runs {
        for (binary, into) in builds.iter().zip(samples.iter_mut()) {
            let (mut child, out) = spawn_capturing(binary, &env)?;
            let status = tokio::time::timeout(Duration::from_secs(20), child.wait()).await??;
            tokio::time::timeout(Duration::from_secs(5), out.closed()).await?;
            let stdout = out.stdout_text();
            let last = stdout.lines().last().unwrap_or_default();
            let steps: serde_json::Map<String, Value> =
                serde_json::from_str(last).map_err(|e| {
                    let err = out.stderr_text();
                    format!("{}: {status}: {e}: {stdout} {err}", binary.display())
                })?;
            for (k, v) in steps {
                into.entry(k)
                    .or_default()
                    .push(v.as_f64().unwrap_or(f64::NAN));
            }
        }
    }
    println!();
    println!(
        "Init, step by step (bench-init, {runs} fresh processes per build, medians, microseconds):"
    );
    println!(
        "| step | release profile (aws-lc-sys default: CPU jitter entropy) | lambda-release \
         (AWS_LC_SYS_NO_JITTER_ENTROPY=1) |\n|---|---|---|"
    );
    const STEPS: [&str; 14] = [
        "subscriber",
        "config",
        "sdk_config",
        "credentials",
        "native_roots_read",
        "native_roots_count",
        "native_roots_parse",
        "bundled_roots",
        "first_random",
        "second_random",
        "first_get_item",
        "second_get_item",
        "default_chain_load",
        "default_chain_credentials",
    ];
    let of = |i: usize, step: &str| samples[i].get(step).map_or(f64::NAN, |v| median(v));
    for step in STEPS {
        println!("| {step} | {:.1} | {:.1} |", of(0, step), of(1, step));
    }
    Ok(())
}

/// Many invocations at once per process, against the DynamoDB stand-in.
async fn concurrent_part(fixture: &Fixture, endpoint: &str, bin_dir: &Path) -> BoxResult<()> {
    let delay = Duration::from_millis(env_num("BENCH_STANDIN_MS", 5) as u64);
    let run_for = Duration::from_secs(env_num("BENCH_CONCURRENT_SECONDS", 3) as u64);
    let standin = StandIn::start(endpoint, delay).await?;
    let env_of = |function: &str| {
        let mut env = fixture.env.clone();
        env.push(("DYNAMODB_ENDPOINT".to_owned(), standin.endpoint.clone()));
        env.push(("AWS_LAMBDA_FUNCTION_NAME".to_owned(), function.to_owned()));
        env
    };
    println!();
    println!(
        "Many invocations at once: one process per level, the emulator's queue kept full for {} s \
         (after 0.5 s of warm-up), against a DynamoDB stand-in answering every call after {} ms:",
        run_for.as_secs(),
        delay.as_millis()
    );
    let checks: [(&str, Kind, concurrent::Check); 2] = [
        ("products-get", Kind::ProductsGet, |o| {
            check(Kind::ProductsGet, o)
        }),
        ("orders-create", Kind::OrdersCreate, |o| {
            check(Kind::OrdersCreate, o)
        }),
    ];
    for (name, kind, checker) in checks {
        let mut levels = Vec::new();
        for workers in [1, 8, 32] {
            let l = concurrent::level(
                &bin_dir.join(name),
                &env_of(name),
                &event(kind, fixture),
                checker,
                workers,
                run_for,
            )
            .await
            .map_err(|e| format!("{name} at {workers}: {e}"))?;
            levels.push(l);
        }
        println!();
        print_levels(name, &levels);
        if let (Some(one), Some(top)) = (levels.first(), levels.last()) {
            println!(
                "\n{name}: at {} at once, x{:.2} the invocations/s of one at a time, peak RSS x{:.2} \
                 ({:.0} KiB more per extra invocation in flight)",
                top.workers,
                top.per_second / one.per_second,
                top.peak_rss_mib / one.peak_rss_mib,
                (top.peak_rss_mib - one.peak_rss_mib) * 1024.0 / f64::from(top.workers - 1)
            );
        }
    }
    let logins = env_num("BENCH_LOGINS", 500);
    let burst = concurrent::login_burst(
        &bin_dir.join("auth-login"),
        &env_of("auth-login"),
        &event(Kind::Login, fixture),
        32,
        logins,
    )
    .await?;
    println!();
    println!(
        "auth-login at 32 at once, {} logins queued at once ({} answered 200, {} 503 TRY_AGAIN, in \
         {:.1} s):",
        burst.logins,
        burst.ok,
        burst.busy,
        burst.took.as_secs_f64()
    );
    println!("| RSS before | RSS after | peak RSS (VmHWM) |\n|---|---|---|");
    println!(
        "| {:.2} MiB | {:.2} MiB | {:.2} MiB |",
        burst.rss_before_mib, burst.rss_after_mib, burst.peak_rss_mib
    );
    let (answered, forwarded) = standin.counts();
    println!("\n(the stand-in answered {answered} calls, {forwarded} of them forwarded once to DynamoDB Local)");
    Ok(())
}
