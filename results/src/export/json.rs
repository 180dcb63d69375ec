//! One JSON array of all cells (failed ones after them, then pair ratios), written at the end.

use super::Exporter;
use crate::schema::Kept;

pub struct Json;

impl Exporter for Json {
    fn finish(&self, set: &Kept) -> Vec<u8> {
        let all: Vec<serde_json::Value> = set
            .cells
            .iter()
            .map(serde_json::to_value)
            .chain(set.failed.iter().map(serde_json::to_value))
            .chain(set.ratios.iter().map(serde_json::to_value))
            .collect::<Result<_, _>>()
            .expect("results serialise");
        let mut v = serde_json::to_vec_pretty(&all).expect("results serialise");
        v.push(b'\n');
        v
    }
}
