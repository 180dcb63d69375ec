//! One JSON array of all cells (failed ones after them), written at the end.

use super::Exporter;
use crate::schema::{CellResult, FailedCell};

pub struct Json;

impl Exporter for Json {
    fn finish(&self, cells: &[CellResult], failed: &[FailedCell]) -> Vec<u8> {
        let all: Vec<serde_json::Value> = cells
            .iter()
            .map(serde_json::to_value)
            .chain(failed.iter().map(serde_json::to_value))
            .collect::<Result<_, _>>()
            .expect("results serialise");
        let mut v = serde_json::to_vec_pretty(&all).expect("results serialise");
        v.push(b'\n');
        v
    }
}
