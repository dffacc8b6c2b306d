//! Passwords are stored only as argon2id PHC strings (salted, slow).
//!
//! Each hash takes [`HASH_MIB`] of memory and a core for tens of milliseconds, so one process
//! (a Lambda serving many invocations at once, the local gateway) runs at most [`hash_slots`] at
//! a time; a request waits for a slot no longer than its time for retries allows, and is then
//! told to try again (nothing changed). The hashes' buffers are returned to the OS when freed.

use std::sync::LazyLock;
use std::time::Duration;

use argon2::password_hash::{
    rand_core::OsRng, PasswordHash, PasswordHasher, PasswordVerifier, SaltString,
};
use argon2::Argon2;
use thiserror::Error;
use tokio::sync::Semaphore;

#[derive(Debug, Error)]
pub enum HashError {
    /// Every hashing slot stayed busy for the request's whole time: nothing was checked.
    #[error("every password hashing slot is busy")]
    Busy,
    #[error("password hashing failed: {0}")]
    Failed(String),
}

/// Memory of one argon2id hash with the crate's default parameters (m = 19,456 KiB), rounded up.
pub const HASH_MIB: u64 = 20;
/// What a function keeps for everything else (runtime, clients, buffers) before sizing the slots.
pub const RESERVED_MIB: u64 = 48;
/// How long a caller without a request deadline (set-up, tools) waits for a slot.
const UNBOUNDED_WAIT: Duration = Duration::from_secs(30);

/// Concurrent hashes this process allows: one per core (more only queue for the CPU), and no
/// more than the function's memory (`AWS_LAMBDA_FUNCTION_MEMORY_SIZE`, MiB) holds after
/// [`RESERVED_MIB`]; at least one.
pub fn hash_slots() -> usize {
    let cores = std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get);
    let memory = std::env::var("AWS_LAMBDA_FUNCTION_MEMORY_SIZE")
        .ok()
        .and_then(|m| m.parse::<u64>().ok());
    slots_for(cores, memory)
}

fn slots_for(cores: usize, memory_mib: Option<u64>) -> usize {
    let by_memory = memory_mib.map_or(usize::MAX, |m| {
        usize::try_from(m.saturating_sub(RESERVED_MIB) / HASH_MIB).unwrap_or(usize::MAX)
    });
    cores.min(by_memory).max(1)
}

static SLOTS: LazyLock<Semaphore> = LazyLock::new(|| {
    return_large_allocations();
    Semaphore::new(hash_slots())
});

/// glibc raises its mmap threshold after the first large free, so the 19 MiB hash buffers would
/// then come from (and stay in) per-thread arenas: a login burst would leave the process hundreds
/// of MiB larger for good. A fixed threshold keeps every buffer that size mmapped, returned to the
/// OS on free.
fn return_large_allocations() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    // SAFETY: mallopt only sets an allocator parameter; it is called once, before any hash.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 1 << 20);
    }
}

/// Takes every free hashing slot while the permits live (tests: a process whose hashing is busy).
#[cfg(test)]
pub(crate) fn hold_every_slot() -> Vec<tokio::sync::SemaphorePermit<'static>> {
    std::iter::from_fn(|| SLOTS.try_acquire().ok()).collect()
}

/// Runs `work` on a blocking thread once a slot is free.
async fn in_a_slot<T: Send + 'static>(
    work: impl FnOnce() -> T + Send + 'static,
) -> Result<T, HashError> {
    let wait = crate::retry::retry_time_left().unwrap_or(UNBOUNDED_WAIT);
    let _slot = tokio::time::timeout(wait, SLOTS.acquire())
        .await
        .map_err(|_| HashError::Busy)?
        .map_err(|e| HashError::Failed(e.to_string()))?;
    tokio::task::spawn_blocking(work)
        .await
        .map_err(|e| HashError::Failed(e.to_string()))
}

/// Hashes on a blocking thread, in a slot: argon2id is deliberately slow.
pub async fn hash(password: String) -> Result<String, HashError> {
    in_a_slot(move || hash_blocking(&password)).await?
}

pub fn hash_blocking(password: &str) -> Result<String, HashError> {
    let salt = SaltString::generate(&mut OsRng);
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| HashError::Failed(e.to_string()))
}

/// Whether `password` matches the stored hash (`Err`: it could not be checked).
pub async fn verify(password: String, stored_hash: String) -> Result<bool, HashError> {
    in_a_slot(move || verify_blocking(&password, &stored_hash)).await
}

pub fn verify_blocking(password: &str, stored_hash: &str) -> bool {
    PasswordHash::new(stored_hash)
        .map(|h| {
            Argon2::default()
                .verify_password(password.as_bytes(), &h)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A valid hash of a random password: verifying against it costs as much as a real check,
/// so a login for an unknown email takes as long as one with a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_blocking(&uuid::Uuid::new_v4().to_string()).unwrap_or_default())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_and_verify() {
        let h = hash_blocking("correct horse").expect("hash");
        assert!(h.starts_with("$argon2id$"));
        assert!(verify_blocking("correct horse", &h));
        assert!(!verify_blocking("wrong horse", &h));
        assert!(!verify_blocking("correct horse", "not a hash"));
    }

    #[test]
    fn slots_follow_cores_and_memory() {
        assert_eq!(slots_for(2, None), 2, "no memory limit: one per core");
        assert_eq!(slots_for(8, Some(128)), 4, "128 MiB: (128 - 48) / 20");
        assert_eq!(
            slots_for(2, Some(1_769)),
            2,
            "one vCPU-worth of memory, two cores"
        );
        assert_eq!(slots_for(4, Some(64)), 1, "always one");
    }

    /// Many hashes at once never run more than the slots allow, and a request whose time runs
    /// out while waiting is told so instead of being checked late.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn concurrent_hashes_wait_for_a_slot_within_the_deadline() {
        let stored = hash_blocking("pw").expect("hash");
        let checks = (0..16).map(|_| {
            let stored = stored.clone();
            tokio::spawn(async move { verify("pw".into(), stored).await })
        });
        for check in futures::future::join_all(checks).await {
            assert!(check.expect("join").expect("checked"), "right password");
        }
        let busy: Vec<_> = (0..SLOTS.available_permits())
            .map(|_| SLOTS.try_acquire().expect("a free slot"))
            .collect();
        let late = crate::retry::with_deadline(
            Duration::from_millis(50),
            verify("pw".into(), stored.clone()),
        )
        .await;
        assert!(matches!(late, Err(HashError::Busy)), "{late:?}");
        drop(busy);
        assert!(verify("pw".into(), stored).await.expect("checked"));
    }
}
