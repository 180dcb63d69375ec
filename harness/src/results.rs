//! The result schema lives in `slmbench-results`; this adds what needs the harness's types.

pub use slmbench_results::schema::*;

/// Settings of a cell on `backend` (at `version`) as requested: before any session exists, and as
/// recorded after it ran (providers are registered with `error_on_failure`, so none falls back to
/// another; where nodes actually ran is the cell's observed `placement`).
pub fn requested_settings(backend: &str, version: &str, s: &crate::session::SessionSettings) -> Settings {
    Settings {
        backend: backend.to_string(),
        backend_version: Some(version.to_string()),
        ep_requested: s.ep,
        ep_used: s.ep,
        ep_options: s.ep_options.clone(),
        threads: s.threads,
        graph_optimization: s.opt_level,
        intra_op_spinning: s.spinning,
        strict_placement: s.strict_placement,
        io_binding: s.io_binding,
        session_options: s.session_options.clone(),
        ep_context_cache: s.ep_context_cache,
        ep_plugin: crate::plugin::registered(s.ep).map(|p| p.source.clone()),
    }
}
