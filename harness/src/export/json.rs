//! One JSON array of all cells, written at the end.

use super::Exporter;
use crate::results::CellResult;

pub struct Json;

impl Exporter for Json {
    fn finish(&self, cells: &[CellResult]) -> Vec<u8> {
        let mut v = serde_json::to_vec_pretty(cells).expect("results serialise");
        v.push(b'\n');
        v
    }
}
