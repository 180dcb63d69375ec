//! The bottom of slmbench: the result schema (every version it reads), its writers (a crash-safe
//! journal, atomic files) and exporters, and the statistics. No inference runtime is inside, so
//! reading and reporting results never compiles one.

pub mod backends;
pub mod context;
pub mod ep;
pub mod error;
pub mod export;
pub mod identity;
pub mod memory;
pub mod metric;
pub mod model;
pub mod pair_ratio;
pub mod paired;
pub mod placement;
pub mod roofline;
pub mod scenario;
pub mod schema;
pub mod stats;
pub mod table;

pub use error::ResultsError;
