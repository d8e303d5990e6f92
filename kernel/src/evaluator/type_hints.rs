//! Types for a cell's variables, named by rustc.
//!
//! evcxr keeps a cell's variables for the next cells under their types, which
//! it asks rust-analyzer for. rust-analyzer answers only once it has loaded the
//! session's crates (5 to 8 s, see `warm_up`), and it knows the standard library
//! only from its sources (the rust-src component); without them it cannot name
//! even `Vec<i32>`, and evcxr would ask the student for an explicit type.
//! rustc always knows: a check of the cell with `let () = v;` appended fails
//! with "expected `Vec<{integer}>`, found `()`", and the cell runs with that
//! type written into its `let`, as the student would have written it. Literals
//! that nothing else constrains get Rust's own defaults, `i32` and `f64`.

use ra_ap_syntax::ast::HasName;
use ra_ap_syntax::{AstNode, Edition, SourceFile, ast};
use std::path::Path;

/// The variable named in evcxr's "Couldn't automatically determine type of variable `v`".
pub(crate) fn unnamed_variable(message: &str) -> Option<&str> {
    message.strip_prefix("Couldn't automatically determine type of variable `")?.split('`').next()
}

/// The cell with a statement for each variable appended, which cannot
/// compile and whose error names the variable's type.
pub(crate) fn probe(code: &str, variables: &[String]) -> String {
    // The `;` ends a final expression; after a statement it is an empty one.
    let mut probed = format!("{code}\n;");
    for variable in variables {
        probed.push_str(&format!("\nlet () = {variable};"));
    }
    probed
}

/// What the probe's check found: the types its errors name, for the
/// variables whose types a cell can write, and the errors that are the
/// cell's own (their lines are the cell's, since the probe only appends).
pub(crate) struct Probed {
    pub types: Vec<(String, String)>,
    pub own_errors: Vec<evcxr::CompilationError>,
}

/// `build_dir` is where rustc ran: it writes long type names to files there.
pub(crate) fn read_probe(errors: Vec<evcxr::CompilationError>, variables: &[String], build_dir: &Path) -> Probed {
    let mut probed = Probed { types: Vec::new(), own_errors: Vec::new() };
    for error in errors {
        let probe = variables.iter().find(|variable| error.rendered().contains(&format!("let () = {variable};")));
        match (probe, named_by_probe(&error, build_dir)) {
            (Some(variable), Some(named)) => probed.types.extend(writable(&named).map(|type_name| (variable.clone(), type_name))),
            _ if error.level() == "error" => probed.own_errors.push(error),
            _ => {}
        }
    }
    probed
}

/// The type named by the probe's error, as rustc writes it.
fn named_by_probe(error: &evcxr::CompilationError, build_dir: &Path) -> Option<String> {
    let rendered = error.rendered();
    if error.code() != Some("E0308") || !rendered.contains("found `()`") {
        return None;
    }
    // The error names the type several times (label, note), and rustc elides
    // the middle of the names that are long (`Vec<Vec<...>>`), some more than
    // others; when it elides them all, it writes the whole name to a file.
    let quoted = rendered.split('`').skip(1).step_by(2);
    let mut names = quoted.filter(|name| *name != "()" && !name.starts_with("--"));
    match names.find(|name| !name.contains("...")) {
        Some(name) => Some(name.to_owned()),
        None => full_name_written(&rendered, build_dir),
    }
}

/// The type name in the file named by rustc's note "the full name for the type has been written to '…'".
fn full_name_written(rendered: &str, build_dir: &Path) -> Option<String> {
    let (_, rest) = rendered.split_once("the full name for the type has been written to '")?;
    let (file, _) = rest.split_once('\'')?;
    let file = build_dir.join(file);
    let name = std::fs::read_to_string(&file).ok()?;
    let _ = std::fs::remove_file(&file);
    Some(name.trim().to_owned())
}

/// rustc's name for a type, as a cell writes it.
fn writable(named: &str) -> Option<String> {
    let written = named.replace("{integer}", "i32").replace("{float}", "f64");
    // Closures, opaque and unknown types have no name a cell could use.
    (!written.contains('{') && !written.contains("impl ")).then_some(written)
}

/// `type_name` with the names that did not resolve in the cell written as
/// the paths rustc suggests importing them from; `None` when a name has no
/// single suggestion.
pub(crate) fn qualify(type_name: &str, errors: &[evcxr::CompilationError]) -> Option<String> {
    let mut qualified = type_name.to_owned();
    for error in errors.iter().filter(|error| error.level() == "error") {
        let rendered = error.rendered();
        let missing = rendered.strip_prefix("error[")?.split_once("cannot find type `")?.1.split('`').next()?;
        let mut paths = rendered.lines().filter_map(|line| line.split_once("+ use ")?.1.strip_suffix(';'));
        let (Some(path), None) = (paths.next(), paths.next()) else { return None };
        qualified = replace_name(&qualified, missing, path.strip_prefix("crate::").unwrap_or(path));
    }
    Some(qualified)
}

/// `text` with every `name` that is a whole, unqualified path segment replaced by `path`.
fn replace_name(text: &str, name: &str, path: &str) -> String {
    let is_ident = |c: char| c.is_alphanumeric() || c == '_';
    let mut out = String::with_capacity(text.len());
    let mut copied = 0;
    for (at, _) in text.match_indices(name) {
        let (before, after) = (&text[..at], &text[at + name.len()..]);
        if !before.ends_with(is_ident) && !before.ends_with("::") && !after.starts_with(is_ident) {
            out.push_str(&text[copied..at]);
            out.push_str(path);
            copied = at + name.len();
        }
    }
    out.push_str(&text[copied..]);
    out
}

/// evcxr's request for an explicit type, with rustc's name for it.
pub(crate) fn with_rustcs_name(message: &str, type_name: &str) -> String {
    format!("{message}\nrustc calls it `{type_name}`; write the type with its path, or `use` it first.")
}

/// The variables whose last top-level `let` in the cell writes no type, or
/// `None` when a `let` binds a pattern (which only rust-analyzer can type).
pub(crate) fn untyped_variables(code: &str) -> Option<Vec<String>> {
    let mut last_bindings: Vec<(String, bool)> = Vec::new();
    for binding in top_level_bindings(code) {
        let Some(ast::Pat::IdentPat(pattern)) = binding.pat() else { return None };
        let name = pattern.name()?.text().to_string();
        last_bindings.retain(|(bound, _)| *bound != name);
        last_bindings.push((name, binding.ty().is_none()));
    }
    Some(last_bindings.into_iter().filter_map(|(name, untyped)| untyped.then_some(name)).collect())
}

/// The cell with `type_name` written into the last `let` that binds
/// `variable` without a type.
pub(crate) fn annotate(code: &str, variable: &str, type_name: &str) -> Option<String> {
    let binding = top_level_bindings(code)
        .filter(|binding| binding.ty().is_none())
        .filter(|binding| matches!(binding.pat(), Some(ast::Pat::IdentPat(pattern)) if pattern.name().is_some_and(|name| name.text() == variable)))
        .last()?;
    let end_of_name = usize::from(binding.pat()?.syntax().text_range().end()).checked_sub(CELL_OPENING.len())?;
    Some(format!("{}: {type_name}{}", &code[..end_of_name], &code[end_of_name..]))
}

/// evcxr reads a cell as the statements of a function body; so does this.
const CELL_OPENING: &str = "fn cell() {\n";

/// The cell's top-level `let` statements, with offsets [`CELL_OPENING`] past the cell's.
fn top_level_bindings(code: &str) -> impl Iterator<Item = ast::LetStmt> {
    let file = SourceFile::parse(&format!("{CELL_OPENING}{code}\n}}"), Edition::CURRENT).tree();
    let body = file.syntax().descendants().find_map(ast::Fn::cast).and_then(|function| function.body()?.stmt_list());
    body.into_iter().flat_map(|body| body.statements()).filter_map(|statement| match statement {
        ast::Stmt::LetStmt(binding) => Some(binding),
        _ => None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_variable_comes_from_evcxrs_message() {
        assert_eq!(unnamed_variable("Couldn't automatically determine type of variable `total`.\nPlease give it an explicit type."), Some("total"));
        assert_eq!(unnamed_variable("something else"), None);
    }

    #[test]
    fn the_type_goes_into_the_last_binding_without_one() {
        let code = "let v = 1;\nlet mut v = vec![1, 2];\nlet w: u8 = 2;\nv.len()";
        assert_eq!(annotate(code, "v", "Vec<i32>").unwrap(), "let v = 1;\nlet mut v: Vec<i32> = vec![1, 2];\nlet w: u8 = 2;\nv.len()");
        assert_eq!(annotate(code, "w", "u8"), None, "it has a type already");
        assert_eq!(annotate("let (a, b) = (1, 2);", "a", "i32"), None, "patterns are left to the student");
    }

    #[test]
    fn a_variable_is_untyped_when_its_last_binding_is() {
        let code = "let v = 1;\nlet v: f64 = 2.0;\nlet w = 3;\nlet mut x = w;\n{ let inner = 4; }";
        assert_eq!(untyped_variables(code), Some(vec!["w".to_owned(), "x".to_owned()]));
        assert_eq!(untyped_variables("let (a, b) = (1, 2);"), None, "only rust-analyzer types patterns");
        assert_eq!(untyped_variables("1 + 1"), Some(vec![]));
    }

    #[test]
    fn each_probe_names_its_own_variable() {
        assert_eq!(probe("let a = 1;\na", &["a".to_owned(), "b".to_owned()]), "let a = 1;\na\n;\nlet () = a;\nlet () = b;");
    }

    #[test]
    fn unresolved_names_take_the_path_rustc_suggests() {
        let name = "ArrayBase<OwnedRepr<f64>, Dim<[usize; 2]>, f64>";
        assert_eq!(replace_name(name, "Dim", "ndarray::Dim"), "ArrayBase<OwnedRepr<f64>, ndarray::Dim<[usize; 2]>, f64>");
        assert_eq!(replace_name("Dimension<Dim>", "Dim", "x::Dim"), "Dimension<x::Dim>", "only whole names");
        assert_eq!(replace_name("a::Dim<Dim>", "Dim", "x::Dim"), "a::Dim<x::Dim>", "qualified names stay");
        assert_eq!(replace_name("DimDim<Dim>", "Dim", "x::Dim"), "DimDim<x::Dim>", "a name inside a longer one stays");
    }
}
