//! The machine the run is on, and CPU accounting: who burns the 2 cores (this process = client +
//! gateway; DynamoDB Local's JVM).

use std::time::Instant;

use crate::bench_support::{cpu_seconds, ddb_name, pid_from_env};

/// Prints what the run is on: cores, CPU model, memory, load, build profile.
pub fn machine() {
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find(|l| l.starts_with("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, v)| v.trim())
        .to_owned();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem_kib = |key: &str| -> Option<u64> {
        meminfo
            .lines()
            .find(|l| l.starts_with(key))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()
    };
    let gib = |k: Option<u64>| {
        k.map_or("?".to_owned(), |k| {
            format!("{:.1} GiB", k as f64 / 1_048_576.0)
        })
    };
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    println!("== machine");
    println!("nproc:        {cpus}");
    println!("cpu model:    {model}");
    println!(
        "memory:       {} total, {} available",
        gib(mem_kib("MemTotal:")),
        gib(mem_kib("MemAvailable:"))
    );
    println!(
        "load average: {} (1/5/15 min, at start)",
        load.split_whitespace()
            .take(3)
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!(
        "build:        {}",
        if cfg!(debug_assertions) {
            "DEBUG (numbers meaningless; use --release)"
        } else {
            "release"
        }
    );
}

#[derive(Clone, Copy)]
pub(crate) struct CpuMark {
    pub(crate) at: Instant,
    pub(crate) own: Option<f64>,
    pub(crate) ddb: Option<f64>,
}

/// The DynamoDB server's pid (`BENCH_DDB_PID`), if known.
pub fn ddb_pid() -> Option<String> {
    pid_from_env("BENCH_DDB_PID")
}

pub(crate) fn cpu_mark() -> CpuMark {
    CpuMark {
        at: Instant::now(),
        own: cpu_seconds("self"),
        ddb: ddb_pid().and_then(|p| cpu_seconds(&p)),
    }
}

pub(crate) fn print_cpu(since: CpuMark) {
    let now = cpu_mark();
    let wall = now.at.duration_since(since.at).as_secs_f64();
    let used = |a: Option<f64>, b: Option<f64>| match (a, b) {
        (Some(a), Some(b)) => format!(
            "{:.1} s ({:.0}% of one core)",
            b - a,
            100.0 * (b - a) / wall
        ),
        _ => "n/a".to_owned(),
    };
    println!(
        "  CPU over {wall:.1} s wall: bench process (client + gateway + SDK) {}, {} {}",
        used(since.own, now.own),
        ddb_name(),
        used(since.ddb, now.ddb)
    );
}
