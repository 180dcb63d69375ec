//! Sweep lists as llama-bench writes them: `a,b,c`, ranges `first-last` (step 1), `first-last+step`
//! and `first-last*factor`, mixed freely (`-p 16,64-256*2`).

use crate::error::HarnessError;

/// Most values one list may expand to (a typo like `1-1000000` is an error, not a week of work).
pub const MAX_VALUES: usize = 4096;

fn bad(flag: &str, text: &str, why: &str) -> HarnessError {
    HarnessError::BadInput(format!("{flag}: `{text}` {why}; write a,b,c or ranges like 16-128*2, 1-8+1"))
}

/// Parses a list of positive integers.
pub fn parse_usize_list(flag: &str, text: &str) -> Result<Vec<usize>, HarnessError> {
    let mut out = Vec::new();
    if text.trim().is_empty() {
        return Err(bad(flag, text, "is empty"));
    }
    for part in text.split(',') {
        let part = part.trim();
        let num = |s: &str| -> Result<usize, HarnessError> {
            let v = s.trim().parse::<usize>().map_err(|_| bad(flag, part, "is not a whole number"))?;
            if v == 0 { Err(bad(flag, part, "must be at least 1")) } else { Ok(v) }
        };
        match part.split_once('-') {
            None => out.push(num(part)?),
            Some((first, rest)) => {
                let first = num(first)?;
                let (last, step) = if let Some((l, f)) = rest.split_once('*') {
                    let f = num(f)?;
                    if f < 2 {
                        return Err(bad(flag, part, "needs a factor of at least 2"));
                    }
                    (num(l)?, Step::Mul(f))
                } else if let Some((l, s)) = rest.split_once('+') {
                    (num(l)?, Step::Add(num(s)?))
                } else {
                    (num(rest)?, Step::Add(1))
                };
                if last < first {
                    return Err(bad(flag, part, "ends before it starts"));
                }
                let mut v = first;
                while v <= last {
                    out.push(v);
                    if out.len() > MAX_VALUES {
                        return Err(bad(flag, part, &format!("expands to more than {MAX_VALUES} values")));
                    }
                    // Past usize::MAX the range is over (a fuzzed `MAX-MAX` overflowed here).
                    let next = match step {
                        Step::Add(s) => v.checked_add(s),
                        Step::Mul(f) => v.checked_mul(f),
                    };
                    match next {
                        Some(n) => v = n,
                        None => break,
                    }
                }
            }
        }
    }
    let mut seen = std::collections::HashSet::new();
    out.retain(|v| seen.insert(*v));
    Ok(out)
}

#[derive(Clone, Copy)]
enum Step {
    Add(usize),
    Mul(usize),
}

/// Parses a comma-separated list of names (no empty items).
pub fn parse_list(flag: &str, text: &str) -> Result<Vec<String>, HarnessError> {
    let items: Vec<String> = text.split(',').map(|s| s.trim().to_string()).collect();
    if items.iter().any(|s| s.is_empty()) {
        return Err(HarnessError::BadInput(format!("{flag}: `{text}` has an empty item; write a,b,c")));
    }
    Ok(items)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_and_ranges() {
        assert_eq!(parse_usize_list("-p", "32,128,512").unwrap(), vec![32, 128, 512]);
        assert_eq!(parse_usize_list("-p", "16-128*2").unwrap(), vec![16, 32, 64, 128]);
        assert_eq!(parse_usize_list("-t", "1-4").unwrap(), vec![1, 2, 3, 4]);
        assert_eq!(parse_usize_list("-n", "1-8+3, 64").unwrap(), vec![1, 4, 7, 64]);
        assert_eq!(parse_usize_list("-b", "2,2,1").unwrap(), vec![2, 1]);
        assert_eq!(parse_list("--ep", "cpu, cuda").unwrap(), vec!["cpu", "cuda"]);
        // Found by tests/fuzz.rs: stepping past usize::MAX overflowed.
        let max = usize::MAX.to_string();
        assert_eq!(parse_usize_list("-p", &format!("{max}-{max}")).unwrap(), vec![usize::MAX]);
        assert_eq!(parse_usize_list("-p", &format!("{}-{max}*2", usize::MAX / 2)).unwrap().len(), 2);
    }

    #[test]
    fn malformed_lists_name_the_flag() {
        for bad in ["", "a", "1,,2", "0", "8-4", "1-", "-3", "1-8*1", "1-100000000", "3.5", "1-8*x"] {
            let e = parse_usize_list("-p", bad).unwrap_err().to_string();
            assert!(e.starts_with("-p: "), "{bad}: {e}");
        }
        assert!(parse_list("--model", "a,,b").is_err());
    }
}
