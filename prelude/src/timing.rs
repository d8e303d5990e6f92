//! Measuring how long code takes, and how it scales with threads.
//!
//! A single measurement is noisy: the first run pays for cold caches, and
//! other programs get in the way. So these helpers run the code once to warm
//! up, then several times, and report the **median** (the middle run, which
//! ignores outliers) with the fastest and slowest runs. Each shows a table
//! (and a chart) and returns a struct whose numbers you can compute with.
//!
//! - [`timeit`] measures one piece of code;
//! - [`compare`] measures several and gives their speedups over the first;
//! - [`scaling`] runs one parallel workload on 1, 2, … N threads and fits
//!   Amdahl's law to the result.
//!
//! Timings of code taking less than a microsecond mostly measure the clock:
//! time a loop of many calls instead.
//!
//! ```
//! use rustpar::prelude::*;
//! let v: Vec<u64> = (0..100_000).collect();
//! let serial = timeit("serial sum", || v.iter().sum::<u64>());
//! let parallel = timeit("parallel sum", || v.par_iter().sum::<u64>());
//! println!("speedup: {:.2}", serial.secs() / parallel.secs());
//! ```

use crate::display::{Table, bundle, format_number};
use crate::plot::Plot;
use std::fmt;
use std::hint::black_box;
use std::time::{Duration, Instant};

/// How long the measured runs of one timing should take together, roughly.
const BUDGET: Duration = Duration::from_millis(500);
/// The most runs one timing makes.
const MAX_RUNS: usize = 50;

/// Code that can be timed: any closure taking no argument (what it returns
/// is ignored, but still computed).
///
/// ```
/// use rustpar::timing::Workload;
/// let work = || (1..=10).product::<u64>();
/// work.run();
/// ```
pub trait Workload {
    /// Runs the code once.
    ///
    /// ```
    /// use rustpar::timing::Workload;
    /// (|| println!("ran")).run();
    /// ```
    fn run(&self);
}

impl<F: Fn() -> R, R> Workload for F {
    fn run(&self) {
        black_box(self());
    }
}

/// The runs of one piece of code: made by [`timeit`], [`measure`],
/// [`compare`] and [`scaling`].
///
/// ```
/// use rustpar::prelude::*;
/// let t = measure("sleep", 3, || sleep(std::time::Duration::from_millis(2)));
/// assert_eq!(t.runs, 3);
/// assert!(t.min <= t.median && t.median <= t.max);
/// assert!(t.ms() >= 2.0);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Timing {
    /// The name given to the code.
    pub name: String,
    /// How many runs were measured (the warm-up run is not counted).
    pub runs: usize,
    /// The middle run (the mean of the two middle ones for an even count).
    pub median: Duration,
    /// The fastest run.
    pub min: Duration,
    /// The slowest run.
    pub max: Duration,
    /// The average run.
    pub mean: Duration,
    /// Every run, in the order they were made.
    pub times: Vec<Duration>,
}

impl Timing {
    /// The summary of runs timed elsewhere (GPU timings time by CUDA events).
    pub fn from_times(name: &str, times: Vec<Duration>) -> Timing {
        let mut sorted = times.clone();
        sorted.sort_unstable();
        let n = sorted.len();
        let median = if n == 0 {
            Duration::ZERO
        } else if n % 2 == 1 {
            sorted[n / 2]
        } else {
            (sorted[n / 2 - 1] + sorted[n / 2]) / 2
        };
        Timing {
            name: name.to_owned(),
            runs: n,
            median,
            min: sorted.first().copied().unwrap_or_default(),
            max: sorted.last().copied().unwrap_or_default(),
            mean: if n == 0 { Duration::ZERO } else { sorted.iter().sum::<Duration>() / n as u32 },
            times,
        }
    }

    /// The median in seconds.
    ///
    /// ```
    /// let t = rustpar::prelude::measure("nothing", 5, || ());
    /// assert!(t.secs() < 0.01);
    /// ```
    pub fn secs(&self) -> f64 {
        self.median.as_secs_f64()
    }

    /// The median in milliseconds.
    ///
    /// ```
    /// let t = rustpar::prelude::measure("nothing", 5, || ());
    /// assert!(t.ms() < 10.0);
    /// ```
    pub fn ms(&self) -> f64 {
        self.median.as_secs_f64() * 1e3
    }

    /// The timing as a one-row table.
    ///
    /// ```
    /// let t = rustpar::prelude::measure("work", 3, || ());
    /// assert!(t.table().html().contains("<td>work</td>"));
    /// ```
    pub fn table(&self) -> Table {
        Table::new(["code", "median", "min", "max", "runs"]).row((
            &self.name,
            format_duration(self.median),
            format_duration(self.min),
            format_duration(self.max),
            self.runs,
        ))
    }

    /// Shows the timing as a table.
    ///
    /// ```
    /// rustpar::prelude::measure("work", 3, || ()).show();
    /// ```
    pub fn show(&self) {
        self.table().show();
    }

    /// How evcxr shows a timing that ends a cell: its summary line (the
    /// table is already shown).
    #[doc(hidden)]
    pub fn evcxr_display(&self) {
        crate::display::bundle([("text/plain", self.to_string())]);
    }
}

impl fmt::Display for Timing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: median {} (min {}, max {}, {} runs)",
            self.name,
            format_duration(self.median),
            format_duration(self.min),
            format_duration(self.max),
            self.runs
        )
    }
}

/// Times `work` exactly `runs` times after one warm-up run, without showing
/// anything.
///
/// ```
/// use rustpar::prelude::*;
/// let t = measure("squares", 5, || (0..1000u64).map(|x| x * x).sum::<u64>());
/// assert_eq!(t.times.len(), 5);
/// ```
pub fn measure(name: &str, runs: usize, work: impl Workload) -> Timing {
    if runs == 0 {
        panic!("measure({name:?}, 0, ...) would time nothing: ask for at least 1 run");
    }
    crate::cancel::check_interrupt();
    work.run();
    Timing::from_times(name, (0..runs).map(|_| time_once(&work)).collect())
}

fn time_once(work: &(impl Workload + ?Sized)) -> Duration {
    crate::cancel::check_interrupt();
    let start = Instant::now();
    work.run();
    start.elapsed()
}

/// Times `work` with as many runs as fit in about half a second (3 to 50,
/// or just 1 for code slower than a second), after a warm-up run.
fn sample(name: &str, work: &(impl Workload + ?Sized)) -> Timing {
    let runs = runs_after_warm_up(time_once(work));
    Timing::from_times(name, (0..runs).map(|_| time_once(work)).collect())
}

/// How many runs to measure after a warm-up run that took `warm_up`: as
/// many as fit in about half a second, 3 to 50, or 1 for slow code.
pub fn runs_after_warm_up(warm_up: Duration) -> usize {
    if warm_up >= Duration::from_secs(1) { 1 } else { ((BUDGET.as_secs_f64() / warm_up.as_secs_f64().max(1e-9)) as usize).clamp(3, MAX_RUNS) }
}

/// Times `work`: one warm-up run, then as many runs as fit in about half a
/// second (at least 3, at most 50; a single one for code slower than a
/// second). Shows the median, fastest and slowest run as a table and returns
/// them.
///
/// ```
/// use rustpar::prelude::*;
/// let t = timeit("sum of squares", || (0..10_000u64).map(|x| x * x).sum::<u64>());
/// assert!(t.runs >= 3);
/// ```
pub fn timeit(name: &str, work: impl Workload) -> Timing {
    let timing = sample(name, &work);
    timing.show();
    timing
}

/// The result of [`compare`]: each version's timing and its speedup over
/// the first.
///
/// ```
/// use rustpar::prelude::*;
/// let c = compare(&[("a", &|| ()), ("b", &|| ())]);
/// assert_eq!(c.speedups[0], 1.0);
/// assert_eq!(c.timings[1].name, "b");
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Comparison {
    /// The timing of each version, in the order given.
    pub timings: Vec<Timing>,
    /// First version's median ÷ this version's median (above 1: faster).
    pub speedups: Vec<f64>,
}

impl Comparison {
    /// The comparison as a table.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let c = compare(&[("only", &|| ())]);
    /// assert!(c.table().html().contains("<td>only</td>"));
    /// ```
    pub fn table(&self) -> Table {
        let mut table = Table::new(["code", "median", "min", "max", "runs", "speedup"]);
        for (t, speedup) in self.timings.iter().zip(&self.speedups) {
            table.push((&t.name, format_duration(t.median), format_duration(t.min), format_duration(t.max), t.runs, format!("{speedup:.2}×")));
        }
        table
    }

    /// The median times as a bar chart.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let c = compare(&[("one", &|| ()), ("two", &|| ())]);
    /// assert!(c.plot().svg().contains("two"));
    /// ```
    pub fn plot(&self) -> Plot {
        let (unit, scale) = unit_for(self.timings.iter().map(|t| t.median).max().unwrap_or_default());
        Plot::new("Median time").y_label(format!("time ({unit})")).bar(
            format!("median ({unit})"),
            self.timings.iter().map(|t| &t.name),
            self.timings.iter().map(|t| t.secs() * scale).collect::<Vec<_>>(),
        )
    }

    /// Shows the table and the chart.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// compare(&[("x", &|| ())]).show();
    /// ```
    pub fn show(&self) {
        self.table().show();
        self.plot().show();
    }

    /// How evcxr shows a comparison that ends a cell: one line per version.
    #[doc(hidden)]
    pub fn evcxr_display(&self) {
        crate::display::bundle([("text/plain", self.to_string())]);
    }
}

impl fmt::Display for Comparison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (t, speedup) in self.timings.iter().zip(&self.speedups) {
            writeln!(f, "{}: {} ({speedup:.2}× the first)", t.name, format_duration(t.median))?;
        }
        Ok(())
    }
}

/// Times several versions of the same computation, one after the other (see
/// [`timeit`] for how), and shows a table with each one's speedup over the
/// first, and a bar chart of their times.
///
/// ```
/// use rustpar::prelude::*;
/// let v: Vec<u64> = (0..50_000).collect();
/// let c = compare(&[
///     ("iter", &|| v.iter().sum::<u64>()),
///     ("par_iter", &|| v.par_iter().sum::<u64>()),
/// ]);
/// println!("rayon is {:.1}× as fast", c.speedups[1]);
/// ```
pub fn compare(versions: &[(&str, &dyn Workload)]) -> Comparison {
    if versions.is_empty() {
        panic!("compare(&[]) has nothing to compare: give it (name, &|| code) pairs, e.g. compare(&[(\"a\", &|| f()), (\"b\", &|| g())])");
    }
    let timings: Vec<Timing> = versions.iter().map(|&(name, work)| sample(name, work)).collect();
    let base = timings[0].secs();
    let speedups = timings.iter().enumerate().map(|(i, t)| if i == 0 { 1.0 } else { ratio(base, t.secs()) }).collect();
    let comparison = Comparison { timings, speedups };
    comparison.show();
    comparison
}

/// A measured speedup judged against what an experiment expects: made by
/// [`check_speedup`], which measures again once before it flags a result.
///
/// ```
/// use rustpar::prelude::*;
/// let check = check_speedup("2 threads", 2, 1.0, || 1.9);
/// assert!(check.plausible());
/// assert!(check.to_string().contains("ran 1.90× as fast"));
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct SpeedupCheck {
    /// What ran, as the sentence names it ("2 threads").
    pub what: String,
    /// The speedup of the last measurement (sequential time ÷ parallel time).
    pub speedup: f64,
    /// How many threads (or processes) ran in parallel.
    pub threads: usize,
    /// The least speedup the experiment expects where it works as designed.
    pub expected: f64,
    /// How many times it was measured (2 after a result that did not hold).
    pub tries: usize,
}

impl SpeedupCheck {
    /// What is wrong with the speedup, if anything, with the likely reasons.
    pub fn problem(&self) -> Option<String> {
        let (speedup, threads) = (self.speedup, self.threads as f64);
        if !speedup.is_finite() || speedup <= 0.0 {
            return Some("the timing is not a number: the work may have taken no measurable time".into());
        }
        if speedup > threads * 1.15 {
            return Some(format!(
                "that is more than {} threads can give: the sequential run was slowed (by another program, or by a cold cache or CPU clock) or the work is too short to time; run the cell again",
                self.threads
            ));
        }
        if speedup < self.expected {
            let free = crate::pool::cores();
            let cores = if free < self.threads {
                format!("this machine has {free} cores for {} threads, so they take turns", self.threads)
            } else {
                "another program may have used the cores (the core meter, `:cores`, shows it), or the work per thread was too short to outweigh starting the threads".into()
            };
            return Some(format!("less than the {:.1}× this experiment expects: {cores}", self.expected));
        }
        None
    }

    pub fn plausible(&self) -> bool {
        self.problem().is_none()
    }

    /// The sentence, as Markdown.
    pub fn markdown(&self) -> String {
        let efficiency = 100.0 * self.speedup / self.threads.max(1) as f64;
        let measured = format!("{} ran **{:.2}× as fast** as one (efficiency {efficiency:.0} %)", self.what, self.speedup);
        match self.problem() {
            None => format!("{measured}."),
            Some(problem) => {
                let tries = if self.tries > 1 { format!(", measured {} times", self.tries) } else { String::new() };
                format!("⚠ {measured}{tries}: {problem}.")
            }
        }
    }

    /// Shows the sentence under the cell.
    pub fn show(&self) {
        crate::display::markdown(self.markdown());
    }

    #[doc(hidden)]
    pub fn evcxr_display(&self) {
        crate::display::bundle([("text/markdown", self.markdown()), ("text/plain", self.to_string())]);
    }
}

impl fmt::Display for SpeedupCheck {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.markdown().replace("**", ""))
    }
}

/// Measures a speedup with `measure` (sequential time ÷ parallel time of
/// `threads` threads), and judges it against `expected`, the least speedup
/// the experiment gives where it works as designed. A result that does not
/// hold (below `expected`, or above what `threads` threads can give) is
/// measured once more before it is flagged; the check shows its verdict as a
/// sentence ("2 threads ran 1.93× as fast as one (efficiency 96 %)"), with a
/// warning and the likely reasons when it is implausible.
///
/// ```
/// use rustpar::prelude::*;
/// let mut runs = 0;
/// let check = check_speedup("2 threads", 2, 1.5, || { runs += 1; if runs == 1 { 0.9 } else { 1.8 } });
/// assert_eq!((check.tries, check.speedup), (2, 1.8));
/// assert!(check.plausible());
/// ```
pub fn check_speedup(what: &str, threads: usize, expected: f64, mut measure: impl FnMut() -> f64) -> SpeedupCheck {
    let mut check = SpeedupCheck { what: what.to_owned(), speedup: measure(), threads, expected, tries: 1 };
    if !check.plausible() {
        check.speedup = measure();
        check.tries = 2;
    }
    check
}

/// How a workload scales with threads: made by [`scaling`].
///
/// ```
/// use rustpar::prelude::*;
/// let s = scaling(2, || (0..20_000u64).into_par_iter().map(|x| x % 7).sum::<u64>());
/// assert_eq!(s.threads, [1, 2]);
/// assert_eq!(s.efficiency[0], 1.0);
/// println!("serial fraction ≈ {:.2}", s.serial_fraction);
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct Scaling {
    /// The thread counts measured: 1, 2, … N.
    pub threads: Vec<usize>,
    /// The timing on each thread count.
    pub timings: Vec<Timing>,
    /// Time on 1 thread ÷ time on n threads (ideal: n).
    pub speedup: Vec<f64>,
    /// Speedup ÷ n: the share of ideal reached (1.0 at one thread).
    pub efficiency: Vec<f64>,
    /// The fraction *s* of the work that Amdahl's law says stays serial,
    /// fitted by least squares to the times (0 to 1; 0 when only one thread
    /// count was measured). The speedup can never exceed 1/*s*.
    pub serial_fraction: f64,
    /// The cores of this machine: speedups stop growing beyond them.
    pub cores: usize,
}

impl Scaling {
    /// The speedup Amdahl's law predicts on `threads` threads with the fitted
    /// serial fraction: 1 / (s + (1 − s) / n).
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let s = scaling(1, || ());
    /// assert_eq!(s.amdahl(1), 1.0);
    /// ```
    pub fn amdahl(&self, threads: usize) -> f64 {
        amdahl(self.serial_fraction, threads)
    }

    /// The measurements as a table.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let s = scaling(1, || ());
    /// assert!(s.table().html().contains("efficiency"));
    /// ```
    pub fn table(&self) -> Table {
        let mut table = Table::new(["threads", "median time", "speedup", "efficiency", "Amdahl fit"]).caption(self.summary());
        for (i, &n) in self.threads.iter().enumerate() {
            table.push((
                n,
                format_duration(self.timings[i].median),
                format!("{:.2}×", self.speedup[i]),
                format!("{:.0}%", self.efficiency[i] * 100.0),
                format!("{:.2}×", self.amdahl(n)),
            ));
        }
        table
    }

    /// One sentence on the fit and the machine.
    fn summary(&self) -> String {
        let mut text = if self.threads.len() < 2 {
            "Measure at least 2 thread counts to fit Amdahl's law.".to_owned()
        } else if self.serial_fraction > 0.0 {
            format!(
                "Amdahl fit: serial fraction {:.3}, so at most {}× faster on any number of threads.",
                self.serial_fraction,
                format_number(1.0 / self.serial_fraction)
            )
        } else {
            "Amdahl fit: serial fraction 0 (the times scale perfectly).".to_owned()
        };
        if self.threads.last().is_some_and(|&n| n > self.cores) {
            text += &format!(" This machine has {} cores: more threads than that share them.", self.cores);
        }
        text
    }

    /// Speedup against threads, measured, ideal and as Amdahl's law fits it.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// let s = scaling(2, || ());
    /// assert!(s.plot().svg().contains("ideal"));
    /// ```
    pub fn plot(&self) -> Plot {
        let max = self.threads.last().copied().unwrap_or(1);
        let fine: Vec<f64> = (0..=40).map(|i| 1.0 + (max as f64 - 1.0) * i as f64 / 40.0).collect();
        let fitted: Vec<f64> = fine.iter().map(|&n| amdahl_f(self.serial_fraction, n)).collect();
        Plot::new("Speedup")
            .whole_x()
            .x_label("threads")
            .y_label("speedup")
            .dashed_line("ideal", &self.threads, &self.threads)
            .line(format!("Amdahl, s = {:.3}", self.serial_fraction), &fine, &fitted)
            .marked_line("measured", &self.threads, &self.speedup)
    }

    /// The chart as SVG.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// assert!(scaling(1, || ()).svg().contains("<svg"));
    /// ```
    pub fn svg(&self) -> String {
        self.plot().svg()
    }

    /// Shows the table and the chart.
    ///
    /// ```
    /// use rustpar::prelude::*;
    /// scaling(1, || ()).show();
    /// ```
    pub fn show(&self) {
        self.table().show();
        bundle([("image/svg+xml", self.svg()), ("text/plain", self.plot().text())]);
    }

    /// How evcxr shows a scaling that ends a cell: its table as text (the
    /// table and chart are already shown).
    #[doc(hidden)]
    pub fn evcxr_display(&self) {
        crate::display::bundle([("text/plain", self.to_string())]);
    }
}

impl fmt::Display for Scaling {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.table().text())
    }
}

/// Amdahl's law: the speedup on `n` threads when a fraction `s` stays serial.
fn amdahl(s: f64, n: usize) -> f64 {
    amdahl_f(s, n as f64)
}

fn amdahl_f(s: f64, n: f64) -> f64 {
    1.0 / (s + (1.0 - s) / n)
}

/// Fits Amdahl's serial fraction to times relative to one thread: with
/// r(n) = t(n)/t(1) = s + (1 − s)/n, that is r − 1/n = s·(1 − 1/n), a line
/// through the origin, whose least-squares slope is Σxy / Σx².
fn fit_serial_fraction(threads: &[usize], relative_times: &[f64]) -> f64 {
    let (mut xy, mut xx) = (0.0, 0.0);
    for (&n, &r) in threads.iter().zip(relative_times) {
        let x = 1.0 - 1.0 / n as f64;
        let y = r - 1.0 / n as f64;
        xy += x * y;
        xx += x * x;
    }
    if xx == 0.0 || !xy.is_finite() { 0.0 } else { (xy / xx).clamp(0.0, 1.0) }
}

/// `a / b`, without dividing by zero.
fn ratio(a: f64, b: f64) -> f64 {
    a / b.max(1e-12)
}

/// Runs `workload` on rayon pools of 1, 2, … `max_threads` threads (a fresh
/// pool for each, so the parallel iterators inside use exactly that many
/// threads), timing it on each (see [`timeit`] for how). Shows a table of
/// time, speedup and efficiency, and a chart comparing the speedup with the
/// ideal and with Amdahl's law fitted to it; returns the numbers.
///
/// The workload must use rayon (`par_iter`, `join`, ...) to get faster with
/// more threads: code that does not stays at speedup 1.
///
/// ```
/// use rustpar::prelude::*;
/// let v: Vec<f64> = random_vec(100_000, 1);
/// let s = scaling(2, || v.par_iter().map(|x| x.sqrt()).sum::<f64>());
/// assert_eq!(s.efficiency[0], 1.0);
/// assert!(s.serial_fraction >= 0.0 && s.serial_fraction <= 1.0);
/// ```
pub fn scaling<R>(max_threads: usize, workload: impl Fn() -> R + Sync) -> Scaling {
    let scaling = measure_scaling(max_threads, &workload);
    scaling.show();
    scaling
}

fn measure_scaling<R>(max_threads: usize, workload: &(impl Fn() -> R + Sync)) -> Scaling {
    if max_threads == 0 {
        panic!("scaling(0, ...) measures nothing: give the largest thread count to try, e.g. scaling(cores(), || ...)");
    }
    let threads: Vec<usize> = (1..=max_threads).collect();
    let timings: Vec<Timing> = threads
        .iter()
        .map(|&n| {
            crate::cancel::check_interrupt();
            let work = || {
                black_box(workload());
            };
            crate::pool::pool(n).install(|| sample(&format!("{n} thread{}", if n == 1 { "" } else { "s" }), &work))
        })
        .collect();
    let base = timings[0].secs();
    let speedup: Vec<f64> = timings.iter().enumerate().map(|(i, t)| if i == 0 { 1.0 } else { ratio(base, t.secs()) }).collect();
    let efficiency = speedup.iter().zip(&threads).map(|(s, &n)| s / n as f64).collect();
    let relative: Vec<f64> = speedup.iter().map(|s| 1.0 / s).collect();
    Scaling { serial_fraction: fit_serial_fraction(&threads, &relative), threads, timings, speedup, efficiency, cores: crate::pool::cores() }
}

/// A duration with three significant digits and a fitting unit: `850 ns`,
/// `12.3 µs`, `1.50 ms`, `2.34 s`, `2 min 5 s`.
///
/// ```
/// use rustpar::timing::format_duration;
/// use std::time::Duration;
/// assert_eq!(format_duration(Duration::from_micros(1500)), "1.50 ms");
/// assert_eq!(format_duration(Duration::from_secs(125)), "2 min 5 s");
/// ```
pub fn format_duration(d: Duration) -> String {
    let secs = d.as_secs_f64();
    if secs >= 60.0 {
        let whole = d.as_secs();
        return format!("{} min {} s", whole / 60, whole % 60);
    }
    let (unit, scale) = unit_for(d);
    let value = secs * scale;
    let decimals = if value < 10.0 {
        2
    } else if value < 100.0 {
        1
    } else {
        0
    };
    if unit == "ns" { format!("{} ns", d.as_nanos()) } else { format!("{value:.decimals$} {unit}") }
}

/// The unit that shows `d` as a number from 1 to 999, and its scale from
/// seconds.
fn unit_for(d: Duration) -> (&'static str, f64) {
    let secs = d.as_secs_f64();
    if secs >= 1.0 {
        ("s", 1.0)
    } else if secs >= 1e-3 {
        ("ms", 1e3)
    } else if secs >= 1e-6 {
        ("µs", 1e6)
    } else {
        ("ns", 1e9)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statistics_of_runs() {
        let ms = Duration::from_millis;
        let t = Timing::from_times("t", vec![ms(5), ms(1), ms(3), ms(100)]);
        assert_eq!((t.runs, t.median, t.min, t.max), (4, ms(4), ms(1), ms(100)));
        assert_eq!(t.mean, Duration::from_micros(27_250));
        assert_eq!(t.times[0], ms(5));
        let t = Timing::from_times("t", vec![ms(2), ms(9), ms(4)]);
        assert_eq!(t.median, ms(4));
    }

    #[test]
    fn timeit_measures_sleeping() {
        let t = timeit("sleep", || std::thread::sleep(Duration::from_millis(20)));
        assert!(t.median >= Duration::from_millis(20), "{t}");
        assert!((3..=MAX_RUNS).contains(&t.runs), "{t}");
        assert!(t.table().html().contains("<td>sleep</td>"));
    }

    #[test]
    fn compare_gives_speedups_over_the_first() {
        let slow = || std::thread::sleep(Duration::from_millis(12));
        let fast = || std::thread::sleep(Duration::from_millis(3));
        let c = compare(&[("slow", &slow), ("fast", &fast)]);
        assert_eq!(c.speedups[0], 1.0);
        assert!(c.speedups[1] > 1.5, "{:?}", c.speedups);
        let svg = c.plot().svg();
        assert!(svg.contains("slow") && svg.contains("fast"));
        assert!(c.table().html().contains("<td>slow</td>"));
    }

    #[test]
    fn amdahl_fit_recovers_a_known_serial_fraction() {
        let threads = [1, 2, 3, 4, 8];
        for s in [0.0, 0.1, 0.5, 1.0] {
            let relative: Vec<f64> = threads.iter().map(|&n| 1.0 / amdahl(s, n)).collect();
            let fitted = fit_serial_fraction(&threads, &relative);
            assert!((fitted - s).abs() < 1e-12, "s = {s}, fitted {fitted}");
        }
        assert_eq!(fit_serial_fraction(&[1], &[1.0]), 0.0);
        // Slower with more threads: everything serial (and more).
        assert_eq!(fit_serial_fraction(&[1, 2], &[1.0, 2.0]), 1.0);
    }

    #[test]
    fn scaling_reports_exact_efficiency_at_one_thread_and_draws_a_chart() {
        let s = measure_scaling(3, &|| {
            use rayon::prelude::*;
            (0..200u32).into_par_iter().map(|_| std::thread::sleep(Duration::from_micros(200))).count()
        });
        assert_eq!(s.threads, [1, 2, 3]);
        assert_eq!(s.speedup[0], 1.0);
        assert_eq!(s.efficiency[0], 1.0);
        assert_eq!(s.timings.len(), 3);
        assert!((0.0..=1.0).contains(&s.serial_fraction));
        // Sleeping threads do not need cores: 2 threads are clearly faster.
        assert!(s.speedup[1] > 1.3, "{:?}", s.speedup);
        let svg = s.svg();
        assert!(svg.contains("<svg") && svg.contains("measured") && svg.contains("ideal") && svg.contains("Amdahl"));
        let html = s.table().html();
        assert!(html.contains("<td>100%</td>"), "{html}");
    }

    #[test]
    fn durations_read_well() {
        let cases = [
            (Duration::from_nanos(850), "850 ns"),
            (Duration::from_nanos(12_345), "12.3 µs"),
            (Duration::from_micros(1500), "1.50 ms"),
            (Duration::from_millis(250), "250 ms"),
            (Duration::from_millis(2340), "2.34 s"),
            (Duration::from_secs(125), "2 min 5 s"),
        ];
        for (d, text) in cases {
            assert_eq!(format_duration(d), text);
        }
    }
}
