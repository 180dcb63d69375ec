//! A real headless Chromium (Debian's `chromium`; `.ci/run` installs it) for the tests that
//! read the rendered report: its DOM after a probe script ran, its log, a screenshot.

use std::path::{Path, PathBuf};
use std::process::Command;

pub fn chromium() -> PathBuf {
    for c in ["chromium", "chromium-browser", "google-chrome"] {
        if let Ok(out) = Command::new("which").arg(c).output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!("no Chromium found: install Debian's `chromium` package (.ci/run does) to run the report's browser test");
}

pub fn browser(args: &[&str], page: &Path) -> std::process::Output {
    let profile = tempfile::tempdir().unwrap();
    Command::new(chromium())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.path().display()))
        .args(args)
        .arg(format!("file://{}", page.display()))
        .output()
        .unwrap()
}

pub fn probe_json(dom: &str) -> serde_json::Value {
    let start = dom.find("<pre id=\"probe\">").expect("probe ran") + "<pre id=\"probe\">".len();
    let end = start + dom[start..].find("</pre>").unwrap();
    let text = dom[start..end].replace("&quot;", "\"").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&");
    serde_json::from_str(&text).unwrap()
}

pub fn console_errors(log: &str) -> Vec<&str> {
    log.lines()
        .filter(|l| l.contains("CONSOLE") || l.contains("Uncaught") || l.contains("ERR_FILE_NOT_FOUND"))
        .collect()
}

/// Loads `page` with `script` (JavaScript that sets `out`) appended; the value it set.
pub fn probe_with(page: &Path, script: &str) -> serde_json::Value {
    let html = std::fs::read_to_string(page).unwrap();
    let script = format!(
        "<script>(() => {{ let out; {script}; const pre = document.createElement('pre'); pre.id = 'probe'; \
         pre.textContent = JSON.stringify(out); document.body.appendChild(pre); }})();</script>"
    );
    let probed = page.with_file_name("probed.html");
    std::fs::write(&probed, html.replace("</body>", &format!("{script}</body>"))).unwrap();
    let out = browser(&["--dump-dom"], &probed);
    let log = String::from_utf8_lossy(&out.stderr);
    assert!(console_errors(&log).is_empty(), "console errors: {:?}", console_errors(&log));
    probe_json(&String::from_utf8_lossy(&out.stdout))
}
