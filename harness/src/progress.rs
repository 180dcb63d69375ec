//! Progress on stderr: a redrawn bar (cell, repetition, ETA) on a terminal, plain lines otherwise.

use std::io::{IsTerminal, Write};
use std::time::Instant;

use crate::bench::Progress;

pub struct Bar {
    tty: bool,
    total_cells: usize,
    cell: usize,
    /// Cells the current line is about: 1, or 2 for a pair measured side by side.
    span: usize,
    label: String,
    started: Instant,
    cell_started: Instant,
}

fn fmt_secs(s: f64) -> String {
    if s >= 60.0 { format!("{}m{:02}s", (s / 60.0) as u64, (s % 60.0) as u64) } else { format!("{s:.0}s") }
}

impl Bar {
    pub fn new(total_cells: usize) -> Bar {
        Bar {
            tty: std::io::stderr().is_terminal(),
            total_cells,
            cell: 0,
            span: 1,
            label: String::new(),
            started: Instant::now(),
            cell_started: Instant::now(),
        }
    }

    fn eta(&self) -> String {
        if self.cell == 0 {
            return "?".into();
        }
        let per = self.started.elapsed().as_secs_f64() / self.cell as f64;
        fmt_secs(per * (self.total_cells - self.cell) as f64)
    }

    /// `cell 3/8`, or `cells 3–4/8` for a pair: the same words when it starts and when it ends.
    fn which(&self) -> String {
        let first = self.cell + 1;
        match self.span {
            1 => format!("cell {first}/{}", self.total_cells),
            n => format!("cells {first}–{}/{}", self.cell + n, self.total_cells),
        }
    }

    fn start(&mut self, label: String, span: usize) {
        self.label = label;
        self.span = span;
        self.cell_started = Instant::now();
        if !self.tty {
            eprintln!("slmbench: {}: {} (ETA {})", self.which(), self.label, self.eta());
        }
    }

    pub fn start_cell(&mut self, label: String) {
        self.start(label, 1);
    }

    /// The two cells of a pair, measured side by side: one line for both.
    pub fn start_pair(&mut self, label: String) {
        self.start(label, 2);
    }

    /// The cell (or pair) started last is done: counted, with its summary.
    pub fn end_cell(&mut self, summary: &str) {
        let which = self.which();
        self.cell += self.span;
        let took = fmt_secs(self.cell_started.elapsed().as_secs_f64());
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        eprintln!("slmbench: {which} done in {took}: {} — {summary}", self.label);
    }

    /// A cell that failed: counted as done, its error on its own line.
    pub fn fail_cell(&mut self, label: &str, error: &str) {
        self.span = 1;
        let which = self.which();
        self.cell += 1;
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        eprintln!("slmbench: {which} FAILED: {label} — {error}");
    }

    pub fn note(&mut self, text: &str) {
        if self.tty {
            eprint!("\r\x1b[2K");
        }
        eprintln!("slmbench: {text}");
    }
}

impl Progress for Bar {
    fn repetition(&mut self, done: usize, max: usize, warmup: bool) {
        if !self.tty {
            return;
        }
        let width = 24;
        let filled = (self.cell * width) / self.total_cells.max(1);
        let bar: String = (0..width).map(|i| if i < filled { '█' } else { '░' }).collect();
        let what = if warmup { "warm-up" } else { "rep" };
        eprint!("\r\x1b[2K{bar} {} {} | {what} {}/{} | ETA {}", self.which(), self.label, done + 1, max, self.eta());
        let _ = std::io::stderr().flush();
    }
}
