//! The `slmbench` command line: a thin layer over the models and harness crates.

mod cli;

use std::process::ExitCode;

fn main() -> ExitCode {
    match cli::run() {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("Error: {e:#}");
            ExitCode::from(cli::EXIT_USAGE)
        }
    }
}
