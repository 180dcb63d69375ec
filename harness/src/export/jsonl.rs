//! JSON Lines: one cell per line, written and flushed as each cell finishes.

use super::Exporter;
use crate::results::CellResult;

pub struct Jsonl;

impl Exporter for Jsonl {
    fn cell(&self, cell: &CellResult) -> Option<Vec<u8>> {
        let mut line = serde_json::to_vec(cell).expect("results serialise");
        line.push(b'\n');
        Some(line)
    }
}
