//! Is a cell ready to run? Answered from a real parse with rust-analyzer's
//! parser (the one evcxr already uses), as a console needs it: complete,
//! incomplete (with the indent of the next line), or invalid.

use ra_ap_syntax::{Edition, SourceFile, SyntaxKind, TextSize};

#[derive(Debug, PartialEq, Eq)]
pub enum Completeness {
    Complete,
    Incomplete { indent: String },
    Invalid,
}

const INDENT: &str = "    ";

pub fn is_complete(code: &str) -> Completeness {
    // evcxr commands (`:dep ...`) are lines of their own, not Rust.
    let rust: String = code.lines().map(|line| if line.trim_start().starts_with(':') { "" } else { line }).collect::<Vec<_>>().join("\n");
    let prefix = "fn cell() {\n";
    let wrapped = format!("{prefix}{rust}\n}}");
    let parse = SourceFile::parse(&wrapped, Edition::CURRENT);
    let user = TextSize::of(prefix)..TextSize::of(prefix) + TextSize::of(rust.as_str());

    let mut depth: i64 = 0;
    for token in parse.syntax_node().descendants_with_tokens().filter_map(|element| element.into_token()) {
        if !user.contains(&token.text_range().start()) {
            continue;
        }
        match token.kind() {
            SyntaxKind::L_CURLY | SyntaxKind::L_PAREN | SyntaxKind::L_BRACK => depth += 1,
            SyntaxKind::R_CURLY | SyntaxKind::R_PAREN | SyntaxKind::R_BRACK => depth -= 1,
            _ => {}
        }
        if depth < 0 {
            return Completeness::Invalid;
        }
    }
    let errors = parse.errors();
    let unterminated = errors.iter().any(|error| error.to_string().starts_with("Missing trailing"));
    if depth > 0 || unterminated {
        return Completeness::Incomplete { indent: INDENT.repeat(depth.max(0) as usize) };
    }
    // An error at the very end (`let x = 1 +`) means more is to come.
    let end = user.end;
    match errors.iter().map(|error| error.range().start()).min() {
        None => Completeness::Complete,
        Some(first) if first >= end => Completeness::Incomplete { indent: String::new() },
        Some(_) => Completeness::Invalid,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incomplete(indent: &str) -> Completeness {
        Completeness::Incomplete { indent: indent.into() }
    }

    #[test]
    fn complete_cells() {
        assert_eq!(is_complete("let x = 1;"), Completeness::Complete);
        assert_eq!(is_complete("fn f() -> i32 { 1 }\nf()"), Completeness::Complete);
        assert_eq!(is_complete(":dep rayon = \"1\"\nlet v = vec![1];"), Completeness::Complete);
        assert_eq!(is_complete("let s = \"{ not a brace\";"), Completeness::Complete);
    }

    #[test]
    fn open_blocks_are_incomplete_with_an_indent() {
        assert_eq!(is_complete("fn f() {"), incomplete(INDENT));
        assert_eq!(is_complete("for i in 0..3 {\n    if i > 1 {"), incomplete(&INDENT.repeat(2)));
        assert_eq!(is_complete("let s = \"open"), incomplete(""));
        assert_eq!(is_complete("let x = 1 +"), incomplete(""));
    }

    #[test]
    fn broken_cells_are_invalid() {
        assert_eq!(is_complete("let x = );"), Completeness::Invalid);
        assert_eq!(is_complete("}"), Completeness::Invalid);
    }
}
