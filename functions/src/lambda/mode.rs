//! How Lambda hands this process its invocations, and the tokio runtime that suits it.

use std::io;

/// The environment variable Lambda Managed Instances sets to the invocations one execution
/// environment runs at once (`lambda_runtime::run_concurrent` reads it too).
pub const MAX_CONCURRENCY: &str = "AWS_LAMBDA_MAX_CONCURRENCY";

/// One at a time (classic Lambda: the environment is frozen between invocations) or many at once
/// (Lambda Managed Instances: the environment runs continuously, never frozen).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Mode {
    OneAtATime,
    Concurrent(u32),
}

impl Mode {
    /// From [`MAX_CONCURRENCY`], parsed exactly as `lambda_runtime` does: concurrent above 1.
    pub fn from_env() -> Self {
        Self::parse(std::env::var(MAX_CONCURRENCY).ok().as_deref())
    }

    fn parse(raw: Option<&str>) -> Self {
        match raw.and_then(|v| v.parse::<u32>().ok()) {
            Some(n) if n > 1 => Self::Concurrent(n),
            _ => Self::OneAtATime,
        }
    }

    /// One thread when invocations come one at a time (nothing to share a core with); a worker
    /// per core when many run at once, so request CPU (JSON, signing, TLS) spreads over the
    /// instance's vCPUs. Password hashing runs on the blocking pool either way.
    pub fn runtime(self) -> io::Result<tokio::runtime::Runtime> {
        match self {
            Self::OneAtATime => tokio::runtime::Builder::new_current_thread(),
            Self::Concurrent(_) => tokio::runtime::Builder::new_multi_thread(),
        }
        .enable_all()
        .build()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concurrent_only_above_one() {
        assert_eq!(Mode::parse(None), Mode::OneAtATime);
        assert_eq!(Mode::parse(Some("1")), Mode::OneAtATime);
        assert_eq!(Mode::parse(Some("0")), Mode::OneAtATime);
        assert_eq!(Mode::parse(Some("eight")), Mode::OneAtATime);
        assert_eq!(Mode::parse(Some("32")), Mode::Concurrent(32));
    }

    #[test]
    fn each_mode_builds_its_runtime() {
        let one = Mode::OneAtATime.runtime().expect("current thread");
        assert_eq!(
            one.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::CurrentThread
        );
        let many = Mode::Concurrent(8).runtime().expect("multi thread");
        assert_eq!(
            many.handle().runtime_flavor(),
            tokio::runtime::RuntimeFlavor::MultiThread
        );
    }
}
