//! Helpers of the benchmark binaries (`make bench`, `make bench-pipeline`).

/// utime + stime of a process in seconds (`/proc/<pid>/stat`, USER_HZ = 100 on Linux); `"self"`
/// for this process.
pub fn cpu_seconds(pid: &str) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let after = &stat[stat.rfind(')')? + 2..];
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}

/// The pid in environment variable `name` (set by scripts/bench.sh), if any.
pub fn pid_from_env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|p| !p.is_empty())
}
