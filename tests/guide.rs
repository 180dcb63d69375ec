//! The user guide (`docs/`) against the binary: its CLI reference is the binary's own help, every
//! `slmbench` command it (or the README) shows parses, the `tiny` ones run as written, and every
//! internal link resolves. `SLMBENCH_BLESS=1 cargo test --test guide` rewrites `docs/src/cli.md`.

mod common;

use std::path::{Path, PathBuf};

use common::*;

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The Markdown files a reader follows links through.
fn pages() -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(root().join("docs/src"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    v.sort();
    for extra in ["README.md", "ci/README.md", "reports/published/README.md"] {
        v.push(root().join(extra));
    }
    v
}

fn help(args: &[&str]) -> String {
    let o = slmbench(&root()).args(args).arg("--help").output().unwrap();
    ok(&o);
    stdout(&o)
}

/// The subcommands a help text lists under `Commands:` (`help` left out).
fn subcommands(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|l| !l.starts_with("Commands:"))
        .skip(1)
        .take_while(|l| l.starts_with("  "))
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .filter(|c| c != "help")
        .collect()
}

/// `docs/src/cli.md` as the binary's help makes it.
fn reference() -> String {
    let mut s = String::from(
        "# CLI reference\n\nEvery command's `--help`, generated from the binary by `tests/guide.rs` (a test fails \
         when this page is stale; `SLMBENCH_BLESS=1 cargo test --test guide` rewrites it).\n",
    );
    let mut todo: Vec<Vec<String>> = vec![vec![]];
    while let Some(path) = todo.pop() {
        let args: Vec<&str> = path.iter().map(String::as_str).collect();
        let text = help(&args);
        s.push_str(&format!("\n## slmbench {}\n\n```text\n{}```\n", args.join(" "), text));
        let subs = subcommands(&text);
        for c in subs.into_iter().rev() {
            let mut p = path.clone();
            p.push(c);
            todo.push(p);
        }
    }
    s.replace("## slmbench \n", "## slmbench\n")
}

#[test]
fn the_cli_reference_is_the_binarys_help() {
    let want = reference();
    let path = root().join("docs/src/cli.md");
    if std::env::var_os("SLMBENCH_BLESS").is_some() {
        std::fs::write(&path, &want).unwrap();
    }
    let have = std::fs::read_to_string(&path).unwrap_or_default();
    assert!(
        have == want,
        "docs/src/cli.md is stale (a flag or command changed): run `SLMBENCH_BLESS=1 cargo test --test guide` and commit it"
    );
}

/// The arguments of a shell line, quotes removed, up to a `#` comment; `[…]` marks an optional
/// part in the guide's notation and is dropped.
fn words(line: &str) -> Vec<String> {
    let (mut out, mut cur, mut quote, mut any) = (vec![], String::new(), None, false);
    for ch in line.chars() {
        match (quote, ch) {
            (None, '#') if !any => break,
            (None, '"' | '\'') => (quote, any) = (Some(ch), true),
            (Some(q), c) if c == q => quote = None,
            (None, c) if c.is_whitespace() => {
                if any {
                    out.push(std::mem::take(&mut cur));
                }
                any = false;
            }
            (_, c) => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out.into_iter().filter(|w| !w.starts_with('[') && !w.ends_with(']')).collect()
}

/// Every command line of the `sh` blocks of `page` that runs slmbench: (line number, arguments).
fn commands(page: &Path) -> Vec<(usize, Vec<String>)> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut fence = false;
    let mut out = vec![];
    for (i, l) in text.lines().enumerate() {
        if l.starts_with("```") {
            fence = l.trim() == "```sh";
            continue;
        }
        let t = l.trim_start();
        let rest = t.strip_prefix("slmbench ").or_else(|| t.strip_prefix("cargo run --release -- "));
        if let (true, Some(rest)) = (fence, rest) {
            out.push((i + 1, words(rest)));
        }
    }
    out
}

#[test]
fn every_command_the_guide_shows_parses() {
    let mut n = 0;
    for page in pages() {
        for (line, args) in commands(&page) {
            let o = slmbench(&root()).env("SLMBENCH_TEST_PARSE_ONLY", "1").args(&args).output().unwrap();
            assert!(
                o.status.success(),
                "{}:{line}: `slmbench {}` does not parse:\n{}",
                page.display(),
                args.join(" "),
                stderr(&o)
            );
            n += 1;
        }
    }
    assert!(n >= 30, "only {n} commands found: the guide's blocks are ```sh");
}

#[test]
fn the_tiny_commands_run_as_written() {
    let page = root().join("docs/src/getting-started.md");
    let dir = tempfile::tempdir().unwrap();
    let tiny: Vec<_> = commands(&page).into_iter().filter(|(_, a)| a.iter().any(|w| w.contains("tiny"))).collect();
    assert!(tiny.len() >= 4, "{tiny:?}");
    for (line, args) in tiny {
        let o = slmbench(dir.path()).args(&args).output().unwrap();
        assert!(o.status.success(), "getting-started.md:{line}: `slmbench {}` failed:\n{}", args.join(" "), stderr(&o));
    }
    assert!(dir.path().join("tiny.jsonl.report/index.html").is_file());
    assert!(dir.path().join("tiny-report/index.html").is_file());
}

/// mdBook's anchor of a heading: lower case, punctuation dropped, spaces as dashes.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            ' ' => Some('-'),
            c if c.is_alphanumeric() || c == '-' || c == '_' => Some(c),
            _ => None,
        })
        .collect()
}

fn anchors(page: &Path) -> Vec<String> {
    let text = std::fs::read_to_string(page).unwrap();
    let mut fence = false;
    let mut out = vec![];
    for l in text.lines() {
        if l.starts_with("```") {
            fence = !fence;
        } else if !fence && l.starts_with('#') {
            out.push(slug(l.trim_start_matches('#')));
        }
    }
    out
}

#[test]
fn every_internal_link_resolves() {
    let mut broken = vec![];
    let mut pages = pages();
    pages.push(root().join("docs/src/SUMMARY.md"));
    for page in pages {
        let text = std::fs::read_to_string(&page).unwrap();
        for (i, l) in text.lines().enumerate() {
            for part in l.split("](").skip(1) {
                let target = part.split(')').next().unwrap_or("");
                if target.contains("://") || target.starts_with("mailto:") || target.is_empty() {
                    continue;
                }
                let (file, anchor) = target.split_once('#').unwrap_or((target, ""));
                let file = if file.is_empty() { page.clone() } else { page.parent().unwrap().join(file) };
                let ok = file.exists()
                    && (anchor.is_empty()
                        || (file.extension().is_some_and(|x| x == "md")
                            && anchors(&file).contains(&anchor.to_string())));
                if !ok {
                    broken.push(format!("{}:{}: {target}", page.display(), i + 1));
                }
            }
        }
    }
    assert!(broken.is_empty(), "broken links:\n{}", broken.join("\n"));
}
