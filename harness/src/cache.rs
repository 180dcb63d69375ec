//! slmbench's cache folder: fetched runtimes and plugins, built preset pairs, measured host
//! limits. One place, whatever uses it.

use std::path::PathBuf;

/// An environment variable's value, unless unset or blank.
pub(crate) fn env_nonempty(key: &str) -> Option<String> {
    std::env::var(key).ok().filter(|v| !v.trim().is_empty())
}

/// The cache folder: `SLMBENCH_CACHE_DIR`, else the platform's user cache.
pub fn cache_dir() -> PathBuf {
    if let Some(d) = env_nonempty("SLMBENCH_CACHE_DIR") {
        return PathBuf::from(d);
    }
    if let Some(d) = env_nonempty("XDG_CACHE_HOME") {
        return PathBuf::from(d).join("slmbench");
    }
    if cfg!(windows)
        && let Some(d) = env_nonempty("LOCALAPPDATA")
    {
        return PathBuf::from(d).join("slmbench");
    }
    if cfg!(target_os = "macos")
        && let Some(h) = env_nonempty("HOME")
    {
        return PathBuf::from(h).join("Library/Caches/slmbench");
    }
    match env_nonempty("HOME") {
        Some(h) => PathBuf::from(h).join(".cache/slmbench"),
        None => std::env::temp_dir().join("slmbench-cache"),
    }
}
