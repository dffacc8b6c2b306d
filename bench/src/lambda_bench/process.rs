//! The function process: started fresh for every cold start, with only the environment Lambda
//! would give it; its peak resident memory read from `/proc` before it is stopped.

use std::path::Path;
use std::process::Stdio;
use std::sync::{Arc, Mutex};

use tokio::io::AsyncReadExt;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

fn command(binary: &Path, env: &[(String, String)]) -> Command {
    let mut cmd = Command::new(binary);
    cmd.env_clear()
        .env("PATH", "/usr/bin:/bin")
        .envs(env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true);
    cmd
}

/// Starts `binary` with exactly `env` (plus `PATH`), output discarded.
pub fn spawn(binary: &Path, env: &[(String, String)]) -> std::io::Result<Child> {
    command(binary, env).spawn()
}

/// What a process wrote to stdout and stderr so far.
#[derive(Clone, Default)]
pub struct Output {
    pub stdout: Arc<Mutex<Vec<u8>>>,
    pub stderr: Arc<Mutex<Vec<u8>>>,
    /// The tasks copying the two pipes; each ends at its pipe's end of file.
    readers: Arc<Mutex<Vec<JoinHandle<()>>>>,
}

impl Output {
    /// Waits until both pipes are read to their end: after the process exits, what it wrote may
    /// still sit in a pipe, so read the text only after this. Call it once, on the `Output`
    /// [`spawn_capturing`] returned (it takes the readers; a second call returns at once).
    pub async fn closed(&self) {
        let readers = self
            .readers
            .lock()
            .map(|mut r| std::mem::take(&mut *r))
            .unwrap_or_default();
        for reader in readers {
            // A reader that panicked has nothing more to give.
            let _ = reader.await;
        }
    }
    pub fn stdout_text(&self) -> String {
        text(&self.stdout)
    }
    pub fn stderr_text(&self) -> String {
        text(&self.stderr)
    }
}

fn text(buf: &Mutex<Vec<u8>>) -> String {
    buf.lock()
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default()
}

/// Like [`spawn`], with stdout and stderr collected (the function's log stream).
pub fn spawn_capturing(
    binary: &Path,
    env: &[(String, String)],
) -> std::io::Result<(Child, Output)> {
    let mut cmd = command(binary, env);
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn()?;
    let output = Output::default();
    let mut readers = Vec::new();
    if let Some(out) = child.stdout.take() {
        readers.push(collect(out, output.stdout.clone()));
    }
    if let Some(err) = child.stderr.take() {
        readers.push(collect(err, output.stderr.clone()));
    }
    if let Ok(mut r) = output.readers.lock() {
        *r = readers;
    }
    Ok((child, output))
}

fn collect(
    mut from: impl tokio::io::AsyncRead + Unpin + Send + 'static,
    into: Arc<Mutex<Vec<u8>>>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut chunk = vec![0u8; 64 * 1024];
        while let Ok(n) = from.read(&mut chunk).await {
            if n == 0 {
                break;
            }
            if let Ok(mut buf) = into.lock() {
                buf.extend_from_slice(&chunk[..n]);
            }
        }
    })
}

/// Sends SIGTERM (Lambda's shutdown signal) to the process.
pub fn terminate(pid: u32) -> std::io::Result<()> {
    let pid = libc::pid_t::try_from(pid).map_err(std::io::Error::other)?;
    // SAFETY: kill(2) only sends a signal to the given process.
    if unsafe { libc::kill(pid, libc::SIGTERM) } == 0 {
        Ok(())
    } else {
        Err(std::io::Error::last_os_error())
    }
}

/// Resident set size now, in KiB (`VmRSS`).
pub fn rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmRSS:")
}

/// Peak resident set size in KiB (`VmHWM`).
pub fn peak_rss_kib(pid: u32) -> Option<u64> {
    status_kib(pid, "VmHWM:")
}

fn status_kib(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Size of the file in MiB.
pub fn size_mib(path: &Path) -> Option<f64> {
    Some(std::fs::metadata(path).ok()?.len() as f64 / (1024.0 * 1024.0))
}
