//! slmbench reports: read result files, pair encoder-decoder and decoder-only cells, draw charts,
//! write a self-contained HTML report, and compare two runs.

pub mod analysis;
pub mod backends;
pub mod charts;
pub mod compare;
pub mod dashboards;
pub mod error;
pub mod fit;
pub mod forecast;
pub mod gate;
mod history_html;
pub mod html;
mod html_fit;
mod html_pairs;
mod html_placement;
pub mod merge;
pub mod predict;
pub mod ratio_change;
pub mod read;
pub mod trend;
pub mod write;

pub use error::ReportError;
