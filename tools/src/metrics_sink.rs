//! The local programs' metrics: the same CloudWatch EMF recorder the Lambdas install, flushed every
//! second into `<dir>/<program>.emf.jsonl` instead of a Lambda log stream. The `/ops` page of the
//! local gateway reads those files ([`crate::ops_page`]).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use shop_shared::telemetry;

/// Where `make dev` keeps the documents (relative to the repository root), unless `SHOP_METRICS_DIR`.
pub const DEFAULT_DIR: &str = ".local/metrics";

pub fn dir_from_env() -> PathBuf {
    std::env::var_os("SHOP_METRICS_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(DEFAULT_DIR))
}

#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("cannot create {0}: {1}")]
    Dir(PathBuf, std::io::Error),
    #[error("a metrics recorder is already installed: {0}")]
    Recorder(String),
}

/// Installs the recorder (dimension `function` = `program`) and a task flushing it to the file every
/// second. Call once per process, inside a tokio runtime.
pub fn install(program: &str, dir: &Path) -> Result<(), SinkError> {
    std::fs::create_dir_all(dir).map_err(|e| SinkError::Dir(dir.to_owned(), e))?;
    let collector = metrics_cloudwatch_embedded::Builder::new()
        .cloudwatch_namespace(telemetry::NAMESPACE)
        .with_dimension(telemetry::FUNCTION_DIMENSION, program.to_owned())
        .init()
        .map_err(|e| SinkError::Recorder(e.to_string()))?;
    telemetry::describe();
    let path = dir.join(format!("{program}.emf.jsonl"));
    tokio::spawn(async move {
        // Often enough that the histograms' per-flush budget (telemetry::HISTOGRAM_VALUES_PER_FLUSH)
        // samples little at local loads.
        let mut tick = tokio::time::interval(Duration::from_millis(250));
        loop {
            tick.tick().await;
            let mut buf = Vec::new();
            let flushed = collector.flush(&mut buf);
            telemetry::flushed();
            if flushed.is_err() || buf.is_empty() {
                continue;
            }
            let written = std::fs::OpenOptions::new()
                .create(true)
                .append(true)
                .open(&path)
                .and_then(|mut f| f.write_all(&buf));
            if let Err(e) = written {
                tracing::warn!(error = %e, path = %path.display(), "metrics: cannot write");
            }
        }
    });
    Ok(())
}
