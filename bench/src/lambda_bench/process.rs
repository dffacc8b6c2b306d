//! The function process: started fresh for every cold start, with only the environment Lambda
//! would give it; its peak resident memory read from `/proc` before it is stopped.

use std::path::Path;
use std::process::Stdio;

use tokio::process::{Child, Command};

/// Starts `binary` with exactly `env` (plus `PATH`), output discarded.
pub fn spawn(binary: &Path, env: &[(String, String)]) -> std::io::Result<Child> {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    cmd.spawn()
}

/// Peak resident set size in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Size of the file in MiB.
pub fn size_mib(path: &Path) -> Option<f64> {
    Some(std::fs::metadata(path).ok()?.len() as f64 / (1024.0 * 1024.0))
}
