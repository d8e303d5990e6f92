//! HTML tables: [`table`] for data you already have, [`Table`] to build one
//! row by row.

use std::fmt::{self, Display, Write as _};

/// A table with headers and rows of text, shown as HTML (with an aligned
/// plain-text version for notebooks converted to text).
///
/// ```
/// use rustpar::prelude::*;
/// let t = Table::new(["threads", "time (ms)"]).row((1, 120.5)).row((2, 64.0));
/// t.show();
/// assert!(t.html().contains("<td>64</td>"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Table {
    headers: Vec<String>,
    rows: Vec<Vec<String>>,
    caption: Option<String>,
    max_rows: usize,
}

impl Table {
    /// An empty table with these column headers.
    ///
    /// ```
    /// let t = rustpar::prelude::Table::new(["name", "value"]);
    /// assert_eq!(t.headers(), ["name", "value"]);
    /// ```
    pub fn new<H: Display>(headers: impl IntoIterator<Item = H>) -> Table {
        Table { headers: headers.into_iter().map(|h| h.to_string()).collect(), rows: Vec::new(), caption: None, max_rows: 30 }
    }

    /// Adds a row: a tuple, an array or a `Vec` of values that implement
    /// `Display`, one per column.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let t = Table::new(["x", "x²"]).row((3, 9)).row([4, 16]);
    /// assert_eq!(t.len(), 2);
    /// ```
    pub fn row(mut self, row: impl Row) -> Table {
        self.push(row);
        self
    }

    /// Adds a row in place (for loops).
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let mut t = Table::new(["n", "n!"]);
    /// let mut f = 1u64;
    /// for n in 1..=5 {
    ///     f *= n;
    ///     t.push((n, f));
    /// }
    /// assert!(t.html().contains("<td>120</td>"));
    /// ```
    pub fn push(&mut self, row: impl Row) {
        let cells = row.cells();
        if !self.headers.is_empty() && cells.len() != self.headers.len() {
            panic!(
                "this row has {} cell(s) ({}) but the table has {} column(s) ({}): give one value per column",
                cells.len(),
                cells.join(", "),
                self.headers.len(),
                self.headers.join(", ")
            );
        }
        self.rows.push(cells);
    }

    /// Adds a caption shown above the table.
    ///
    /// ```
    /// let t = rustpar::prelude::Table::new(["a"]).caption("Results").row((1,));
    /// assert!(t.html().contains("<caption>Results</caption>"));
    /// ```
    pub fn caption(mut self, caption: impl Into<String>) -> Table {
        self.caption = Some(caption.into());
        self
    }

    /// Shows at most this many rows (the first and last halves, with a
    /// "… more rows …" line between); 30 unless set.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let t = (0..100).map(|i| (i, i * i)).collect::<Vec<_>>().to_table().max_rows(4);
    /// assert!(t.html().contains("96 more rows"));
    /// ```
    pub fn max_rows(mut self, rows: usize) -> Table {
        self.max_rows = rows.max(2);
        self
    }

    /// The column headers.
    ///
    /// ```
    /// assert_eq!(rustpar::prelude::Table::new(["a", "b"]).headers().len(), 2);
    /// ```
    pub fn headers(&self) -> &[String] {
        &self.headers
    }

    /// The rows, as text.
    ///
    /// ```
    /// let t = rustpar::prelude::Table::new(["a"]).row((1.5,));
    /// assert_eq!(t.rows()[0][0], "1.5");
    /// ```
    pub fn rows(&self) -> &[Vec<String>] {
        &self.rows
    }

    /// The number of rows.
    ///
    /// ```
    /// assert_eq!(rustpar::prelude::Table::new(["a"]).len(), 0);
    /// ```
    pub fn len(&self) -> usize {
        self.rows.len()
    }

    /// True when the table has no rows.
    ///
    /// ```
    /// assert!(rustpar::prelude::Table::new(["a"]).is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.rows.is_empty()
    }

    /// The rows to show: all of them, or the first and last halves and how
    /// many were left out.
    fn shown_rows(&self) -> (&[Vec<String>], usize, &[Vec<String>]) {
        if self.rows.len() <= self.max_rows {
            return (&self.rows, 0, &[]);
        }
        let head = self.max_rows.div_ceil(2);
        let tail = self.max_rows - head;
        (&self.rows[..head], self.rows.len() - head - tail, &self.rows[self.rows.len() - tail..])
    }

    /// The table as HTML.
    ///
    /// ```
    /// let t = rustpar::prelude::Table::new(["a<b"]).row(("x&y",));
    /// assert!(t.html().contains("<th>a&lt;b</th>"));
    /// assert!(t.html().contains("<td>x&amp;y</td>"));
    /// ```
    pub fn html(&self) -> String {
        let mut out = String::from("<table class=\"rustpar-table\">");
        if let Some(caption) = &self.caption {
            let _ = write!(out, "<caption>{}</caption>", escape(caption));
        }
        if !self.headers.is_empty() {
            out.push_str("<thead><tr>");
            for header in &self.headers {
                let _ = write!(out, "<th>{}</th>", escape(header));
            }
            out.push_str("</tr></thead>");
        }
        out.push_str("<tbody>");
        let (head, hidden, tail) = self.shown_rows();
        let columns = self.headers.len().max(self.rows.iter().map(Vec::len).max().unwrap_or(0)).max(1);
        push_html_rows(&mut out, head);
        if hidden > 0 {
            let _ = write!(out, "<tr><td colspan=\"{columns}\" style=\"text-align:center\">… {hidden} more rows …</td></tr>");
        }
        push_html_rows(&mut out, tail);
        out.push_str("</tbody></table>");
        out
    }

    /// The table as aligned plain text.
    ///
    /// ```
    /// let t = rustpar::prelude::Table::new(["n", "square"]).row((12, 144));
    /// assert_eq!(t.text(), " n | square\n---+-------\n12 |    144\n");
    /// ```
    pub fn text(&self) -> String {
        let (head, hidden, tail) = self.shown_rows();
        let columns = self.headers.len().max(self.rows.iter().map(Vec::len).max().unwrap_or(0));
        let mut widths = vec![0; columns];
        for row in std::iter::once(&self.headers).chain(head).chain(tail) {
            for (width, cell) in widths.iter_mut().zip(row) {
                *width = (*width).max(cell.chars().count());
            }
        }
        let line = |row: &[String]| {
            let cells: Vec<String> = widths.iter().enumerate().map(|(i, &w)| format!("{:>w$}", row.get(i).map_or("", String::as_str))).collect();
            cells.join(" | ") + "\n"
        };
        let mut out = self.caption.as_ref().map(|caption| format!("{caption}\n")).unwrap_or_default();
        if !self.headers.is_empty() {
            out.push_str(&line(&self.headers));
            let rule: Vec<String> = widths.iter().map(|&w| "-".repeat(w)).collect();
            out.push_str(&rule.join("-+-"));
            out.push('\n');
        }
        for row in head {
            out.push_str(&line(row));
        }
        if hidden > 0 {
            let _ = writeln!(out, "… {hidden} more rows …");
        }
        for row in tail {
            out.push_str(&line(row));
        }
        out
    }

    /// Shows the table in the notebook (HTML, and text for converters).
    ///
    /// ```
    /// rustpar::prelude::Table::new(["a", "b"]).row((1, 2)).show();
    /// ```
    pub fn show(&self) {
        super::bundle([("text/html", self.html()), ("text/plain", self.text())]);
    }

    /// How evcxr shows a table that ends a cell (as if it were shown).
    #[doc(hidden)]
    pub fn evcxr_display(&self) {
        self.show();
    }
}

impl Display for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text())
    }
}

fn push_html_rows(out: &mut String, rows: &[Vec<String>]) {
    for row in rows {
        out.push_str("<tr>");
        for cell in row {
            let _ = write!(out, "<td>{}</td>", escape(cell));
        }
        out.push_str("</tr>");
    }
}

/// Shows data as an HTML table: a 1-D or 2-D ndarray, a `Vec` (or slice) of
/// numbers or strings, or of tuples, arrays or `Vec`s (one per row). Use
/// [`Table`] for headers of your own.
///
/// ```
/// use rustpar::prelude::*;
/// table(&vec![("one", 1), ("two", 2)]);
/// table(&array![[1.0, 2.0], [3.0, 4.0]]);
/// table(&[0.5, 0.25, 0.125]);
/// table(&Table::new(["threads", "seconds"]).row((1, 2.0)));
/// ```
pub fn table(data: &(impl Tabular + ?Sized)) {
    data.to_table().show();
}

/// Data that [`table`] can show.
///
/// ```
/// use rustpar::prelude::*;
/// let t = vec![(1, 'a'), (2, 'b')].to_table();
/// assert_eq!(t.headers(), ["0", "1"]);
/// assert_eq!(t.rows()[1], ["2", "b"]);
/// ```
pub trait Tabular {
    /// The data as a [`Table`].
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let t = array![[1, 2], [3, 4]].to_table();
    /// assert_eq!(t.rows()[1], ["1", "3", "4"]);
    /// ```
    fn to_table(&self) -> Table;
}

impl<T: Tabular + ?Sized> Tabular for &T {
    fn to_table(&self) -> Table {
        (**self).to_table()
    }
}

impl<R: Row> Tabular for [R] {
    fn to_table(&self) -> Table {
        if R::SINGLE {
            // A list of plain values: number them, like a 1-D array.
            let mut table = Table::new(["index", "value"]);
            table.rows = self.iter().enumerate().map(|(i, row)| std::iter::once(i.to_string()).chain(row.cells()).collect()).collect();
            return table;
        }
        let columns = self.iter().map(|row| row.cells().len()).max().unwrap_or(0);
        let mut table = Table::new((0..columns).map(|i| i.to_string()));
        for row in self {
            let mut cells = row.cells();
            cells.resize(columns, String::new());
            table.rows.push(cells);
        }
        table
    }
}

impl Tabular for Table {
    fn to_table(&self) -> Table {
        self.clone()
    }
}

impl<R: Row> Tabular for Vec<R> {
    fn to_table(&self) -> Table {
        self.as_slice().to_table()
    }
}

impl<R: Row, const N: usize> Tabular for [R; N] {
    fn to_table(&self) -> Table {
        self.as_slice().to_table()
    }
}

impl<S, T> Tabular for ndarray::ArrayBase<S, ndarray::Ix1>
where
    S: ndarray::Data<Elem = T>,
    T: Display,
{
    fn to_table(&self) -> Table {
        let mut table = Table::new(["index", "value"]);
        table.rows = self.iter().enumerate().map(|(i, x)| vec![i.to_string(), tidy(x.to_string())]).collect();
        table
    }
}

impl<S, T> Tabular for ndarray::ArrayBase<S, ndarray::Ix2>
where
    S: ndarray::Data<Elem = T>,
    T: Display,
{
    fn to_table(&self) -> Table {
        let mut table = Table::new(std::iter::once(String::new()).chain((0..self.ncols()).map(|j| j.to_string())));
        table.rows = self
            .outer_iter()
            .enumerate()
            .map(|(i, row)| std::iter::once(i.to_string()).chain(row.iter().map(|x| tidy(x.to_string()))).collect())
            .collect();
        table
    }
}

/// One row of a table: tuples (up to 8 values), arrays and `Vec`s whose
/// values implement `Display`, and single numbers, strings, `char`s and
/// `bool`s (a one-cell row).
///
/// ```
/// use rustpar::prelude::*;
/// assert_eq!((1, "a", 2.5).cells(), ["1", "a", "2.5"]);
/// assert_eq!([1, 2].cells(), ["1", "2"]);
/// assert_eq!(7.cells(), ["7"]);
/// ```
pub trait Row {
    /// The row's cells as text.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// assert_eq!(("x", true).cells(), ["x", "true"]);
    /// ```
    fn cells(&self) -> Vec<String>;
    /// True for a single value (not a tuple or a list): a `Vec` of them is
    /// shown with an index column, like a 1-D array.
    #[doc(hidden)]
    const SINGLE: bool = false;
}

impl<R: Row + ?Sized> Row for &R {
    fn cells(&self) -> Vec<String> {
        (**self).cells()
    }
    const SINGLE: bool = R::SINGLE;
}

macro_rules! single_rows {
    ($($t:ty)*) => {$(
        impl Row for $t {
            fn cells(&self) -> Vec<String> {
                vec![tidy(self.to_string())]
            }
            const SINGLE: bool = true;
        }
    )*};
}

single_rows!(f32 f64 i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize bool char str String);

impl<T: Display> Row for [T] {
    fn cells(&self) -> Vec<String> {
        self.iter().map(|x| tidy(x.to_string())).collect()
    }
}

impl<T: Display, const N: usize> Row for [T; N] {
    fn cells(&self) -> Vec<String> {
        self.as_slice().cells()
    }
}

impl<T: Display> Row for Vec<T> {
    fn cells(&self) -> Vec<String> {
        self.as_slice().cells()
    }
}

macro_rules! tuple_rows {
    ($(($($name:ident $index:tt),+))+) => {$(
        impl<$($name: Display),+> Row for ($($name,)+) {
            fn cells(&self) -> Vec<String> {
                vec![$(tidy(self.$index.to_string())),+]
            }
        }
    )+};
}

tuple_rows! {
    (A 0)
    (A 0, B 1)
    (A 0, B 1, C 2)
    (A 0, B 1, C 2, D 3)
    (A 0, B 1, C 2, D 3, E 4)
    (A 0, B 1, C 2, D 3, E 4, F 5)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6)
    (A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7)
}

/// Shortens decimal numbers printed with all of an `f64`'s 16 or 17 digits
/// (`0.30000000000000004` → `0.3`) so tables stay readable; other text, such
/// as a number formatted with a chosen precision (`format!("{pi:.12}")`), is
/// left as it is.
pub(crate) fn tidy(text: String) -> String {
    let Ok(x) = text.parse::<f64>() else { return text };
    let digits = text.trim_start_matches('-').chars().filter(char::is_ascii_digit).count();
    if !text.contains('.') || digits < 16 || !x.is_finite() {
        return text;
    }
    format_number(x)
}

/// A number with about 6 significant digits, without trailing zeros.
pub(crate) fn format_number(x: f64) -> String {
    if x == 0.0 || !x.is_finite() {
        return x.to_string();
    }
    let magnitude = x.abs().log10().floor() as i32;
    if !(-4..15).contains(&magnitude) {
        return format!("{x:.4e}");
    }
    let decimals = (5 - magnitude).max(0) as usize;
    let text = format!("{x:.decimals$}");
    if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_owned() } else { text }
}

/// Escapes text for HTML.
pub(crate) fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '&' => out.push_str("&amp;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn tuples_become_rows_with_numbered_headers() {
        let t = vec![("a", 1), ("b", 22)].to_table();
        assert_eq!(t.headers(), ["0", "1"]);
        let html = t.html();
        assert!(html.contains("<td>a</td><td>1</td>"), "{html}");
        assert!(html.contains("<td>b</td><td>22</td>"), "{html}");
    }

    #[test]
    fn plain_values_are_numbered() {
        let t = vec![10, 20].to_table();
        assert_eq!(t.headers(), ["index", "value"]);
        assert_eq!(t.rows(), [["0", "10"], ["1", "20"]]);
        let t = ["a", "b"].to_table();
        assert_eq!(t.rows()[1], ["1", "b"]);
        let words: Vec<String> = vec!["x".into()];
        assert_eq!(words.to_table().rows()[0], ["0", "x"]);
    }

    #[test]
    fn arrays_show_their_values_with_indices() {
        let html = array![1.5, 2.5].to_table().html();
        assert!(html.contains("<th>index</th><th>value</th>"), "{html}");
        assert!(html.contains("<td>1</td><td>2.5</td>"), "{html}");
        let html = array![[1, 2], [3, 4]].to_table().html();
        assert!(html.contains("<th></th><th>0</th><th>1</th>"), "{html}");
        assert!(html.contains("<tr><td>1</td><td>3</td><td>4</td></tr>"), "{html}");
    }

    #[test]
    fn long_tables_are_cut_in_the_middle() {
        let rows: Vec<(usize,)> = (0..10).map(|i| (i,)).collect();
        let t = rows.to_table().max_rows(4);
        let html = t.html();
        assert!(html.contains("<td>0</td>") && html.contains("<td>1</td>") && html.contains("<td>9</td>"));
        assert!(!html.contains("<td>5</td>"));
        assert!(html.contains("6 more rows"));
        assert!(t.text().contains("6 more rows"));
    }

    #[test]
    fn text_is_aligned() {
        let t = Table::new(["name", "n"]).caption("c").row(("a", 100)).row(("bcdef", 2));
        assert_eq!(t.text(), "c\n name |   n\n------+----\n    a | 100\nbcdef |   2\n");
    }

    #[test]
    #[should_panic(expected = "this row has 1 cell(s) (1) but the table has 2 column(s) (a, b)")]
    fn a_row_of_the_wrong_length_is_explained() {
        let _ = Table::new(["a", "b"]).row((1,));
    }

    #[test]
    fn numbers_are_tidied() {
        assert_eq!(tidy((0.1 + 0.2f64).to_string()), "0.3");
        assert_eq!(tidy("1.5".into()), "1.5");
        assert_eq!(tidy("123456789".into()), "123456789");
        assert_eq!(tidy("hello".into()), "hello");
        assert_eq!(tidy(format!("{:.12}", std::f64::consts::PI)), "3.141592653590");
        assert_eq!(tidy(format!("{:.11}", std::f64::consts::PI)), "3.14159265359");
        assert_eq!(tidy((25.0f64 / 12.0).to_string()), "2.08333");
        assert_eq!(format_number(1234.56789), "1234.57");
        assert_eq!(format_number(0.000012345678), "1.2346e-5");
    }
}
