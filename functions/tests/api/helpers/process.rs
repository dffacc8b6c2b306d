//! Tests that install what a process has only once and then count what the whole process did: the
//! global tracing subscriber (the Lambda runtime's installer panics when one is set, and every
//! [`TestApp`](super::TestApp) sets the test writer's), the `metrics` recorder (installed once per
//! process; the assertions count every metric recorded after it), environment variables (set while
//! other threads read theirs). In the binary every test shares, such a test runs again alone, in a
//! child process of this binary, and reports the child's result.

use std::process::Command;

use super::stack::Hold;

/// Set in the child: the one test it runs.
const CHILD: &str = "SHOP_TEST_OWN_PROCESS";

/// Whether `test` (its name in this binary, `module::function`) already ran in a process of its
/// own and passed: then the caller returns at once. `false` in that process, where the caller runs
/// its body.
pub async fn ran_in_own_process(test: &str) -> bool {
    if std::env::var(CHILD).is_ok_and(|t| t == test) {
        return false;
    }
    // The child's app is one more user of the stack; it holds its share from here.
    let _stack = Hold::share().await;
    let mut child = Command::new(std::env::current_exe().expect("this test binary"));
    child
        .args([test, "--exact", "--nocapture", "--test-threads=1"])
        .env(CHILD, test);
    let out = tokio::task::spawn_blocking(move || child.output())
        .await
        .expect("join")
        .expect("run this test binary");
    let stdout = String::from_utf8_lossy(&out.stdout);
    print!("{stdout}");
    eprint!("{}", String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "{test} failed in its own process");
    assert!(
        stdout.contains("test result: ok. 1 passed"),
        "{test}: not one test of this binary"
    );
    true
}
