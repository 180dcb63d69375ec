//! slmbench reports: read result files, pair encoder-decoder and decoder-only cells, draw charts,
//! write a self-contained HTML report, and compare two runs.

pub mod analysis;
pub mod charts;
pub mod dashboards;
pub mod error;
pub mod html;
pub mod merge;
pub mod read;
pub mod write;

pub use error::ReportError;
