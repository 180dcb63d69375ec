//! Every flag of every command says what it does, and every tunable of `run` can be set from the
//! environment (CI jobs and scripts set them there) unless the guide names it as one that cannot.

use clap::CommandFactory;

/// `run` flags without an environment twin: each acts on one invocation's inputs or files, or
/// overrides a refusal, which a variable left in the environment would carry silently into every
/// later run. The guide's *Measuring* chapter names them.
const NO_TWIN: &[&str] =
    &["pair", "prompt-ids", "ep-opt", "session-opt", "overwrite", "resume", "retry-failed", "force", "allow-unmatched"];

/// Every flag (an argument with a long or short name) of `cmd` and its subcommands, with the path
/// of the command it belongs to.
fn flags(cmd: &clap::Command, path: &str, out: &mut Vec<(String, clap::Arg)>) {
    for a in cmd.get_arguments() {
        let builtin = matches!(a.get_id().as_str(), "help" | "version");
        if !builtin && (a.get_long().is_some() || a.get_short().is_some()) {
            out.push((path.to_string(), a.clone()));
        }
    }
    for sub in cmd.get_subcommands() {
        flags(sub, &format!("{path} {}", sub.get_name()), out);
    }
}

fn name(a: &clap::Arg) -> String {
    a.get_long().map(|l| format!("--{l}")).unwrap_or_else(|| format!("-{}", a.get_short().unwrap_or('?')))
}

#[test]
fn every_flag_of_every_command_has_help() {
    let mut all = vec![];
    flags(&super::Cli::command(), "slmbench", &mut all);
    assert!(all.len() > 100, "only {} flags found", all.len());
    let missing: Vec<String> = all
        .iter()
        .filter(|(_, a)| a.get_help().is_none() && a.get_long_help().is_none())
        .map(|(p, a)| format!("{p} {}", name(a)))
        .collect();
    assert!(missing.is_empty(), "flags without help text: {missing:?}");
}

#[test]
fn every_run_tunable_has_an_environment_twin_or_the_guide_says_why_not() {
    let cli = super::Cli::command();
    let run = cli.find_subcommand("run").expect("a run command");
    let mut all = vec![];
    flags(run, "run", &mut all);
    let mut lacking = vec![];
    for (_, a) in &all {
        let long = a.get_long().unwrap_or_default();
        match (a.get_env().is_some(), NO_TWIN.contains(&long)) {
            (false, false) => lacking.push(name(a)),
            (true, true) => panic!("{} has a twin but is listed as having none", name(a)),
            _ => {}
        }
    }
    assert!(lacking.is_empty(), "run flags without an environment twin: {lacking:?}");
    let guide = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/docs/src/measuring.md")).unwrap();
    let (_, said) = guide.split_once("have no environment twin").expect("the guide names the flags without a twin");
    let said = said.split("\n\n").next().unwrap_or_default();
    for long in NO_TWIN {
        assert!(said.contains(&format!("`--{long}`")), "the guide's list of flags without a twin lacks --{long}");
    }
}
