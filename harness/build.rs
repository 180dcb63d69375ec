//! Records the suite's git commit for the results' context, marked `+dirty` when tracked files
//! differed from it when this ran (a build of uncommitted code must not pass for the commit).
fn main() {
    let git = |args: &[&str]| {
        std::process::Command::new("git")
            .args(args)
            .output()
            .ok()
            .filter(|o| o.status.success())
            .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
    };
    let commit = match git(&["rev-parse", "--short=12", "HEAD"]) {
        Some(c) if git(&["status", "--porcelain", "--untracked-files=no"]).is_some_and(|s| !s.is_empty()) => {
            format!("{c}+dirty")
        }
        Some(c) => c,
        None => "unknown".into(),
    };
    println!("cargo:rustc-env=SLMBENCH_COMMIT={commit}");
    println!("cargo:rerun-if-changed=../.git/HEAD");
    println!("cargo:rerun-if-changed=../.git/refs/heads");
    // Staging or committing rewrites the index: the dirty mark is looked at again then.
    println!("cargo:rerun-if-changed=../.git/index");
}
