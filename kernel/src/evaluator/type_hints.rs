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
        let rendered = error.rendered();
        let probe = variables.iter().find(|variable| rendered.contains(&format!("let () = {variable};")));
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
/// the paths rustc suggests importing them from (of several, the shortest: a
/// crate re-exports its main types at its root, `nalgebra::Matrix`, not
/// `nalgebra::base::Matrix`), or, where it suggests none, as found at the
/// root of the first crate in `crates`; `None` when a name has neither.
pub(crate) fn qualify(type_name: &str, errors: &[evcxr::CompilationError], crates: &[String]) -> Option<String> {
    let mut qualified = type_name.to_owned();
    for error in errors.iter().filter(|error| error.level() == "error") {
        let rendered = error.rendered();
        let (missing, path) = import_path(&rendered, crates)?;
        qualified = replace_name(&qualified, missing, &path);
    }
    Some(qualified)
}

/// The name rustc's error `rendered` could not find, and the path to write it with.
fn import_path<'a>(rendered: &'a str, crates: &[String]) -> Option<(&'a str, String)> {
    let missing = rendered.strip_prefix("error[")?.split_once("cannot find type `")?.1.split('`').next()?;
    let suggested = rendered.lines().filter_map(|line| line.split_once("+ use ")?.1.strip_suffix(';'));
    let shortest = suggested.map(|path| path.strip_prefix("crate::").unwrap_or(path)).min_by_key(|path| path.matches("::").count());
    // rustc suggests no import from a crate that `:dep` added.
    let path = shortest.map(str::to_owned).or_else(|| Some(format!("{}::{missing}", crates.first()?)))?;
    Some((missing, path))
}

/// Whether `c` can be part of a Rust name.
fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// The crates a cell adds with `:dep` and names first in its `use` lines, in
/// the cell's order: where rustc suggests no import for a type, it is likely
/// at the root of one of them.
pub(crate) fn crates_named(code: &str) -> Vec<String> {
    let mut crates: Vec<String> = Vec::new();
    for line in code.lines().map(str::trim_start) {
        let name = if let Some(path) = line.strip_prefix("use ") {
            path.trim_start_matches("::").split(|c: char| !is_ident(c)).next()
        } else {
            line.strip_prefix(":dep ").and_then(|dep| dep.trim_start().split(|c: char| !is_ident(c) && c != '-').next())
        };
        if let Some(name) = name.map(|name| name.replace('-', "_"))
            && !name.is_empty()
            && !["std", "core", "alloc", "crate", "self", "super"].contains(&name.as_str())
            && !crates.contains(&name)
        {
            crates.push(name);
        }
    }
    crates
}

/// `text` with every `name` that is a whole, unqualified path segment replaced by `path`.
fn replace_name(text: &str, name: &str, path: &str) -> String {
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
/// `None` when a `let` binds a pattern other than a name or a tuple of names
/// (which only rust-analyzer can type).
pub(crate) fn untyped_variables(code: &str) -> Option<Vec<String>> {
    let mut last_bindings: Vec<(String, bool)> = Vec::new();
    for binding in top_level_bindings(code) {
        for name in bound_names(&binding.pat()?)? {
            last_bindings.retain(|(bound, _)| *bound != name);
            last_bindings.push((name, binding.ty().is_none()));
        }
    }
    Some(last_bindings.into_iter().filter_map(|(name, untyped)| untyped.then_some(name)).collect())
}

/// The cell with the types of `types` written into the last `let`s that
/// bind their variables without a type: `let v: T` for a name, `let (a, b):
/// (A, B)` for a tuple of names. `None` when a variable has no such `let`, or
/// shares its tuple with one that is not in `types`.
pub(crate) fn annotate(code: &str, types: &[(String, String)]) -> Option<String> {
    let mut annotated = code.to_owned();
    let mut pending: Vec<&(String, String)> = types.iter().collect();
    let bindings: Vec<ast::LetStmt> = top_level_bindings(code).collect();
    // From the last binding up, so that earlier offsets stay valid.
    for binding in bindings.iter().rev().filter(|binding| binding.ty().is_none()) {
        let pattern = binding.pat()?;
        let Some(names) = bound_names(&pattern) else { continue };
        let written: Option<Vec<&str>> =
            names.iter().map(|name| pending.iter().find(|(variable, _)| variable == name).map(|(_, type_name)| type_name.as_str())).collect();
        let Some(written) = written else { continue };
        pending.retain(|(variable, _)| !names.contains(variable));
        let type_name = match pattern {
            ast::Pat::TuplePat(_) => format!("({})", written.join(", ")),
            _ => written[0].to_owned(),
        };
        let end_of_pattern = usize::from(pattern.syntax().text_range().end()).checked_sub(CELL_OPENING.len())?;
        annotated.insert_str(end_of_pattern, &format!(": {type_name}"));
    }
    pending.is_empty().then_some(annotated)
}

/// The variables a `let` binds, when its pattern is a name or a tuple of names.
fn bound_names(pattern: &ast::Pat) -> Option<Vec<String>> {
    let name = |pattern: &ast::Pat| match pattern {
        ast::Pat::IdentPat(ident) if ident.ref_token().is_none() && ident.pat().is_none() => Some(ident.name()?.text().to_string()),
        _ => None,
    };
    match pattern {
        ast::Pat::TuplePat(tuple) => tuple.fields().map(|field| name(&field)).collect(),
        _ => Some(vec![name(pattern)?]),
    }
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
        let types = |pairs: &[(&str, &str)]| pairs.iter().map(|(v, t)| (v.to_string(), t.to_string())).collect::<Vec<_>>();
        let code = "let v = 1;\nlet mut v = vec![1, 2];\nlet w: u8 = 2;\nv.len()";
        assert_eq!(annotate(code, &types(&[("v", "Vec<i32>")])).unwrap(), "let v = 1;\nlet mut v: Vec<i32> = vec![1, 2];\nlet w: u8 = 2;\nv.len()");
        assert_eq!(annotate(code, &types(&[("w", "u8")])), None, "it has a type already");
        let tuple = "let (mut m, c) = (0.0, 1);\nlet k = 2;";
        assert_eq!(
            annotate(tuple, &types(&[("k", "i32"), ("m", "f64"), ("c", "i32")])).unwrap(),
            "let (mut m, c): (f64, i32) = (0.0, 1);\nlet k: i32 = 2;"
        );
        assert_eq!(annotate(tuple, &types(&[("m", "f64")])), None, "a tuple takes all its types or none");
        assert_eq!(annotate("let (a, (b, c)) = (1, (2, 3));", &types(&[("a", "i32")])), None, "nested patterns are left to rust-analyzer");
    }

    #[test]
    fn a_variable_is_untyped_when_its_last_binding_is() {
        let code = "let v = 1;\nlet v: f64 = 2.0;\nlet w = 3;\nlet mut x = w;\n{ let inner = 4; }";
        assert_eq!(untyped_variables(code), Some(vec!["w".to_owned(), "x".to_owned()]));
        assert_eq!(untyped_variables("let (a, mut b) = (1, 2);"), Some(vec!["a".to_owned(), "b".to_owned()]));
        assert_eq!(untyped_variables("let Some(a) = Some(1) else { return };"), None, "only rust-analyzer types other patterns");
        assert_eq!(untyped_variables("1 + 1"), Some(vec![]));
    }

    #[test]
    fn each_probe_names_its_own_variable() {
        assert_eq!(probe("let a = 1;\na", &["a".to_owned(), "b".to_owned()]), "let a = 1;\na\n;\nlet () = a;\nlet () = b;");
    }

    #[test]
    fn a_name_rustc_suggests_no_import_for_is_looked_for_in_the_cells_crates() {
        let suggested = "error[E0412]: cannot find type `HashMap` in this scope\nhelp: consider importing\n  |\n1 + use std::collections::HashMap;\n  |\n1 + use crate::x::y::HashMap;\n";
        assert_eq!(import_path(suggested, &["nalgebra".to_owned()]), Some(("HashMap", "std::collections::HashMap".to_owned())));
        let unsuggested = "error[E0425]: cannot find type `Matrix` in this scope\n = help: a type alias with a similar name exists\n";
        assert_eq!(import_path(unsuggested, &["nalgebra".to_owned()]), Some(("Matrix", "nalgebra::Matrix".to_owned())));
        assert_eq!(import_path(unsuggested, &[]), None);
        let cell = ":dep nalgebra-sparse = \"0.10\"\nuse nalgebra::{DMatrix, DVector};\nuse std::fmt;\n  use ::rayon::prelude::*;\nlet user = 1;";
        assert_eq!(crates_named(cell), ["nalgebra_sparse", "nalgebra", "rayon"].map(String::from));
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
