//! What the report, the gate and the predictions compute from results: pairing and ratios
//! ([`pairs`]), cost curves ([`fit`]) and what they forecast ([`forecast`], [`predict`]), trends
//! across runs ([`trend`], [`ratio_change`]), and judging one run against another ([`compare`],
//! [`gate`]).

pub mod compare;
pub mod fit;
pub mod forecast;
pub mod gate;
pub mod pairs;
pub mod predict;
pub mod ratio_change;
pub mod trend;
