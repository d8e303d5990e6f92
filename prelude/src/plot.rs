//! Charts, drawn with [plotters](https://docs.rs/plotters) and shown in the
//! notebook as SVG images.
//!
//! For a quick look, [`line()`], [`scatter`], [`bar`] and [`histogram`] draw
//! one series and show it at once. To put several series in one chart, or to
//! name the axes, build a [`Plot`]: every series gets a colour and a place in
//! the legend, and [`show`](Plot::show) displays it. Each chart is a separate
//! output, so a cell can show as many as it likes.
//!
//! Data can be a slice, an array, a `Vec` or a 1-D ndarray of any numbers,
//! or a range (see [`Values`]).
//!
//! ```
//! use rustpar::prelude::*;
//! let xs: Vec<f64> = (0..50).map(|i| i as f64 / 10.0).collect();
//! let sin: Vec<f64> = xs.iter().map(|x| x.sin()).collect();
//! let cos = Array1::from_iter(xs.iter().map(|x| x.cos()));
//! Plot::new("Waves").x_label("t").y_label("value").line("sin", &xs, &sin).line("cos", &xs, &cos).show();
//! line("sin alone", &xs, &sin); // a second chart, in its own output
//! ```

use plotters::coord::Shift;
use plotters::prelude::*;
use std::fmt::Display;

/// The ten colours of the "tab10" palette, in order.
const PALETTE: [RGBColor; 10] = [
    RGBColor(31, 119, 180),
    RGBColor(255, 127, 14),
    RGBColor(44, 160, 44),
    RGBColor(214, 39, 40),
    RGBColor(148, 103, 189),
    RGBColor(140, 86, 75),
    RGBColor(227, 119, 194),
    RGBColor(127, 127, 127),
    RGBColor(188, 189, 34),
    RGBColor(23, 190, 207),
];

/// Numbers that can be plotted: slices, arrays, `Vec`s and 1-D ndarrays of
/// any primitive number type, ranges of integers, and references to these.
///
/// ```
/// use rustpar::plot::Values;
/// use rustpar::prelude::*;
/// assert_eq!(vec![1u8, 2].values(), [1.0, 2.0]);
/// assert_eq!((0..3).values(), [0.0, 1.0, 2.0]);
/// assert_eq!(array![0.5f32].values(), [0.5]);
/// ```
pub trait Values {
    /// The numbers, as `f64`.
    ///
    /// ```
    /// use rustpar::plot::Values;
    /// assert_eq!([1, 2, 3].values(), [1.0, 2.0, 3.0]);
    /// ```
    fn values(&self) -> Vec<f64>;
}

/// A primitive number that converts to `f64` (possibly rounding): the
/// element types that [`Values`] accepts.
///
/// ```
/// use rustpar::plot::Number;
/// assert_eq!(3u8.to_f64(), 3.0);
/// ```
pub trait Number: Copy {
    /// The number as an `f64`.
    ///
    /// ```
    /// use rustpar::plot::Number;
    /// assert_eq!((-2i64).to_f64(), -2.0);
    /// ```
    fn to_f64(self) -> f64;
}

macro_rules! numbers {
    ($($t:ty)*) => {$(
        impl Number for $t {
            fn to_f64(self) -> f64 {
                self as f64
            }
        }
    )*};
}

numbers!(f32 f64 i8 i16 i32 i64 i128 isize u8 u16 u32 u64 u128 usize);

impl<T: Number> Values for [T] {
    fn values(&self) -> Vec<f64> {
        self.iter().map(|x| x.to_f64()).collect()
    }
}

impl<T: Number, const N: usize> Values for [T; N] {
    fn values(&self) -> Vec<f64> {
        self.as_slice().values()
    }
}

impl<T: Number> Values for Vec<T> {
    fn values(&self) -> Vec<f64> {
        self.as_slice().values()
    }
}

impl<S, T> Values for ndarray::ArrayBase<S, ndarray::Ix1>
where
    S: ndarray::Data<Elem = T>,
    T: Number,
{
    fn values(&self) -> Vec<f64> {
        self.iter().map(|x| x.to_f64()).collect()
    }
}

impl<T: Number> Values for std::ops::Range<T>
where
    std::ops::Range<T>: Iterator<Item = T> + Clone,
{
    fn values(&self) -> Vec<f64> {
        self.clone().map(Number::to_f64).collect()
    }
}

impl<T: Number> Values for std::ops::RangeInclusive<T>
where
    std::ops::RangeInclusive<T>: Iterator<Item = T> + Clone,
{
    fn values(&self) -> Vec<f64> {
        self.clone().map(Number::to_f64).collect()
    }
}

impl<V: Values + ?Sized> Values for &V {
    fn values(&self) -> Vec<f64> {
        (**self).values()
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Kind {
    Line { xs: Vec<f64>, ys: Vec<f64>, markers: bool, dashed: bool },
    Scatter { xs: Vec<f64>, ys: Vec<f64> },
    Bar { labels: Vec<String>, values: Vec<f64> },
    Histogram { values: Vec<f64>, bins: usize },
    Spans { lanes: Vec<f64>, starts: Vec<f64>, ends: Vec<f64> },
}

#[derive(Debug, Clone, PartialEq)]
struct Series {
    name: String,
    kind: Kind,
}

/// A chart with a title, axis labels, a legend and any number of series.
/// Build it, then [`show`](Plot::show) it (or get its [`svg`](Plot::svg)).
///
/// Lines and points share numeric axes. Bars put their labels along the x
/// axis (several bar series stand side by side). Histograms count values in
/// bins shared by all the histogram series of the chart.
///
/// ```
/// use rustpar::prelude::*;
/// let threads = [1, 2, 4];
/// let plot = Plot::new("Speedup")
///     .x_label("threads")
///     .y_label("speedup")
///     .line("measured", &threads, &[1.0, 1.8, 3.1])
///     .line("ideal", &threads, &threads);
/// plot.show();
/// assert!(plot.svg().contains("measured"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Plot {
    title: String,
    x_label: Option<String>,
    y_label: Option<String>,
    size: (u32, u32),
    series: Vec<Series>,
    /// Ticks on the x axis at whole numbers only (thread counts).
    whole_x: bool,
    /// Lines and points placed by the logarithm of their x (or y) values.
    log_x: bool,
    log_y: bool,
}

impl Plot {
    /// An empty chart with this title.
    ///
    /// ```
    /// let plot = rustpar::prelude::Plot::new("Empty");
    /// assert!(plot.svg().contains("Empty"));
    /// ```
    pub fn new(title: impl Into<String>) -> Plot {
        Plot { title: title.into(), x_label: None, y_label: None, size: (640, 400), series: Vec::new(), whole_x: false, log_x: false, log_y: false }
    }

    /// Names the x axis.
    ///
    /// ```
    /// let plot = rustpar::prelude::Plot::new("t").x_label("threads");
    /// assert!(plot.svg().contains("threads"));
    /// ```
    pub fn x_label(mut self, label: impl Into<String>) -> Plot {
        self.x_label = Some(label.into());
        self
    }

    /// Names the y axis.
    ///
    /// ```
    /// let plot = rustpar::prelude::Plot::new("t").y_label("seconds");
    /// assert!(plot.svg().contains("seconds"));
    /// ```
    pub fn y_label(mut self, label: impl Into<String>) -> Plot {
        self.y_label = Some(label.into());
        self
    }

    /// Sets the size of the image in pixels (640 × 400 unless set).
    ///
    /// ```
    /// let plot = rustpar::prelude::Plot::new("t").size(300, 200);
    /// assert!(plot.svg().contains("width=\"300\""));
    /// ```
    pub fn size(mut self, width: u32, height: u32) -> Plot {
        self.size = (width.max(100), height.max(80));
        self
    }

    /// Adds a line through the points `(xs[i], ys[i])`.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let plot = Plot::new("Squares").line("x²", 0..10, &(0..10).map(|x| x * x).collect::<Vec<_>>());
    /// assert!(plot.svg().contains("x²"));
    /// ```
    pub fn line(self, name: impl Into<String>, xs: impl Values, ys: impl Values) -> Plot {
        let name = name.into();
        let (xs, ys) = pair("line", &name, xs, ys);
        self.with(name, Kind::Line { xs, ys, markers: false, dashed: false })
    }

    /// Puts the x axis ticks on whole numbers only (for counts, such as
    /// threads).
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let plot = Plot::new("Speedup").whole_x().line("measured", [1, 2, 3], [1.0, 1.9, 2.7]);
    /// assert!(!plot.svg().contains(">\n1.5\n<"));
    /// ```
    pub fn whole_x(mut self) -> Plot {
        self.whole_x = true;
        self
    }

    /// Places lines and points by the logarithm of x, with ticks at powers of
    /// ten: for values spanning several orders of magnitude, such as problem
    /// sizes from 100 to 10 000 000. Values of 0 or less cannot be placed and
    /// are left out.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let sizes = [1e2, 1e3, 1e4, 1e5];
    /// let plot = Plot::new("Speedup by size").log_x().line("speedup", &sizes, &[0.2, 0.9, 1.6, 1.9]);
    /// assert!(plot.svg().contains("10000"));
    /// ```
    pub fn log_x(mut self) -> Plot {
        self.log_x = true;
        self
    }

    /// Places lines and points by the logarithm of y, with ticks at powers of
    /// ten (see [`log_x`](Plot::log_x)): for times from microseconds to
    /// seconds in one chart.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let plot = Plot::new("Time").log_y().line("seconds", [1, 2, 3], [1e-6, 1e-3, 1.0]);
    /// assert!(plot.svg().contains("0.001"));
    /// ```
    pub fn log_y(mut self) -> Plot {
        self.log_y = true;
        self
    }

    /// Adds spans of time as horizontal bars, one row ("lane") per worker:
    /// span `i` runs from `starts[i]` to `ends[i]` in lane `lanes[i]` (0, 1,
    /// …). Used by [`Timeline`](crate::timeline::Timeline) to show which
    /// thread worked when.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let plot = Plot::new("Two workers").x_label("ms").spans("task", [0, 1, 0], [0.0, 0.0, 5.0], [4.0, 9.0, 8.0]);
    /// assert!(plot.svg().contains("task"));
    /// ```
    pub fn spans(self, name: impl Into<String>, lanes: impl Values, starts: impl Values, ends: impl Values) -> Plot {
        let name = name.into();
        let (lanes, starts) = pair("spans", &name, lanes, starts);
        let (_, ends) = pair("spans", &name, &starts, ends);
        self.with(name, Kind::Spans { lanes, starts, ends })
    }

    /// Adds a line with a dot on each point: for measurements, where the
    /// points are the data and the line only guides the eye.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let plot = Plot::new("Speedup").marked_line("measured", [1, 2, 4], [1.0, 1.9, 3.4]);
    /// assert!(plot.svg().contains("<circle"));
    /// ```
    pub fn marked_line(self, name: impl Into<String>, xs: impl Values, ys: impl Values) -> Plot {
        let name = name.into();
        let (xs, ys) = pair("line", &name, xs, ys);
        self.with(name, Kind::Line { xs, ys, markers: true, dashed: false })
    }

    /// Adds a dashed line: for references, such as the ideal speedup or a
    /// theoretical curve.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let plot = Plot::new("Speedup").dashed_line("ideal", [1, 4], [1, 4]);
    /// assert!(plot.svg().contains("ideal"));
    /// ```
    pub fn dashed_line(self, name: impl Into<String>, xs: impl Values, ys: impl Values) -> Plot {
        let name = name.into();
        let (xs, ys) = pair("line", &name, xs, ys);
        self.with(name, Kind::Line { xs, ys, markers: false, dashed: true })
    }

    /// Adds the points `(xs[i], ys[i])`, unconnected.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let xs = random_vec(50, 1);
    /// let ys = random_vec(50, 2);
    /// let plot = Plot::new("Noise").scatter("samples", &xs, &ys);
    /// assert!(plot.svg().contains("<circle"));
    /// ```
    pub fn scatter(self, name: impl Into<String>, xs: impl Values, ys: impl Values) -> Plot {
        let name = name.into();
        let (xs, ys) = pair("scatter", &name, xs, ys);
        self.with(name, Kind::Scatter { xs, ys })
    }

    /// Adds bars: one per label, as high as its value.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let plot = Plot::new("Time").bar("ms", &["serial", "parallel"], &[120.0, 45.0]);
    /// assert!(plot.svg().contains("parallel"));
    /// ```
    pub fn bar<L: Display>(self, name: impl Into<String>, labels: impl IntoIterator<Item = L>, values: impl Values) -> Plot {
        let name = name.into();
        let labels: Vec<String> = labels.into_iter().map(|l| l.to_string()).collect();
        let values = values.values();
        if labels.len() != values.len() {
            panic!("bar series {name:?}: {} labels but {} values; give one value for each label", labels.len(), values.len());
        }
        if let Some(first) = self.series.iter().find_map(|s| match &s.kind {
            Kind::Bar { labels, .. } => Some(labels),
            _ => None,
        }) && *first != labels
        {
            panic!(
                "bar series {name:?} has the labels {labels:?}, but the bars already in this chart have {first:?}; \
                 bar series in one chart share their labels"
            );
        }
        self.with(name, Kind::Bar { labels, values })
    }

    /// Adds a histogram: how many of `values` fall in each of `bins` equal
    /// bins spanning the values (of all the histograms in the chart).
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let plot = Plot::new("Normal").histogram("samples", &random_normal(1000, 1), 20);
    /// assert!(plot.svg().contains("count"));
    /// ```
    pub fn histogram(self, name: impl Into<String>, values: impl Values, bins: usize) -> Plot {
        let name = name.into();
        if bins == 0 {
            panic!("histogram {name:?}: 0 bins cannot hold any value; ask for at least 1 (10 to 50 is usual)");
        }
        self.with(name, Kind::Histogram { values: values.values(), bins })
    }

    fn with(mut self, name: String, kind: Kind) -> Plot {
        self.series.push(Series { name, kind });
        self
    }

    /// Shows the chart in the notebook (an SVG image, and a line of text for
    /// notebooks converted to text).
    ///
    /// ```
    /// rustpar::prelude::Plot::new("Nothing yet").show();
    /// ```
    pub fn show(&self) {
        crate::display::bundle([("image/svg+xml", self.svg()), ("text/plain", self.text())]);
    }

    /// How evcxr shows a plot that ends a cell (as if it were shown).
    #[doc(hidden)]
    pub fn evcxr_display(&self) {
        self.show();
    }

    /// A one-line description of the chart.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let plot = Plot::new("T").line("a", [1, 2], [3, 4]).bar("b", ["x"], [1]);
    /// assert_eq!(plot.text(), "Plot \"T\": line \"a\" (2 points), bars \"b\" (1 bars)");
    /// ```
    pub fn text(&self) -> String {
        let parts: Vec<String> = self
            .series
            .iter()
            .map(|s| match &s.kind {
                Kind::Line { xs, .. } => format!("line {:?} ({} points)", s.name, xs.len()),
                Kind::Scatter { xs, .. } => format!("scatter {:?} ({} points)", s.name, xs.len()),
                Kind::Bar { values, .. } => format!("bars {:?} ({} bars)", s.name, values.len()),
                Kind::Histogram { values, bins } => format!("histogram {:?} ({} values, {bins} bins)", s.name, values.len()),
                Kind::Spans { lanes, .. } => format!("spans {:?} ({} spans)", s.name, lanes.len()),
            })
            .collect();
        if parts.is_empty() { format!("Plot {:?} (empty)", self.title) } else { format!("Plot {:?}: {}", self.title, parts.join(", ")) }
    }

    /// The chart as an SVG document.
    ///
    /// ```
    /// let svg = rustpar::prelude::Plot::new("Hello").line("y", [0, 1], [0, 1]).svg();
    /// assert!(svg.starts_with("<svg"));
    /// ```
    pub fn svg(&self) -> String {
        let mut out = String::new();
        {
            let root = SVGBackend::with_string(&mut out, self.size).into_drawing_area();
            if let Err(error) = self.draw(&root) {
                panic!("the chart {:?} could not be drawn: {error}", self.title);
            }
        }
        out
    }

    fn draw(&self, root: &DrawingArea<SVGBackend<'_>, Shift>) -> Result<(), Box<dyn std::error::Error + '_>> {
        root.fill(&WHITE)?;
        let categories: Option<Vec<String>> = self.series.iter().find_map(|s| match &s.kind {
            Kind::Bar { labels, .. } => Some(labels.clone()),
            _ => None,
        });
        let bar_series = self.series.iter().filter(|s| matches!(s.kind, Kind::Bar { .. })).count();
        let histogram_range = span(self.series.iter().flat_map(|s| match &s.kind {
            Kind::Histogram { values, .. } => values.as_slice(),
            _ => &[],
        }));
        let histograms: Vec<(usize, Vec<Bin>)> = self
            .series
            .iter()
            .enumerate()
            .filter_map(|(i, s)| match &s.kind {
                Kind::Histogram { values, bins } => Some((i, bin(values, *bins, histogram_range.unwrap_or((0.0, 1.0))))),
                _ => None,
            })
            .collect();

        // The extent of the data on both axes.
        let mut xs: Vec<f64> = Vec::new();
        let mut ys: Vec<f64> = Vec::new();
        let mut from_zero = false;
        let scaled = |values: &[f64], log: bool| -> Vec<f64> { if log { values.iter().map(|v| v.log10()).collect() } else { values.to_vec() } };
        let has_spans = self.series.iter().any(|s| matches!(s.kind, Kind::Spans { .. }));
        for series in &self.series {
            match &series.kind {
                Kind::Line { xs: x, ys: y, .. } | Kind::Scatter { xs: x, ys: y } => {
                    xs.extend(scaled(x, self.log_x));
                    ys.extend(scaled(y, self.log_y));
                }
                Kind::Spans { lanes, starts, ends } => {
                    xs.extend(starts.iter().chain(ends));
                    ys.extend(lanes.iter().flat_map(|lane| [lane - 0.5, lane + 0.5]));
                }
                Kind::Bar { values, .. } => {
                    ys.extend(values);
                    from_zero = true;
                }
                Kind::Histogram { .. } => from_zero = true,
            }
        }
        for (_, bars) in &histograms {
            for &(left, right, count) in bars {
                xs.extend([left, right]);
                ys.push(count);
            }
        }
        if from_zero {
            ys.push(0.0);
        }
        let (x0, x1) = match &categories {
            Some(labels) => (-0.5, labels.len().max(1) as f64 - 0.5),
            None => pad(span(xs.iter()).unwrap_or((0.0, 1.0)), if histograms.is_empty() { 0.03 } else { 0.0 }),
        };
        let (mut y0, mut y1) = pad(span(ys.iter()).unwrap_or((0.0, 1.0)), 0.05);
        // Room at the top for the legend, so that it does not hide the data.
        let named = self.series.iter().filter(|s| !s.name.is_empty()).count();
        if named > 0 {
            y1 += (y1 - y0) * (0.08 * named as f64 + 0.04).min(0.5);
        }
        if from_zero && span(ys.iter()).is_some_and(|(low, _)| low >= 0.0) {
            y0 = 0.0;
        }

        let mut chart = ChartBuilder::on(root)
            .caption(&self.title, ("sans-serif", 20))
            .margin(12)
            .x_label_area_size(42)
            .y_label_area_size(60)
            .build_cartesian_2d(x0..x1, y0..y1)?;
        let x_desc = self.x_label.clone().unwrap_or_else(|| {
            if categories.is_some() {
                String::new()
            } else if histograms.is_empty() {
                "x".into()
            } else {
                "value".into()
            }
        });
        let y_desc = self.y_label.clone().unwrap_or_else(|| if histograms.is_empty() { "y".into() } else { "count".into() });
        let label_of = |x: &f64| -> String {
            let i = x.round();
            match &categories {
                Some(labels) if (x - i).abs() < 1e-6 && i >= 0.0 => labels.get(i as usize).cloned().unwrap_or_default(),
                Some(_) => String::new(),
                None if (self.whole_x || self.log_x) && (x - i).abs() > 1e-6 => String::new(),
                None if self.log_x => power_of_ten(i),
                None => crate::display::format_number(*x),
            }
        };
        let y_format = |y: &f64| {
            let i = y.round();
            if (has_spans || self.log_y) && (y - i).abs() > 1e-6 {
                String::new()
            } else if self.log_y {
                power_of_ten(i)
            } else {
                crate::display::format_number(*y)
            }
        };
        let mut mesh = chart.configure_mesh();
        mesh.x_desc(x_desc).y_desc(y_desc).x_label_formatter(&label_of).y_label_formatter(&y_format).light_line_style(WHITE.mix(0.0));
        if let Some(labels) = &categories {
            mesh.x_labels(labels.len().max(1)).disable_x_mesh();
        } else if self.whole_x || self.log_x {
            // One tick per whole number (a power of ten on a log axis), or
            // fewer: never a fraction.
            let whole_numbers = (x1.floor() - x0.ceil()).max(0.0) as usize + 1;
            mesh.x_labels(whole_numbers.clamp(2, 20));
        }
        if has_spans || self.log_y {
            let whole_numbers = (y1.floor() - y0.ceil()).max(0.0) as usize + 1;
            mesh.y_labels(whole_numbers.clamp(2, 20));
        }
        mesh.draw()?;

        let mut bar_index = 0;
        for (i, series) in self.series.iter().enumerate() {
            let color = PALETTE[i % PALETTE.len()];
            let name = series.name.clone();
            match &series.kind {
                Kind::Line { xs, ys, markers, dashed } => {
                    let points: Vec<(f64, f64)> = finite(&scaled(xs, self.log_x), &scaled(ys, self.log_y));
                    let style = color.stroke_width(2);
                    let drawn = if *dashed {
                        chart.draw_series(DashedLineSeries::new(points.clone(), 6, 4, style))?
                    } else {
                        chart.draw_series(LineSeries::new(points.clone(), style))?
                    };
                    if !name.is_empty() {
                        drawn.label(name).legend(move |(x, y)| PathElement::new(vec![(x, y), (x + 20, y)], color.stroke_width(2)));
                    }
                    if *markers {
                        chart.draw_series(points.iter().map(|&p| Circle::new(p, 3, color.filled())))?;
                    }
                }
                Kind::Scatter { xs, ys } => {
                    let drawn = chart.draw_series(
                        finite(&scaled(xs, self.log_x), &scaled(ys, self.log_y)).into_iter().map(|p| Circle::new(p, 3, color.filled())),
                    )?;
                    if !name.is_empty() {
                        drawn.label(name).legend(move |(x, y)| Circle::new((x + 10, y), 3, color.filled()));
                    }
                }
                Kind::Bar { values, .. } => {
                    let width = 0.8 / bar_series as f64;
                    let offset = -0.4 + width * bar_index as f64;
                    bar_index += 1;
                    let drawn = chart.draw_series(values.iter().enumerate().filter(|(_, v)| v.is_finite()).map(|(j, &v)| {
                        let left = j as f64 + offset;
                        Rectangle::new([(left, 0.0), (left + width, v)], color.filled())
                    }))?;
                    if !name.is_empty() {
                        drawn.label(name).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
                    }
                }
                Kind::Spans { lanes, starts, ends } => {
                    let bars: Vec<[(f64, f64); 2]> =
                        lanes.iter().zip(starts).zip(ends).map(|((&lane, &start), &end)| [(start, lane - 0.4), (end, lane + 0.4)]).collect();
                    let drawn = chart.draw_series(bars.iter().map(|&corners| Rectangle::new(corners, color.filled())))?;
                    if !name.is_empty() {
                        drawn.label(name).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], color.filled()));
                    }
                    // A thin white outline keeps back-to-back spans apart.
                    chart.draw_series(bars.iter().map(|&corners| Rectangle::new(corners, WHITE.stroke_width(1))))?;
                }
                Kind::Histogram { .. } => {
                    let bars = &histograms.iter().find(|(j, _)| *j == i).expect("every histogram is binned").1;
                    let fill = if histograms.len() > 1 { color.mix(0.5).filled() } else { color.filled() };
                    let drawn = chart.draw_series(bars.iter().map(|&(left, right, count)| Rectangle::new([(left, 0.0), (right, count)], fill)))?;
                    if !name.is_empty() {
                        drawn.label(name).legend(move |(x, y)| Rectangle::new([(x, y - 5), (x + 12, y + 5)], fill));
                    }
                }
            }
        }
        // A legend of series without names would be empty boxes.
        if self.series.iter().any(|s| !s.name.is_empty()) {
            chart
                .configure_series_labels()
                .position(SeriesLabelPosition::UpperLeft)
                .background_style(WHITE.mix(0.85))
                .border_style(BLACK.mix(0.4))
                .draw()?;
        }
        root.present()?;
        Ok(())
    }
}

impl std::fmt::Display for Plot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.text())
    }
}

/// The label of the tick at 10^`exponent` on a log axis: `0.001`, `1000`,
/// `1e-6`, `1e9`.
fn power_of_ten(exponent: f64) -> String {
    if (-3.0..=4.0).contains(&exponent) { crate::display::format_number(10f64.powf(exponent)) } else { format!("1e{exponent}") }
}

/// Converts both coordinates, checking they pair up.
fn pair(what: &str, name: &str, xs: impl Values, ys: impl Values) -> (Vec<f64>, Vec<f64>) {
    let (xs, ys) = (xs.values(), ys.values());
    if xs.len() != ys.len() {
        panic!("{what} {name:?}: {} x values but {} y values; give one y for each x", xs.len(), ys.len());
    }
    (xs, ys)
}

/// The points whose coordinates are both finite (NaN and infinities cannot be drawn).
fn finite(xs: &[f64], ys: &[f64]) -> Vec<(f64, f64)> {
    xs.iter().zip(ys).map(|(&x, &y)| (x, y)).filter(|(x, y)| x.is_finite() && y.is_finite()).collect()
}

/// The smallest and largest finite values, if any.
fn span<'a>(values: impl IntoIterator<Item = &'a f64>) -> Option<(f64, f64)> {
    values.into_iter().filter(|v| v.is_finite()).fold(None, |acc, &v| match acc {
        None => Some((v, v)),
        Some((low, high)) => Some((low.min(v), high.max(v))),
    })
}

/// Widens a range by `fraction` of its length on each side (and gives an
/// empty range some width).
fn pad((low, high): (f64, f64), fraction: f64) -> (f64, f64) {
    if high > low {
        let margin = (high - low) * fraction;
        (low - margin, high + margin)
    } else {
        let margin = if low == 0.0 { 1.0 } else { low.abs() * 0.1 };
        (low - margin, high + margin)
    }
}

/// One bar of a histogram: left edge, right edge, count.
type Bin = (f64, f64, f64);

/// Counts `values` in `bins` equal bins over `range`.
fn bin(values: &[f64], bins: usize, (low, high): (f64, f64)) -> Vec<Bin> {
    let (low, high) = if high > low { (low, high) } else { (low - 0.5, high + 0.5) };
    let width = (high - low) / bins as f64;
    let mut counts = vec![0usize; bins];
    for &v in values.iter().filter(|v| v.is_finite()) {
        let i = (((v - low) / width) as usize).min(bins - 1);
        counts[i] += 1;
    }
    counts.iter().enumerate().map(|(i, &c)| (low + i as f64 * width, low + (i + 1) as f64 * width, c as f64)).collect()
}

/// Shows a line chart of `ys` against `xs`.
///
/// ```
/// use rustpar::prelude::*;
/// let xs: Vec<f64> = (0..100).map(|i| i as f64 * 0.1).collect();
/// let ys: Vec<f64> = xs.iter().map(|x| x.sin()).collect();
/// line("sin(x)", &xs, &ys);
/// ```
pub fn line(title: &str, xs: impl Values, ys: impl Values) {
    Plot::new(title).line(title, xs, ys).show();
}

/// Shows a scatter plot of the points `(xs[i], ys[i])`.
///
/// ```
/// use rustpar::prelude::*;
/// scatter("uniform noise", &random_vec(100, 1), &random_vec(100, 2));
/// ```
pub fn scatter(title: &str, xs: impl Values, ys: impl Values) {
    Plot::new(title).scatter(title, xs, ys).show();
}

/// Shows a bar chart: one bar per label.
///
/// ```
/// use rustpar::prelude::*;
/// bar("Time per version (ms)", ["serial", "rayon", "threads"], [120.0, 40.0, 55.0]);
/// ```
pub fn bar<L: Display>(title: &str, labels: impl IntoIterator<Item = L>, values: impl Values) {
    Plot::new(title).bar(title, labels, values).show();
}

/// Shows a histogram of `values` in `bins` equal bins.
///
/// ```
/// use rustpar::prelude::*;
/// histogram("1000 normal samples", &random_normal(1000, 7), 30);
/// ```
pub fn histogram(title: &str, values: impl Values, bins: usize) {
    Plot::new(title).histogram(title, values, bins).show();
}

#[cfg(test)]
mod tests {
    use super::*;
    use ndarray::array;

    #[test]
    fn svg_has_the_title_the_axes_and_every_series_name() {
        let svg = Plot::new("Title here")
            .x_label("threads")
            .y_label("seconds")
            .line("first line", [1, 2, 3], [1.0, 4.0, 9.0])
            .scatter("some points", vec![1.5f32, 2.5], &array![2.0, 3.0])
            .svg();
        assert!(svg.starts_with("<svg"), "{svg}");
        for text in ["Title here", "threads", "seconds", "first line", "some points"] {
            assert!(svg.contains(text), "{text:?} missing from the chart");
        }
        assert!(svg.contains("<circle"));
        assert!(svg.contains("<polyline"));
    }

    #[test]
    fn bars_are_labelled_with_their_categories() {
        let svg =
            Plot::new("Bars").bar("time", ["alpha", "beta", "gamma"], [3.0, 1.0, 2.0]).bar("other", ["alpha", "beta", "gamma"], [1, 2, 3]).svg();
        for text in ["Bars", "time", "other", "alpha", "beta", "gamma"] {
            assert!(svg.contains(text), "{text:?} missing from the chart");
        }
        assert!(svg.matches("<rect").count() >= 6);
    }

    #[test]
    fn histograms_count_every_value() {
        let values = [0.0, 0.1, 0.2, 0.9, 1.0];
        let bars = bin(&values, 2, span(values.iter()).unwrap());
        assert_eq!(bars.iter().map(|b| b.2).collect::<Vec<_>>(), [3.0, 2.0]);
        let svg = Plot::new("Hist").histogram("data", values, 2).svg();
        assert!(svg.contains("Hist") && svg.contains("data") && svg.contains("count"));
    }

    #[test]
    fn odd_data_still_draws() {
        let svg = Plot::new("odd").line("nan", [0.0, 1.0, 2.0], [f64::NAN, 1.0, 1.0]).svg();
        assert!(svg.contains("odd"));
        let svg = Plot::new("empty").svg();
        assert!(svg.contains("empty"));
        let svg = Plot::new("one").scatter("p", [3], [3]).histogram("h", [5.0], 1).svg();
        assert!(svg.contains("one"));
    }

    #[test]
    fn log_axes_label_powers_of_ten_compactly() {
        let labels: Vec<String> = [-6.0, -3.0, 0.0, 4.0, 9.0].into_iter().map(power_of_ten).collect();
        assert_eq!(labels, ["1e-6", "0.001", "1", "10000", "1e9"]);
    }

    #[test]
    fn the_text_fallback_names_the_series() {
        let plot = Plot::new("T").histogram("h", [1.0, 2.0], 4);
        assert_eq!(plot.text(), "Plot \"T\": histogram \"h\" (2 values, 4 bins)");
    }

    #[test]
    #[should_panic(expected = "line \"a\": 2 x values but 3 y values; give one y for each x")]
    fn mismatched_lengths_are_explained() {
        let _ = Plot::new("t").line("a", [1, 2], [1, 2, 3]);
    }

    #[test]
    fn the_free_functions_name_the_series_after_the_title() {
        // They show the chart; here we only check they do not panic.
        line("l", [1, 2], [3, 4]);
        scatter("s", [1, 2], [3, 4]);
        bar("b", ["x", "y"], [3, 4]);
        histogram("h", [1, 2, 2, 3], 3);
    }
}
