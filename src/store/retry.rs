//! Transient D1 failures, and the one retry of an operation that is safe to repeat.
//!
//! D1's documentation lists the failures to retry ("Retry the operation", List of D1_ERRORs,
//! developers.cloudflare.com/d1/observability/debug-d1/): the database's Durable Object was
//! restarted or reset, or the network between the Worker and it dropped. Their messages
//! contain one of [`TRANSIENT_MESSAGES`]. The others (a statement refused, the database
//! overloaded, a query over its time, memory or CPU limit) are not retried: repeating them at
//! once would fail again or add to the load.
//!
//! Retrying is safe only for an operation whose second run answers what the first did, even
//! when the first committed and only its answer was lost ("Network connection lost" may come
//! after the commit). Which operations those are is the store's to say
//! ([`Database`](super::Database): reads, and the `*_repeatable` writes); the executor
//! retries them once ([`once_more`]), and everything else fails at once as a 503.

use std::future::Future;

use super::StoreError;

/// Parts of the messages of the failures D1 documents as transient, to be retried: "Network
/// connection lost.", "Internal error while starting up D1 DB storage caused object to be
/// reset.", "Internal error in D1 DB storage caused object to be reset.", "D1 DB reset because
/// its code was updated.", "Cannot resolve D1 DB due to transient issue on remote node."
pub const TRANSIENT_MESSAGES: [&str; 4] = [
    "Network connection lost",
    "storage caused object to be reset",
    "reset because its code was updated",
    "transient issue on remote node",
];

/// Whether D1's error `message` is one of the failures its documentation says to retry.
pub fn is_transient(message: &str) -> bool {
    TRANSIENT_MESSAGES
        .iter()
        .any(|transient| message.contains(transient))
}

/// A failed D1 call as a store error: [`StoreError::Transient`] when `message` is one of
/// D1's transient failures, [`StoreError::Database`] otherwise.
pub fn classify(message: String) -> StoreError {
    if is_transient(&message) {
        StoreError::Transient(message)
    } else {
        StoreError::Database(message)
    }
}

/// Runs `operation`, and once more when it fails with a transient error (after
/// `before_retry`, given the cause: a log line and a short pause). The second failure, of
/// whatever kind, is the answer: one retry, never a loop.
pub async fn once_more<T, Op, Fut, Pause, PauseFut>(
    mut operation: Op,
    before_retry: Pause,
) -> Result<T, StoreError>
where
    Op: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
    Pause: FnOnce(&str) -> PauseFut,
    PauseFut: Future<Output = ()>,
{
    match operation().await {
        Err(StoreError::Transient(cause)) => {
            before_retry(&cause).await;
            operation().await
        }
        answer => answer,
    }
}

#[cfg(test)]
mod tests {
    use std::cell::{Cell, RefCell};

    use super::*;
    use crate::store::sqlite::block_on;

    #[test]
    fn d1s_documented_transient_failures_are_recognised() {
        for message in [
            "D1_ERROR: Network connection lost.",
            "D1_ERROR: Internal error while starting up D1 DB storage caused object to be reset.",
            "D1_ERROR: Internal error in D1 DB storage caused object to be reset.",
            "D1_ERROR: D1 DB reset because its code was updated.",
            "D1_ERROR: Cannot resolve D1 DB due to transient issue on remote node.",
            "D1: Error: Network connection lost.",
        ] {
            assert!(is_transient(message), "{message}");
            assert!(matches!(classify(message.into()), StoreError::Transient(_)));
        }
        for message in [
            "D1_ERROR: D1 DB is overloaded. Too many requests queued.",
            "D1_ERROR: D1 DB is overloaded. Requests queued for too long.",
            "D1_ERROR: D1 DB storage operation exceeded timeout which caused object to be reset.",
            "D1_ERROR: D1 DB exceeded its CPU time limit and was reset.",
            "D1_ERROR: D1 DB's isolate exceeded its memory limit and was reset.",
            "D1_ERROR: UNIQUE constraint failed: user_tokens.token_hash: SQLITE_CONSTRAINT",
            "D1: injected fault (fault-injection build)",
        ] {
            assert!(!is_transient(message), "{message}");
            assert!(matches!(classify(message.into()), StoreError::Database(_)));
        }
    }

    /// An operation that answers `answers` in turn, counting its runs.
    fn scripted(
        answers: Vec<Result<u32, StoreError>>,
    ) -> (Cell<usize>, RefCell<Vec<Result<u32, StoreError>>>) {
        (Cell::new(0), RefCell::new(answers))
    }

    fn run(answers: Vec<Result<u32, StoreError>>) -> (Result<u32, StoreError>, usize, Vec<String>) {
        let (runs, answers) = scripted(answers);
        let paused = RefCell::new(Vec::new());
        let answer = block_on(once_more(
            || {
                runs.set(runs.get() + 1);
                let next = answers.borrow_mut().remove(0);
                async move { next }
            },
            |cause| {
                paused.borrow_mut().push(cause.to_owned());
                async {}
            },
        ));
        (answer, runs.get(), paused.into_inner())
    }

    fn transient() -> StoreError {
        StoreError::Transient("D1_ERROR: Network connection lost.".into())
    }

    #[test]
    fn a_transient_failure_is_retried_once() {
        let (answer, runs, paused) = run(vec![Err(transient()), Ok(7)]);
        assert_eq!(answer, Ok(7));
        assert_eq!(runs, 2);
        assert_eq!(paused, ["D1_ERROR: Network connection lost."]);
        // Twice transient: the second failure is the answer; no third run.
        let (answer, runs, _) = run(vec![Err(transient()), Err(transient()), Ok(7)]);
        assert_eq!(answer, Err(transient()));
        assert_eq!(runs, 2);
    }

    #[test]
    fn success_and_other_failures_are_not_retried() {
        let (answer, runs, paused) = run(vec![Ok(1), Ok(2)]);
        assert_eq!((answer, runs), (Ok(1), 1));
        assert!(paused.is_empty());
        let refused = StoreError::Database("D1_ERROR: D1 DB is overloaded.".into());
        let (answer, runs, _) = run(vec![Err(refused.clone()), Ok(2)]);
        assert_eq!((answer, runs), (Err(refused), 1));
        let bad = StoreError::BadRecord("no such column".into());
        let (answer, runs, _) = run(vec![Err(bad.clone()), Ok(2)]);
        assert_eq!((answer, runs), (Err(bad), 1));
    }
}
