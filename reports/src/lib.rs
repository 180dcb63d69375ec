//! slmbench reports: read result files, pair encoder-decoder and decoder-only cells, draw charts,
//! write a self-contained HTML report, compare two runs, and bundle and check scenario runs.

pub mod analysis;
pub mod atlas;
pub mod bundle;
pub mod charts;
pub mod dashboards;
pub mod error;
pub mod html;
pub mod merge;
pub mod read;
pub mod write;

pub use error::ReportError;
