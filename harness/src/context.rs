//! The run's context recorded with every result, collected here (the record itself is
//! `slmbench_results::context::Context`).

use slmbench_results::context::{Context, rfc3339_now, test_delay_us};

use crate::onnxruntime::runtime;

/// A `key: value` line of a `/proc` file (Linux only: the peak-memory mark).
fn proc_field(file: &str, key: &str) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    text.lines().find(|l| l.starts_with(key)).and_then(|l| l.split_once(':')).map(|(_, v)| v.trim().to_string())
}

/// Collects the context; loads the runtime if it is not loaded yet. `device_name` is the user's
/// label for this machine (`--device-name`).
pub fn collect(command: String, device_name: Option<String>) -> Context {
    let debug = cfg!(debug_assertions);
    let mut warnings = vec![];
    if debug {
        warnings.push(
            "debug build: timings include unoptimised harness code; build with --release for comparable numbers"
                .to_string(),
        );
    }
    let test_delay_us = test_delay_us();
    if let Some(d) = test_delay_us {
        warnings.push(format!(
            "SLMBENCH_TEST_DELAY_US={d}: a test hook slowed every decode step by {d} µs on purpose; \
                 these timings are not measurements"
        ));
    }
    let cpu = crate::host::cpu();
    Context {
        suite_version: env!("CARGO_PKG_VERSION").to_string(),
        suite_commit: env!("SLMBENCH_COMMIT").to_string(),
        build_profile: if debug { "debug" } else { "release" }.to_string(),
        ort_version: runtime::version().unwrap_or("unknown").to_string(),
        ort_build_info: runtime::environment().map(|_| ort::info().to_string()).unwrap_or_default(),
        ort_library: runtime::loaded_library().map(|l| l.path.display().to_string()).unwrap_or_default(),
        cpu_model: cpu.model.unwrap_or_else(|| std::env::consts::ARCH.to_string()),
        cpu_logical_cores: cpu.logical_cores,
        cpu_physical_cores: cpu.physical_cores,
        cpu_mhz: cpu.mhz,
        memory_bytes: crate::host::total_memory(),
        os: std::env::consts::OS.to_string(),
        arch: std::env::consts::ARCH.to_string(),
        time_rfc3339: rfc3339_now(),
        command,
        warnings,
        test_delay_us,
        device_name,
        scenario: None,
    }
}

/// Resets the process's peak-RSS mark (Linux), so the next reading is this cell's own.
pub fn reset_peak_rss() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size since the last reset (Linux `VmHWM`).
pub fn peak_rss_bytes() -> Option<u64> {
    proc_field("/proc/self/status", "VmHWM")
        .and_then(|v| v.trim_end_matches("kB").trim().parse::<u64>().ok())
        .map(|kb| kb * 1024)
}
