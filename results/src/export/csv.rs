//! CSV: one row per cell of the headline numbers (raw samples stay in the JSON formats), the CSV
//! view of [`crate::table::COLUMNS`], written by the `csv` crate (RFC 4180 quoting).

use super::Exporter;
use crate::schema::CellResult;
use crate::table;

pub struct Csv;

fn record<I: IntoIterator<Item = String>>(fields: I) -> Vec<u8> {
    let mut w = csv::WriterBuilder::new().terminator(csv::Terminator::Any(b'\n')).from_writer(vec![]);
    // Writing into memory cannot fail.
    w.write_record(fields).expect("CSV into memory");
    w.into_inner().expect("CSV into memory")
}

impl Exporter for Csv {
    fn header(&self) -> Vec<u8> {
        record(table::view(|c| c.csv).map(|(h, _)| h.to_string()))
    }

    fn cell(&self, c: &CellResult) -> Option<Vec<u8>> {
        Some(record(table::view(|col| col.csv).map(|(_, col)| (col.raw)(c).unwrap_or_default())))
    }
}
