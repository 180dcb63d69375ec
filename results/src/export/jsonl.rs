//! JSON Lines: one record (cell, failed cell, pair ratio) per line, written and flushed as each
//! finishes.

use super::Exporter;
use crate::pair_ratio::PairRatio;
use crate::schema::{CellResult, FailedCell};

pub struct Jsonl;

impl Exporter for Jsonl {
    fn cell(&self, cell: &CellResult) -> Option<Vec<u8>> {
        let mut line = serde_json::to_vec(cell).expect("results serialise");
        line.push(b'\n');
        Some(line)
    }

    fn failed(&self, failed: &FailedCell) -> Option<Vec<u8>> {
        let mut line = serde_json::to_vec(failed).expect("results serialise");
        line.push(b'\n');
        Some(line)
    }

    fn ratio(&self, ratio: &PairRatio) -> Option<Vec<u8>> {
        let mut line = serde_json::to_vec(ratio).expect("results serialise");
        line.push(b'\n');
        Some(line)
    }
}
