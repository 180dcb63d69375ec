//! The records already in a results file that a sweep resumes: which cells to skip.

use std::collections::HashMap;

use slmbench_results::schema::Record;

/// The cells already in a results file being resumed (read by `ResultsWriter::resume`).
#[derive(Debug, Default)]
pub struct Done {
    /// Cell id → whether its record is a failure.
    pub ids: HashMap<String, bool>,
}

impl Done {
    /// The cells of records already read.
    pub fn from_records(records: &[Record]) -> Done {
        let mut done = Done::default();
        for r in records {
            let failed = matches!(r, Record::Failed(_));
            // A measured record wins over a failure of the same cell, whatever the order.
            let entry = done.ids.entry(r.cell_id().to_string()).or_insert(failed);
            *entry &= failed;
        }
        done
    }

    pub(crate) fn skip(&self, id: &str, retry_failed: bool) -> bool {
        match self.ids.get(id) {
            Some(&failed) => !(failed && retry_failed),
            None => false,
        }
    }
}
