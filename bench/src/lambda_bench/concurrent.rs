//! The concurrent part of `make bench-lambda`: one function process handed 1, 8 or 32 invocations
//! at once (1: `AWS_LAMBDA_MAX_CONCURRENCY` unset, classic Lambda; more: set, as Lambda Managed
//! Instances sets it), the emulator's queue kept full by twice as many client loops, against the
//! DynamoDB stand-in ([`super::ddb_standin`]).

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use super::emulator::{Emulator, Outcome};
use super::process::{peak_rss_kib, rss_kib, spawn};
use super::stats::quantile;

type BoxResult<T> = Result<T, Box<dyn std::error::Error + Send + Sync>>;

/// Whether an answer is the one expected (the status of its kind).
pub type Check = fn(&Outcome) -> Result<(), String>;

/// What one process did at one level of concurrency.
#[derive(Debug, Clone)]
pub struct Level {
    pub workers: u32,
    pub per_second: f64,
    /// Hand-out to answer, per invocation.
    pub latency_ms: Vec<f64>,
    pub peak_rss_mib: f64,
    /// The most invocations the process had at once, as the emulator saw it.
    pub most_in_flight: usize,
}

impl Level {
    pub fn p50(&self) -> f64 {
        quantile(&self.latency_ms, 0.5)
    }
    pub fn p99(&self) -> f64 {
        quantile(&self.latency_ms, 0.99)
    }
}

/// The environment of a process run at `workers` at once.
fn env_at(base: &[(String, String)], emulator: &Emulator, workers: u32) -> Vec<(String, String)> {
    let mut env = base.to_vec();
    env.push(("AWS_LAMBDA_RUNTIME_API".into(), emulator.runtime_api()));
    if workers > 1 {
        env.push(("AWS_LAMBDA_MAX_CONCURRENCY".into(), workers.to_string()));
    }
    env
}

async fn await_outcome(rx: tokio::sync::oneshot::Receiver<Outcome>) -> BoxResult<Outcome> {
    match tokio::time::timeout(Duration::from_secs(30), rx).await {
        Ok(Ok(o)) => Ok(o),
        _ => Err("no answer within 30 s".into()),
    }
}

/// `clients` loops, each queuing `event` again as soon as its previous one is answered, until
/// `run_for` has passed: the answers' latencies, and the time until the last answer.
async fn keep_busy(
    emulator: &Arc<Emulator>,
    event: &[u8],
    check: Check,
    clients: usize,
    run_for: Duration,
) -> BoxResult<(Vec<f64>, Duration)> {
    let started = Instant::now();
    let deadline = started + run_for;
    let loops: Vec<_> = (0..clients)
        .map(|_| {
            let emulator = emulator.clone();
            let event = event.to_vec();
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                while Instant::now() < deadline {
                    let o = await_outcome(emulator.invoke(event.clone())).await?;
                    check(&o)?;
                    latencies.push((o.answered - o.given).as_secs_f64() * 1000.0);
                }
                Ok::<_, Box<dyn std::error::Error + Send + Sync>>(latencies)
            })
        })
        .collect();
    let mut all = Vec::new();
    for l in loops {
        all.extend(l.await??);
    }
    Ok((all, started.elapsed()))
}

/// One fresh process at `workers` at once: half a second of warm-up, then `run_for` measured.
pub async fn level(
    binary: &Path,
    env: &[(String, String)],
    event: &[u8],
    check: Check,
    workers: u32,
    run_for: Duration,
) -> BoxResult<Level> {
    let emulator = Arc::new(Emulator::start().await?);
    let mut child = spawn(binary, &env_at(env, &emulator, workers))?;
    let clients = 2 * workers as usize;
    keep_busy(&emulator, event, check, clients, Duration::from_millis(500)).await?;
    let (latency_ms, took) = keep_busy(&emulator, event, check, clients, run_for).await?;
    let peak = child.id().and_then(peak_rss_kib).unwrap_or(0);
    child.kill().await?;
    Ok(Level {
        workers,
        per_second: latency_ms.len() as f64 / took.as_secs_f64(),
        latency_ms,
        peak_rss_mib: peak as f64 / 1024.0,
        most_in_flight: emulator.most_in_flight(),
    })
}

/// What a burst of logins did to a process's memory.
#[derive(Debug, Clone)]
pub struct Burst {
    pub logins: usize,
    pub ok: usize,
    /// Refused with 503 (`TRY_AGAIN`): every hashing slot stayed busy for the request's time.
    pub busy: usize,
    pub rss_before_mib: f64,
    pub rss_after_mib: f64,
    pub peak_rss_mib: f64,
    pub took: Duration,
}

/// auth-login at `workers` at once: one login, then `logins` queued at once; resident memory
/// before and after, and the peak.
pub async fn login_burst(
    binary: &Path,
    env: &[(String, String)],
    event: &[u8],
    workers: u32,
    logins: usize,
) -> BoxResult<Burst> {
    let emulator = Arc::new(Emulator::start().await?);
    let mut child = spawn(binary, &env_at(env, &emulator, workers))?;
    let pid = child.id().ok_or("auth-login exited")?;
    let first = await_outcome(emulator.invoke(event.to_vec())).await?;
    if status(&first) != Some(200) {
        return Err(format!("first login: {}", String::from_utf8_lossy(&first.body)).into());
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let rss_before = rss_kib(pid).unwrap_or(0);
    let started = Instant::now();
    let pending: Vec<_> = (0..logins)
        .map(|_| emulator.invoke(event.to_vec()))
        .collect();
    let (mut ok, mut busy) = (0, 0);
    for rx in pending {
        match status(&await_outcome(rx).await?) {
            Some(200) => ok += 1,
            Some(503) => busy += 1,
            other => return Err(format!("login answered {other:?}").into()),
        }
    }
    let took = started.elapsed();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let burst = Burst {
        logins,
        ok,
        busy,
        rss_before_mib: rss_before as f64 / 1024.0,
        rss_after_mib: rss_kib(pid).unwrap_or(0) as f64 / 1024.0,
        peak_rss_mib: peak_rss_kib(pid).unwrap_or(0) as f64 / 1024.0,
        took,
    };
    child.kill().await?;
    Ok(burst)
}

fn status(o: &Outcome) -> Option<u64> {
    let v: serde_json::Value = serde_json::from_slice(&o.body).ok()?;
    v["statusCode"].as_u64()
}

/// The table of one function at every level, with ratios against one at a time.
pub fn print_levels(name: &str, levels: &[Level]) {
    let Some(one) = levels.first() else { return };
    let mut header = format!("| {name} |");
    let mut rule = String::from("|---|");
    for l in levels {
        header.push_str(&match l.workers {
            1 => " 1 at a time (classic) |".to_owned(),
            n => format!(" {n} at once |"),
        });
        rule.push_str("---|");
    }
    println!("{header}\n{rule}");
    type Row = (&'static str, fn(&Level) -> f64, &'static str);
    let rows: [Row; 5] = [
        ("most in flight at once", |l| l.most_in_flight as f64, ""),
        ("invocations/s", |l| l.per_second, "/s"),
        ("latency p50 (hand-out -> answer)", Level::p50, " ms"),
        ("latency p99", Level::p99, " ms"),
        ("peak RSS (VmHWM)", |l| l.peak_rss_mib, " MiB"),
    ];
    for (label, f, unit) in rows {
        let mut line = format!("| {label} |");
        for (i, l) in levels.iter().enumerate() {
            let v = f(l);
            if i == 0 {
                line.push_str(&format!(" {v:.2}{unit} |"));
            } else {
                line.push_str(&format!(" {v:.2}{unit} (x{:.2}) |", v / f(one)));
            }
        }
        println!("{line}");
    }
}
