//! Commands the kernel itself answers; evcxr answers the rest (`:dep`, `:vars`,
//! `:help`, ...). A magic is a line of its own in a cell.

#[derive(Debug, PartialEq, Eq)]
pub enum Magic {
    /// `:timing` toggles showing each cell's compile and run times under it.
    Timing,
}

/// Takes the kernel's magics out of `code`, leaving the rest for evcxr. Lines
/// keep their places (a magic becomes an empty line), so that compile errors
/// still point at the right line.
pub fn split(code: &str) -> (String, Vec<Magic>) {
    let mut magics = Vec::new();
    let rest: Vec<&str> = code
        .lines()
        .map(|line| match line.trim() {
            ":timing" => {
                magics.push(Magic::Timing);
                ""
            }
            _ => line,
        })
        .collect();
    (rest.join("\n"), magics)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timing_lines_are_taken_out_in_place() {
        assert_eq!(split(":timing\n1 + 1"), ("\n1 + 1".to_owned(), vec![Magic::Timing]));
        assert_eq!(split(":dep rayon = \"1\""), (":dep rayon = \"1\"".to_owned(), vec![]));
    }
}
