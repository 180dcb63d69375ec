//! Facts about the host from `sysinfo`, which reads them on Linux, macOS and Windows alike: CPU
//! model and frequency, cores, total and available memory (lowered to a cgroup's limit in
//! containers). The process's peak memory is read where the OS keeps a resettable mark (Linux
//! `VmHWM`); elsewhere results record none rather than a current figure called a peak.

use sysinfo::{CpuRefreshKind, System};

/// What the results record of the CPU.
#[derive(Debug, Clone, PartialEq)]
pub struct Cpu {
    /// Brand string, e.g. `AMD EPYC 7B13`; `None` where the OS does not say.
    pub model: Option<String>,
    pub mhz: Option<f64>,
    pub logical_cores: usize,
    pub physical_cores: Option<usize>,
}

pub fn cpu() -> Cpu {
    let mut s = System::new();
    s.refresh_cpu_list(CpuRefreshKind::nothing().with_frequency());
    let first = s.cpus().first();
    Cpu {
        model: first.map(|c| c.brand().trim().to_string()).filter(|b| !b.is_empty()),
        mhz: first.map(|c| c.frequency() as f64).filter(|&f| f > 0.0),
        logical_cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(s.cpus().len().max(1)),
        physical_cores: System::physical_core_count(),
    }
}

/// Total memory of the host, bytes (`None` where it cannot be read).
pub fn total_memory() -> Option<u64> {
    let mut s = System::new();
    s.refresh_memory();
    Some(s.total_memory()).filter(|&m| m > 0)
}

/// Bytes the host can still give this process: available memory, lowered to the cgroup's free
/// memory when a limit is set (containers). `None` where neither can be read (the memory guard
/// is then off, and says so).
pub fn available_memory() -> Option<u64> {
    let mut s = System::new();
    s.refresh_memory();
    let host = Some(s.available_memory()).filter(|&m| m > 0);
    let cgroup = s.cgroup_limits().map(|c| c.free_memory);
    match (host, cgroup) {
        (Some(a), Some(c)) => Some(a.min(c)),
        (a, c) => a.or(c),
    }
}

#[cfg(test)]
mod tests {
    /// On this (Linux) host every fact is readable.
    #[test]
    fn host_facts_are_read() {
        let c = super::cpu();
        assert!(c.logical_cores >= 1);
        if cfg!(target_os = "linux") {
            assert!(c.model.is_some(), "{c:?}");
            let (total, avail) = (super::total_memory().unwrap(), super::available_memory().unwrap());
            assert!(avail <= total && total > 1 << 28, "{avail} of {total}");
        }
    }
}
