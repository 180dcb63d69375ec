//! Reports: exporters, charts and the HTML report arrive with the reports issue.
