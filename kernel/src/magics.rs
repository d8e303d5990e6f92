//! The commands rustpar answers itself, in one registry; evcxr answers the
//! rest (`:dep`, `:vars`, ...). A command is a line of its own in a cell.
//!
//! [`COMMANDS`] is what `:help` lists first; [`split`] takes the kernel's
//! commands out of a cell, leaving the rest for the evaluator. `:mpi` is read
//! by the evaluator (it turns the whole cell into an MPI program), but is
//! listed here so that `:help` shows it.

/// A line command or a cell command, for the help text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scope {
    /// Acts on its own; the rest of the cell runs as usual.
    Line,
    /// Changes how the whole cell runs; it must be the cell's first line.
    Cell,
}

/// One of rustpar's commands, as `:help` shows it.
#[derive(Debug)]
pub struct Command {
    pub usage: &'static str,
    pub help: &'static str,
    pub scope: Scope,
}

/// rustpar's commands. evcxr's own help lists those of evcxr; a command
/// named here replaces evcxr's line of the same name.
pub const COMMANDS: &[Command] = &[
    Command { usage: ":timing", help: "Show each cell's compile and run times under it; again to stop", scope: Scope::Line },
    Command {
        usage: ":cores [on|off]",
        help: "Show each core's load live under every cell (on), no more (off), or under this cell only (or the next, when this one has no code)",
        scope: Scope::Line,
    },
    Command {
        usage: ":mpi -n N [--timeout SECS] [--hostfile FILE] [-- MPIRUN ARGS]",
        help: "Run the rest of the cell as an MPI program on N ranks under mpirun",
        scope: Scope::Cell,
    },
    Command {
        usage: ":deadlock-timeout DURATION",
        help: "How long threads must wait for each other's locks in a cycle before the cell stops with a Deadlock error (default 10s; e.g. 5s, 500ms)",
        scope: Scope::Line,
    },
    Command {
        usage: ":release [on|off]",
        help: "Build the cells that follow like `cargo build --release` (on: opt-level 3, no overflow checks) or with the checked profile (off, the default: opt-level 3, overflow checks); alone, say which",
        scope: Scope::Line,
    },
    Command { usage: ":doc NAME", help: "Show the documentation of NAME (a type, function or method) in the pager", scope: Scope::Line },
    Command { usage: "?NAME", help: "The same as :doc NAME (`NAME?` is Rust's `?` operator, so it stays Rust)", scope: Scope::Line },
    Command { usage: ":help", help: "List these commands, then evcxr's", scope: Scope::Line },
];

/// A command the kernel carries out.
#[derive(Debug, PartialEq, Eq)]
pub enum Magic {
    Timing,
    Cores(CoreMeter),
    /// `:deadlock-timeout 5s`, or why its argument is not a duration.
    DeadlockTimeout(Result<std::time::Duration, String>),
    /// `:release on` (`Some(true)`), `:release off`, or `:release` alone (`None`: which is it?).
    Release(Option<bool>),
    Help,
    /// The documentation of a name, for the pager.
    Doc(String),
}

/// What `:cores` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CoreMeter {
    On,
    Off,
    /// This cell only, or the next when this one has no code.
    Once,
}

/// Takes the kernel's commands out of `code`, leaving the rest for evcxr.
/// Lines keep their places (a command becomes an empty line), so that
/// compile errors still point at the right line.
pub fn split(code: &str) -> (String, Vec<Magic>) {
    let mut magics = Vec::new();
    let rest: Vec<&str> = code
        .lines()
        .map(|line| match parse(line.trim()) {
            Some(magic) => {
                magics.push(magic);
                ""
            }
            None => line,
        })
        .collect();
    (rest.join("\n"), magics)
}

fn parse(line: &str) -> Option<Magic> {
    let is_name = |name: &str| !name.is_empty() && name.chars().all(|c| c.is_alphanumeric() || "_:<>".contains(c));
    match line {
        ":timing" => Some(Magic::Timing),
        ":cores" => Some(Magic::Cores(CoreMeter::Once)),
        ":cores on" => Some(Magic::Cores(CoreMeter::On)),
        ":cores off" => Some(Magic::Cores(CoreMeter::Off)),
        ":release" => Some(Magic::Release(None)),
        ":release on" => Some(Magic::Release(Some(true))),
        ":release off" => Some(Magic::Release(Some(false))),
        ":help" => Some(Magic::Help),
        _ if let Some(argument) = line.strip_prefix(":deadlock-timeout") => Some(Magic::DeadlockTimeout(duration(argument.trim()))),
        _ => {
            let name = line.strip_prefix(":doc ").or_else(|| line.strip_prefix('?'))?.trim();
            is_name(name).then(|| Magic::Doc(name.to_owned()))
        }
    }
}

/// `5s`, `500ms`, `2.5s` or `1m` as a duration.
fn duration(text: &str) -> Result<std::time::Duration, String> {
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let seconds = match (number.parse::<f64>(), unit.trim()) {
        (Ok(n), "s" | "") => n,
        (Ok(n), "ms") => n / 1000.0,
        (Ok(n), "m" | "min") => n * 60.0,
        _ => f64::NAN,
    };
    if seconds.is_finite() && seconds > 0.0 {
        Ok(std::time::Duration::from_secs_f64(seconds))
    } else {
        Err(format!("`{text}` is not a duration: write it as `:deadlock-timeout 5s` (or 500ms, 2.5s, 1m)."))
    }
}

/// The help text: rustpar's commands, then `evcxr_help` (evcxr's own list)
/// without the lines of the commands rustpar replaces.
pub fn help(evcxr_help: &str) -> String {
    let width = COMMANDS.iter().map(|command| command.usage.len()).max().unwrap_or(0);
    let mut text = String::from("rustpar's commands:\n");
    for command in COMMANDS {
        let scope = if command.scope == Scope::Cell { " (first line of a cell)" } else { "" };
        text.push_str(&format!("{:width$}  {}{scope}\n", command.usage, command.help));
    }
    let replaced = |line: &str| COMMANDS.iter().any(|command| line.split_whitespace().next() == command.usage.split_whitespace().next());
    let evcxr: Vec<&str> = evcxr_help.lines().filter(|line| !replaced(line)).collect();
    if !evcxr.is_empty() {
        text.push_str("\nevcxr's commands:\n");
        text.push_str(&evcxr.join("\n"));
        text.push('\n');
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_are_taken_out_in_place() {
        assert_eq!(split(":timing\n1 + 1"), ("\n1 + 1".to_owned(), vec![Magic::Timing]));
        assert_eq!(split(":dep rayon = \"1\""), (":dep rayon = \"1\"".to_owned(), vec![]));
        assert_eq!(split("?Vec"), (String::new(), vec![Magic::Doc("Vec".into())]));
        assert_eq!(split("?HashMap::new"), (String::new(), vec![Magic::Doc("HashMap::new".into())]));
        assert_eq!(split(":doc par_iter\n:help"), ("\n".to_owned(), vec![Magic::Doc("par_iter".into()), Magic::Help]));
        assert_eq!(split(":cores on\nwork()"), ("\nwork()".to_owned(), vec![Magic::Cores(CoreMeter::On)]));
        assert_eq!(split(":cores"), (String::new(), vec![Magic::Cores(CoreMeter::Once)]));
        assert_eq!(split(":release on\nwork()"), ("\nwork()".to_owned(), vec![Magic::Release(Some(true))]));
        assert_eq!(split(":release"), (String::new(), vec![Magic::Release(None)]));
        let timeouts = [("5s", 5.0), ("500ms", 0.5), ("2.5s", 2.5), ("1m", 60.0)];
        for (text, seconds) in timeouts {
            let (_, magics) = split(&format!(":deadlock-timeout {text}"));
            assert_eq!(magics, vec![Magic::DeadlockTimeout(Ok(std::time::Duration::from_secs_f64(seconds)))], "{text}");
        }
        assert!(matches!(&split(":deadlock-timeout soon").1[..], [Magic::DeadlockTimeout(Err(_))]));
    }

    #[test]
    fn rust_code_with_question_marks_is_left_alone() {
        for code in ["let v = parse(text)?;", "x?", "f()?;", "?"] {
            assert_eq!(split(code).1, vec![], "{code}");
        }
    }

    #[test]
    fn help_lists_rustpars_commands_and_evcxrs_others() {
        let text = help(
            ":dep            Add dependency\n:timing         Toggle printing of how long evaluations take\n:vars           List bound variables",
        );
        assert!(text.contains(":mpi -n N"), "{text}");
        assert!(text.contains(":vars"), "{text}");
        assert_eq!(text.matches(":timing").count(), 1, "evcxr's :timing line is replaced: {text}");
    }
}
