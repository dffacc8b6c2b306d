//! The reconciler as its schedule runs it: again a minute later while a run left something for
//! the next one (here: once the tests' 2 s leases have run out).

use std::time::Duration;

use shop_shared::services::reconciler::Report;

use super::TestApp;

/// Runs after the first that a record may need (a gateway or store call that timed out on a
/// loaded machine leaves its record for the next run).
const RUNS: usize = 5;

/// Runs the reconciler, each run after the leases it took have run out, until a run leaves
/// nothing for the next. Returns what all runs did; `deferred` is what the last one left.
pub async fn until_settled(app: &TestApp) -> Report {
    let mut total = Report::default();
    for _ in 0..RUNS {
        tokio::time::sleep(Duration::from_secs(3)).await;
        let run = shop_functions::handlers::reconciler::run_wired(app.ctx())
            .await
            .expect("reconciler wiring");
        total.examined += run.examined;
        total.credited += run.credited;
        total.failed += run.failed;
        total.voided += run.voided;
        total.released += run.released;
        total.skipped += run.skipped;
        total.deferred = run.deferred;
        if run.deferred == 0 {
            break;
        }
    }
    total
}
