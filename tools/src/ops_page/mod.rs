//! `GET /ops` of the local gateway: the operations page of `make dev`, fed by the EMF documents the
//! local programs write (the same metrics, names and dimensions the Lambdas emit on AWS).
//!
//! [`aggregate`] reads the tail of every `*.emf.jsonl` file and sums the last minutes; the page
//! (`page.html`, no build step) polls `GET /ops/metrics` and draws it.

use std::collections::BTreeMap;
use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use serde::Serialize;
use serde_json::Value;
use shop_shared::telemetry as t;

/// The page itself.
pub const PAGE: &str = include_str!("page.html");
/// Minutes the page shows.
pub const WINDOW_MINUTES: i64 = 15;
/// Only this much of each file is read (the newest documents).
const TAIL_BYTES: u64 = 4 * 1024 * 1024;

#[derive(Debug, Default, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Quantiles {
    pub count: usize,
    pub p50: Option<f64>,
    pub p99: Option<f64>,
}

/// What the page shows: per-minute series (oldest first) and totals over the window.
#[derive(Debug, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Snapshot {
    /// Minute starts, epoch ms.
    pub minutes: Vec<i64>,
    pub orders_per_second: Vec<f64>,
    pub refusals_per_minute: Vec<f64>,
    /// Every counter summed over the window.
    pub totals: BTreeMap<String, u64>,
    /// Refused orders by problem code.
    pub refusals_by_code: BTreeMap<String, u64>,
    /// Problems answered by code (every endpoint).
    pub problems_by_code: BTreeMap<String, u64>,
    pub latency_ms: Quantiles,
    pub event_lag_ms: Quantiles,
    pub dead_letters: u64,
}

#[derive(Default)]
struct Acc {
    per_minute: BTreeMap<(i64, &'static str), f64>,
    totals: BTreeMap<String, u64>,
    refusals: BTreeMap<String, u64>,
    problems: BTreeMap<String, u64>,
    latency: Vec<f64>,
    lag: Vec<f64>,
}

fn quantiles(mut v: Vec<f64>) -> Quantiles {
    v.sort_by(f64::total_cmp);
    let at = |q: f64| (!v.is_empty()).then(|| v[((v.len() - 1) as f64 * q).round() as usize]);
    Quantiles {
        count: v.len(),
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn values(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().filter_map(Value::as_f64).collect(),
        other => other.as_f64().into_iter().collect(),
    }
}

impl Acc {
    /// Adds one EMF document if it is in the window.
    fn add(&mut self, doc: &Value, since_ms: i64) {
        let Some(ts) = doc["_aws"]["Timestamp"].as_i64() else {
            return;
        };
        if ts < since_ms || doc["_aws"]["CloudWatchMetrics"][0]["Namespace"] != t::NAMESPACE {
            return;
        }
        let minute = ts - ts.rem_euclid(60_000);
        let Some(metrics) = doc["_aws"]["CloudWatchMetrics"][0]["Metrics"].as_array() else {
            return;
        };
        for m in metrics {
            let Some(name) = m["Name"].as_str() else {
                continue;
            };
            let vals = values(&doc[name]);
            match name {
                t::REQUEST_LATENCY => self.latency.extend(vals),
                t::EVENT_LAG => self.lag.extend(vals),
                _ => {
                    let sum: f64 = vals.iter().sum();
                    *self.totals.entry(name.to_owned()).or_default() += sum as u64;
                    let code = doc["code"].as_str().unwrap_or("?").to_owned();
                    match name {
                        t::ORDERS_PLACED => {
                            *self
                                .per_minute
                                .entry((minute, t::ORDERS_PLACED))
                                .or_default() += sum
                        }
                        t::ORDERS_REFUSED => {
                            *self
                                .per_minute
                                .entry((minute, t::ORDERS_REFUSED))
                                .or_default() += sum;
                            *self.refusals.entry(code).or_default() += sum as u64;
                        }
                        t::PROBLEMS => *self.problems.entry(code).or_default() += sum as u64,
                        _ => {}
                    }
                }
            }
        }
    }
}

/// The newest documents of one file (a partial first line is skipped).
fn tail(path: &Path) -> std::io::Result<String> {
    let mut f = std::fs::File::open(path)?;
    let len = f.metadata()?.len();
    let start = len.saturating_sub(TAIL_BYTES);
    f.seek(SeekFrom::Start(start))?;
    let mut s = String::new();
    f.read_to_string(&mut s)?;
    if start > 0 {
        s = s
            .split_once('\n')
            .map(|(_, rest)| rest.to_owned())
            .unwrap_or_default();
    }
    Ok(s)
}

/// The last [`WINDOW_MINUTES`] of every `*.emf.jsonl` file in `dir`, as of `now_ms`.
pub fn aggregate(dir: &Path, now_ms: i64) -> Snapshot {
    let since = now_ms - now_ms.rem_euclid(60_000) - (WINDOW_MINUTES - 1) * 60_000;
    let mut acc = Acc::default();
    let files = std::fs::read_dir(dir).into_iter().flatten().flatten();
    for entry in files {
        let path = entry.path();
        if !path.to_string_lossy().ends_with(".emf.jsonl") {
            continue;
        }
        let Ok(text) = tail(&path) else { continue };
        for line in text.lines() {
            if let Ok(doc) = serde_json::from_str::<Value>(line) {
                acc.add(&doc, since);
            }
        }
    }
    let minutes: Vec<i64> = (0..WINDOW_MINUTES).map(|i| since + i * 60_000).collect();
    let series = |name: &'static str, per: f64| -> Vec<f64> {
        minutes
            .iter()
            .map(|m| acc.per_minute.get(&(*m, name)).copied().unwrap_or(0.0) / per)
            .collect()
    };
    let total = |name: &str| acc.totals.get(name).copied().unwrap_or(0);
    Snapshot {
        orders_per_second: series(t::ORDERS_PLACED, 60.0),
        refusals_per_minute: series(t::ORDERS_REFUSED, 1.0),
        minutes,
        dead_letters: total(t::RELAY_DEAD_LETTERED) + total(t::CONSUMER_FAILED),
        refusals_by_code: acc.refusals,
        problems_by_code: acc.problems,
        latency_ms: quantiles(acc.latency),
        event_lag_ms: quantiles(acc.lag),
        totals: acc.totals,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn doc(ts: i64, name: &str, value: Value, dims: &[(&str, &str)]) -> String {
        let mut d = json!({
            "_aws": {"Timestamp": ts, "CloudWatchMetrics": [{"Namespace": "Shop",
                "Dimensions": [["function"]], "Metrics": [{"Name": name, "Unit": "Count"}]}]},
            "function": "local-gateway",
        });
        d[name] = value;
        for (k, v) in dims {
            d[*k] = json!(v);
        }
        d.to_string()
    }

    #[test]
    fn sums_the_window_per_minute_and_by_code() {
        let dir = std::env::temp_dir().join(format!("ops-{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("dir");
        let now = 1_800_000_030_000_i64; // 30 s into a minute
        let minute = now - now.rem_euclid(60_000);
        let lines = [
            doc(now - 1_000, "OrdersPlaced", json!(120), &[]),
            doc(
                now - 2_000,
                "OrdersRefused",
                json!(2),
                &[("code", "INSUFFICIENT_STOCK")],
            ),
            doc(
                now - 3_000,
                "RequestLatency",
                json!([1.0, 2.0, 3.0, 100.0]),
                &[],
            ),
            doc(now - 4_000, "RelayDeadLettered", json!(1), &[]),
            // Outside the window, and another namespace: ignored.
            doc(now - 3_600_000, "OrdersPlaced", json!(999), &[]),
            r#"{"_aws":{"Timestamp":1,"CloudWatchMetrics":[{"Namespace":"Other","Metrics":[]}]}}"#
                .into(),
            "not json".into(),
        ];
        std::fs::write(dir.join("local-gateway.emf.jsonl"), lines.join("\n")).expect("write");
        let s = aggregate(&dir, now);
        assert_eq!(s.minutes.len() as i64, WINDOW_MINUTES);
        assert_eq!(*s.minutes.last().expect("minutes"), minute);
        assert_eq!(*s.orders_per_second.last().expect("series"), 2.0);
        assert_eq!(s.totals["OrdersPlaced"], 120);
        assert_eq!(s.refusals_by_code["INSUFFICIENT_STOCK"], 2);
        assert_eq!(s.latency_ms.count, 4);
        assert_eq!(s.latency_ms.p99, Some(100.0));
        assert_eq!(s.dead_letters, 1);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
