//! Turning what fails inside a cell (an error, or a panic) into a recorded failure, so one bad
//! model or bug fails its cells and the sweep goes on.

use slmbench_results::schema::FailureKind;

use crate::error::HarnessError;

pub(crate) fn kind_of(e: &HarnessError) -> FailureKind {
    match e {
        HarnessError::EpUnavailable { .. } | HarnessError::BadEpOption { .. } | HarnessError::UnknownEp { .. } => {
            FailureKind::Provider
        }
        _ => FailureKind::Model,
    }
}

/// Runs `f`, turning its error or a panic into a failure kind and message, so a bug or a bad
/// model fails one cell and the sweep goes on.
pub(crate) fn catch<T>(f: impl FnOnce() -> Result<T, HarnessError>) -> Result<T, (FailureKind, String)> {
    match std::panic::catch_unwind(std::panic::AssertUnwindSafe(f)) {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err((kind_of(&e), e.to_string())),
        Err(p) => {
            let what = p
                .downcast_ref::<&str>()
                .map(|s| s.to_string())
                .or_else(|| p.downcast_ref::<String>().cloned())
                .unwrap_or_else(|| "unknown panic".into());
            Err((FailureKind::Internal, format!("slmbench panicked: {what} (please report this)")))
        }
    }
}
