//! Input history, kept across kernel restarts as IPython keeps it.
//!
//! Each stored cell is one JSON line `{"session", "line", "input", "output"}`
//! in `history.jsonl` under the user's data folder. A kernel's session number
//! is one more than the highest in the file.

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::thread::JoinHandle;

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
struct Entry {
    session: u32,
    line: u32,
    input: String,
    #[serde(default)]
    output: Option<String>,
}

pub struct History {
    /// The file's entries, read on a thread of their own: a long history
    /// must not delay the kernel's first reply. Joined on first use.
    reading: Option<JoinHandle<Vec<Entry>>>,
    session: u32,
    entries: Vec<Entry>,
    file: Option<File>,
}

impl History {
    /// Opens (or starts) the history at `path`; without one, history lives in memory.
    pub fn open(path: Option<PathBuf>) -> History {
        let reading = path.clone().map(|path| std::thread::spawn(move || read_entries(&path)));
        let file = path.and_then(|path| {
            std::fs::create_dir_all(path.parent()?).ok()?;
            OpenOptions::new().create(true).append(true).open(path).ok()
        });
        History { reading, session: 1, entries: Vec::new(), file }
    }

    /// Waits for the file's entries; this kernel's session is one more than the highest there.
    fn finish_reading(&mut self) {
        if let Some(reading) = self.reading.take() {
            self.entries = reading.join().unwrap_or_default();
            self.session = self.entries.iter().map(|entry| entry.session).max().unwrap_or(0) + 1;
        }
    }

    pub fn record(&mut self, line: u32, input: &str, output: Option<&str>) {
        self.finish_reading();
        let entry = Entry { session: self.session, line, input: input.to_owned(), output: output.map(str::to_owned) };
        if let Some(file) = &mut self.file
            && let Ok(text) = serde_json::to_string(&entry)
        {
            let _ = writeln!(file, "{text}");
        }
        self.entries.push(entry);
    }

    /// The `history` list of a history_reply to `request`.
    pub fn answer(&mut self, request: &Value) -> Vec<Value> {
        self.finish_reading();
        let (current, entries) = (self.session, &self.entries);
        let number = |key: &str| request.get(key).and_then(Value::as_i64);
        let want_output = request.get("output").and_then(Value::as_bool).unwrap_or(false);
        let n = number("n").map(|n| n.max(0) as usize);
        let selected: Vec<&Entry> = match request.get("hist_access_type").and_then(Value::as_str) {
            Some("tail") => last(entries.iter().collect(), n.unwrap_or(10)),
            Some("range") => {
                // Session numbers ≤ 0 count back from the current session.
                let session = number("session").unwrap_or(0);
                let session = if session <= 0 { current as i64 + session } else { session };
                let start = number("start").unwrap_or(0);
                let stop = number("stop").unwrap_or(i64::MAX);
                entries.iter().filter(|entry| entry.session as i64 == session && (entry.line as i64) >= start && (entry.line as i64) < stop).collect()
            }
            Some("search") => {
                let pattern = request.get("pattern").and_then(Value::as_str).unwrap_or("*");
                let mut found: Vec<&Entry> = entries.iter().filter(|entry| glob_matches(pattern, &entry.input)).collect();
                if request.get("unique").and_then(Value::as_bool).unwrap_or(false) {
                    let mut seen = std::collections::HashSet::new();
                    found.reverse();
                    found.retain(|entry| seen.insert(entry.input.as_str()));
                    found.reverse();
                }
                match n {
                    Some(n) => last(found, n),
                    None => found,
                }
            }
            _ => Vec::new(),
        };
        selected
            .into_iter()
            .map(|entry| {
                if want_output {
                    json!([entry.session, entry.line, [entry.input, entry.output]])
                } else {
                    json!([entry.session, entry.line, entry.input])
                }
            })
            .collect()
    }
}

fn read_entries(path: &Path) -> Vec<Entry> {
    let Ok(file) = File::open(path) else { return Vec::new() };
    BufReader::new(file).lines().map_while(Result::ok).filter_map(|line| serde_json::from_str(&line).ok()).collect()
}

fn last(mut entries: Vec<&Entry>, n: usize) -> Vec<&Entry> {
    entries.drain(..entries.len().saturating_sub(n));
    entries
}

/// IPython's history patterns: `*` for any run of characters, `?` for one.
fn glob_matches(pattern: &str, text: &str) -> bool {
    let (pattern, text): (Vec<char>, Vec<char>) = (pattern.chars().collect(), text.chars().collect());
    let (mut p, mut t, mut star, mut mark) = (0, 0, None, 0);
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == '?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == '*' {
            star = Some(p);
            mark = t;
            p += 1;
        } else if let Some(star) = star {
            p = star + 1;
            mark += 1;
            t = mark;
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == '*')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn history_survives_reopening_with_a_new_session() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.jsonl");
        let mut first = History::open(Some(path.clone()));
        first.record(1, "let x = 1;", None);
        first.record(2, "x + 1", Some("2"));
        drop(first);
        let mut second = History::open(Some(path));
        let tail = second.answer(&json!({ "hist_access_type": "tail", "n": 1, "output": true }));
        assert_eq!(tail, vec![json!([1, 2, ["x + 1", "2"]])]);
        let range = second.answer(&json!({ "hist_access_type": "range", "session": -1, "start": 1, "stop": 2 }));
        assert_eq!(range, vec![json!([1, 1, "let x = 1;"])]);
        let search = second.answer(&json!({ "hist_access_type": "search", "pattern": "let *" }));
        assert_eq!(search.len(), 1);
        assert_eq!(second.session, 2, "the reopened history is a new session");
    }

    #[test]
    fn glob_patterns_match_like_ipython() {
        assert!(glob_matches("*x*", "let x = 1;"));
        assert!(glob_matches("a?c", "abc"));
        assert!(!glob_matches("a?c", "abbc"));
    }
}
