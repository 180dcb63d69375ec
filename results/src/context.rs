//! The run's context recorded with every result: suite build, runtime, host, time. (Collected by
//! the harness, which knows the runtime; only the record and the time format live here.)

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Context {
    pub suite_version: String,
    pub suite_commit: String,
    /// `release` or `debug`; debug numbers are not comparable (a warning says so).
    pub build_profile: String,
    pub ort_version: String,
    pub ort_build_info: String,
    pub ort_library: String,
    pub cpu_model: String,
    pub cpu_logical_cores: usize,
    /// Physical cores, where the OS says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cpu_physical_cores: Option<usize>,
    pub cpu_mhz: Option<f64>,
    pub memory_bytes: Option<u64>,
    pub os: String,
    pub arch: String,
    pub time_rfc3339: String,
    /// The command line that produced the results.
    pub command: String,
    pub warnings: Vec<String>,
    /// Set when the test hook `SLMBENCH_TEST_DELAY_US` slowed every decode step on purpose (debug
    /// builds only; a release build has no such hook): these timings are not measurements.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub test_delay_us: Option<u64>,
    /// The user's name for the device (`--device-name`, `SLMBENCH_DEVICE_NAME`): part of the
    /// machine's identity, so two boards of one model are told apart.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_name: Option<String>,
    /// The scenario the run followed (`run --scenario`), with its file's hash: which workload it
    /// measured, so that records of two devices can be said to be of the same thing.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scenario: Option<crate::scenario::ScenarioId>,
}

impl Context {
    /// The machine, as [`crate::identity::Machine`] writes it: the device name when there is
    /// one, then CPU, cores, memory (GiB), OS and architecture. Baselines and the run history are
    /// keyed by it.
    pub fn fingerprint(&self) -> String {
        crate::identity::Machine::of(self).to_string()
    }

    /// Total memory in whole GiB (0 when unknown).
    pub fn memory_gib(&self) -> u64 {
        self.memory_bytes.map(|b| (b as f64 / (1u64 << 30) as f64).round() as u64).unwrap_or(0)
    }

    /// The fingerprint as a file-name-safe slug (baselines are named by it).
    pub fn machine_slug(&self) -> String {
        let mut slug = String::new();
        for ch in self.fingerprint().to_ascii_lowercase().chars() {
            let ch = if ch.is_ascii_alphanumeric() { ch } else { '-' };
            if !(ch == '-' && slug.ends_with('-')) {
                slug.push(ch);
            }
        }
        slug.trim_matches('-').to_string()
    }
}

/// The testing aid `SLMBENCH_TEST_DELAY_US` (microseconds added to every decode step, so tests of
/// signals and gates have slow cells). It exists only in debug builds, so no release measurement
/// can be slowed by it; where it acts, every result records it and carries a warning.
#[cfg(debug_assertions)]
pub fn test_delay_us() -> Option<u64> {
    std::env::var("SLMBENCH_TEST_DELAY_US").ok().and_then(|v| v.parse::<u64>().ok()).filter(|&d| d > 0)
}

/// Testing aid (debug builds only, like [`test_delay_us`]): sleeps `SLMBENCH_TEST_<WHAT>_PAUSE_MS`
/// milliseconds at a named point outside any timed region (`LOAD`: before sessions are created,
/// `REPORT`: between report files, `HISTORY`: after each record of a history import, inside its
/// transaction), so tests can land a signal or a kill there.
#[cfg(debug_assertions)]
pub fn test_pause(what: &str) {
    if let Some(ms) = std::env::var(format!("SLMBENCH_TEST_{what}_PAUSE_MS")).ok().and_then(|v| v.parse::<u64>().ok()) {
        std::thread::sleep(std::time::Duration::from_millis(ms));
    }
}

#[cfg(not(debug_assertions))]
pub fn test_pause(_what: &str) {}

/// Release builds have no timing hook at all.
#[cfg(not(debug_assertions))]
pub fn test_delay_us() -> Option<u64> {
    None
}

/// RFC 3339 UTC time from the system clock (days-from-civil, no time-zone database needed).
pub fn rfc3339_now() -> String {
    let secs = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map(|d| d.as_secs()).unwrap_or(0);
    let days = (secs / 86_400) as i64;
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = if m <= 2 { y + 1 } else { y };
    format!("{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z", rem / 3600, rem % 3600 / 60, rem % 60)
}

#[cfg(test)]
mod tests {
    #[test]
    fn rfc3339_shape() {
        let t = super::rfc3339_now();
        assert_eq!(t.len(), 20, "{t}");
        assert!(t.starts_with("20") && t.ends_with('Z') && &t[10..11] == "T", "{t}");
    }
}
