//! The core meter: what the machine's cores did while a cell ran.
//!
//! The kernel, never the cell, samples each core's busy and idle time
//! (`/proc/stat`) and the cell process's own CPU time (`/proc/PID/stat`) about
//! four times a second while a cell runs, and nothing while the kernel is
//! idle. Every cell gets the figures ([`CpuUsage`]: in the execute_reply's
//! metadata and `:timing`'s line); with `:cores` on, a display under the cell
//! shows each core's load as it goes (updated in place, as a progress bar is)
//! and ends as the run's averages and one sentence that says whether the cell
//! had the machine to itself.

use crate::outputs::{Output, OutputSink};
use crossbeam_channel::{Receiver, Sender};
use serde_json::{Map, Value, json};
use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// How often the meter samples while a cell runs.
const SAMPLE_EVERY: Duration = Duration::from_millis(250);

/// Other processes' CPU time, as a share of what the machine could give
/// during the run, above which the sentence says they competed.
const NOTICEABLE_OTHERS: f64 = 0.05;

/// One reading: each core's busy and total time, and the cell process's CPU time.
#[derive(Debug, Clone, PartialEq)]
struct Sample {
    at: Instant,
    /// (busy, total) per core, in seconds.
    cores: Vec<(f64, f64)>,
    /// The cell process's CPU time (its threads'; processes it starts count as others).
    cell: Option<f64>,
}

/// What a cell's run did with the machine.
#[derive(Debug, Clone, PartialEq)]
pub struct CpuUsage {
    /// How long the cell's code ran (compiling not included).
    pub run: Duration,
    /// CPU time of the cell process during the run.
    pub cell_cpu: Duration,
    /// CPU time of every other process during the run.
    pub other_cpu: Duration,
    /// Each core's busy share during the run, 0 to 1.
    pub per_core: Vec<f64>,
}

impl CpuUsage {
    pub fn cores(&self) -> usize {
        self.per_core.len()
    }

    /// How many cores the cell kept busy on average. The kernel reads CPU
    /// time in clock ticks (10 ms), so a run shorter than a tick can seem to
    /// use more cores than there are: never more than the machine has.
    pub fn cores_used(&self) -> f64 {
        let run = self.run.as_secs_f64();
        if run == 0.0 { 0.0 } else { (self.cell_cpu.as_secs_f64() / run).min(self.cores() as f64) }
    }

    /// The figures for the execute_reply's metadata.
    pub fn metadata(&self) -> Value {
        let millis = |d: Duration| (d.as_secs_f64() * 1e4).round() / 10.0;
        json!({ "cpu_ms": millis(self.cell_cpu), "cores_used": (self.cores_used() * 100.0).round() / 100.0, "other_cpu_ms": millis(self.other_cpu) })
    }

    /// What the run did, in one sentence, with its reason when the machine was shared.
    pub fn sentence(&self) -> String {
        let cores = self.cores();
        let used = self.cores_used();
        let share = 100.0 * used / cores.max(1) as f64;
        let ran = self.run.as_secs_f64();
        let others = self.other_cpu.as_secs_f64();
        let mut sentence = format!("The cell used {used:.1} of {cores} cores on average ({share:.0} %) over the {ran:.2} s it ran");
        if others > NOTICEABLE_OTHERS * ran * cores as f64 {
            sentence.push_str(&format!(
                "; other processes (programs the cell started count here too) used {others:.2} s of CPU meanwhile, \
                 so its threads did not have the machine to themselves and its timings are slower than they would be alone."
            ));
        } else {
            sentence.push_str("; no other process competed for the cores.");
        }
        sentence
    }
}

/// Samples while a cell runs; [`CpuMeter::finish`] ends it.
pub struct CpuMeter {
    stop: Sender<()>,
    sampler: JoinHandle<Vec<Sample>>,
    cell_process: Arc<dyn Fn() -> Option<u32> + Send + Sync>,
    display: Option<MeterDisplay>,
}

/// The display under the cell, when the meter is shown.
#[derive(Clone)]
struct MeterDisplay {
    sink: Arc<dyn OutputSink>,
    id: String,
}

impl CpuMeter {
    /// Starts sampling the machine and the process that `cell_process`
    /// names at each sample (a first cell's appears once the session has
    /// started); with `shown`, the display under the cell follows the cores live.
    pub fn start(cell_process: Arc<dyn Fn() -> Option<u32> + Send + Sync>, shown: Option<Arc<dyn OutputSink>>) -> CpuMeter {
        let display = shown.map(|sink| MeterDisplay { sink, id: format!("rustpar-cores-{}", uuid::Uuid::new_v4()) });
        let (stop, stopped) = crossbeam_channel::bounded(1);
        let (live, pid) = (display.clone(), cell_process.clone());
        let sampler = std::thread::Builder::new()
            .name("rustpar-core-meter".into())
            .spawn(move || sample_until(&stopped, &*pid, live.as_ref()))
            .expect("the kernel can start its core meter");
        CpuMeter { stop, sampler, cell_process, display }
    }

    /// Ends the sampling; `run` is how long the cell's code ran, up to now.
    /// With the display shown, replaces it with the run's figures. `None`
    /// where `/proc` cannot be read.
    pub fn finish(self, run: Duration) -> Option<CpuUsage> {
        let _ = self.stop.send(());
        let mut samples = self.sampler.join().unwrap_or_default();
        samples.push(read_sample((self.cell_process)())?);
        let usage = usage_over(&samples, run)?;
        if let Some(display) = &self.display {
            display.show(&usage.per_core, &usage.sentence(), true);
        }
        Some(usage)
    }
}

fn sample_until(stopped: &Receiver<()>, cell_process: &dyn Fn() -> Option<u32>, display: Option<&MeterDisplay>) -> Vec<Sample> {
    let mut samples: Vec<Sample> = Vec::new();
    loop {
        let Some(sample) = read_sample(cell_process()) else { return samples };
        if let (Some(display), Some(previous)) = (display, samples.last()) {
            let loads = loads_between(previous, &sample);
            let cell = match (previous.cell, sample.cell) {
                (Some(before), Some(after)) => {
                    let cores = (after - before) / sample.at.duration_since(previous.at).as_secs_f64().max(1e-9);
                    format!("running: the cell keeps {cores:.1} cores busy")
                }
                _ => "running".to_owned(),
            };
            display.show(&loads, &cell, true);
        } else if let Some(display) = display {
            display.show(&vec![0.0; sample.cores.len()], "starting", false);
        }
        samples.push(sample);
        if !matches!(stopped.recv_timeout(SAMPLE_EVERY), Err(crossbeam_channel::RecvTimeoutError::Timeout)) {
            return samples;
        }
    }
}

impl MeterDisplay {
    fn show(&self, loads: &[f64], caption: &str, update: bool) {
        let mut data = Map::new();
        data.insert("image/svg+xml".into(), Value::String(bars_svg(loads, caption)));
        data.insert("text/plain".into(), Value::String(bars_text(loads, caption)));
        self.sink.emit(Output::Display { data, metadata: Map::new(), display_id: Some(self.id.clone()), update });
    }
}

/// Each core's busy share between two samples.
fn loads_between(before: &Sample, after: &Sample) -> Vec<f64> {
    before.cores.iter().zip(&after.cores).map(|(&(busy0, total0), &(busy1, total1))| share(busy1 - busy0, total1 - total0)).collect()
}

fn share(busy: f64, total: f64) -> f64 {
    if total > 0.0 { (busy / total).clamp(0.0, 1.0) } else { 0.0 }
}

/// The figures of the last `run` of the samples: the cell process is idle
/// while its cell compiles, so its CPU time over all samples is the run's;
/// the machine's is interpolated at the run's start.
fn usage_over(samples: &[Sample], run: Duration) -> Option<CpuUsage> {
    let (first, last) = (samples.first()?, samples.last()?);
    let run_start = last.at.checked_sub(run).unwrap_or(first.at).max(first.at);
    let start = interpolated(samples, run_start);
    let per_core = loads_between(&start, last);
    let machine_busy: f64 = start.cores.iter().zip(&last.cores).map(|((busy0, _), (busy1, _))| busy1 - busy0).sum();
    let cell_before = samples.iter().find_map(|sample| sample.cell);
    let cell = match (cell_before, last.cell) {
        (Some(before), Some(after)) => (after - before).max(0.0),
        _ => 0.0,
    };
    Some(CpuUsage {
        run: last.at.duration_since(run_start),
        cell_cpu: Duration::from_secs_f64(cell),
        other_cpu: Duration::from_secs_f64((machine_busy - cell).max(0.0)),
        per_core,
    })
}

/// The machine's times at `at`, between the samples around it.
fn interpolated(samples: &[Sample], at: Instant) -> Sample {
    let after = samples.iter().position(|sample| sample.at >= at).unwrap_or(samples.len() - 1);
    let (a, b) = (&samples[after.saturating_sub(1)], &samples[after]);
    let span = b.at.duration_since(a.at).as_secs_f64();
    let t = if span > 0.0 { at.saturating_duration_since(a.at).as_secs_f64() / span } else { 1.0 };
    let mix = |x: f64, y: f64| x + (y - x) * t.clamp(0.0, 1.0);
    Sample { at, cores: a.cores.iter().zip(&b.cores).map(|(&(b0, t0), &(b1, t1))| (mix(b0, b1), mix(t0, t1))).collect(), cell: a.cell }
}

fn read_sample(pid: Option<u32>) -> Option<Sample> {
    let at = Instant::now();
    let cores = parse_proc_stat(&std::fs::read_to_string("/proc/stat").ok()?, clock_ticks());
    if cores.is_empty() {
        return None;
    }
    let cell = pid.and_then(|pid| parse_process_cpu(&std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?, clock_ticks()));
    Some(Sample { at, cores, cell })
}

fn clock_ticks() -> f64 {
    // SAFETY: sysconf has no preconditions.
    let ticks = unsafe { libc::sysconf(libc::_SC_CLK_TCK) };
    if ticks > 0 { ticks as f64 } else { 100.0 }
}

/// (busy, total) seconds of each `cpuN` line of /proc/stat.
fn parse_proc_stat(text: &str, ticks: f64) -> Vec<(f64, f64)> {
    text.lines()
        .filter(|line| line.starts_with("cpu") && line.as_bytes().get(3).is_some_and(u8::is_ascii_digit))
        .map(|line| {
            let fields: Vec<f64> = line.split_whitespace().skip(1).map(|field| field.parse().unwrap_or(0.0)).collect();
            let field = |index: usize| fields.get(index).copied().unwrap_or(0.0);
            // user nice system idle iowait irq softirq steal (guest time is within user)
            let idle = field(3) + field(4);
            let busy = field(0) + field(1) + field(2) + field(5) + field(6) + field(7);
            (busy / ticks, (busy + idle) / ticks)
        })
        .collect()
}

/// utime + stime of a /proc/PID/stat line, in seconds: the process's own
/// threads. Processes it starts are other processes to the meter, as they
/// are to the operating system (their time joins the parent's only once
/// waited for, and then all at once).
fn parse_process_cpu(text: &str, ticks: f64) -> Option<f64> {
    // The command name may hold spaces and parentheses: fields start after the last ')'.
    let fields: Vec<&str> = text.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks_used: f64 = fields.get(11..13)?.iter().map(|field| field.parse::<f64>().unwrap_or(0.0)).sum();
    Some(ticks_used / ticks)
}

fn bars_text(loads: &[f64], caption: &str) -> String {
    let bars: Vec<String> = loads.iter().enumerate().map(|(core, load)| format!("core {core}: {:3.0} %", load * 100.0)).collect();
    format!("{}\n{caption}", bars.join(", "))
}

/// One bar per core, and the caption under them.
fn bars_svg(loads: &[f64], caption: &str) -> String {
    const HEIGHT: f64 = 60.0;
    let bar = (480.0 / loads.len().max(1) as f64).clamp(6.0, 40.0);
    let gap = (bar / 4.0).round();
    let lines = wrap(caption, 90);
    let width = ((bar + gap) * loads.len() as f64 + 20.0).max(560.0);
    let height = HEIGHT + 40.0 + 16.0 * lines.len() as f64;
    let mut svg =
        format!("<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{width:.0}\" height=\"{height:.0}\" font-family=\"sans-serif\" font-size=\"11\">");
    for (core, &load) in loads.iter().enumerate() {
        let x = 10.0 + core as f64 * (bar + gap);
        let filled = HEIGHT * load.clamp(0.0, 1.0);
        svg.push_str(&format!(
            "<rect x=\"{x:.1}\" y=\"16\" width=\"{bar:.1}\" height=\"{HEIGHT}\" fill=\"#e5e7eb\"/>\
             <rect x=\"{x:.1}\" y=\"{:.1}\" width=\"{bar:.1}\" height=\"{filled:.1}\" fill=\"#2563eb\"><title>core {core}: {:.0} %</title></rect>",
            16.0 + HEIGHT - filled,
            load * 100.0
        ));
        if bar >= 20.0 {
            let middle = x + bar / 2.0;
            svg.push_str(&format!("<text x=\"{middle:.1}\" y=\"12\" text-anchor=\"middle\">{:.0}%</text>", load * 100.0));
            svg.push_str(&format!("<text x=\"{middle:.1}\" y=\"{:.0}\" text-anchor=\"middle\">{core}</text>", HEIGHT + 30.0));
        }
    }
    for (index, line) in lines.iter().enumerate() {
        svg.push_str(&format!("<text x=\"10\" y=\"{:.0}\" font-size=\"12\">{}</text>", HEIGHT + 50.0 + 16.0 * index as f64, escape(line)));
    }
    svg.push_str("</svg>");
    svg
}

/// `text` in lines of at most about `width` characters, broken at spaces.
fn wrap(text: &str, width: usize) -> Vec<String> {
    let mut lines: Vec<String> = Vec::new();
    for word in text.split(' ') {
        match lines.last_mut() {
            Some(line) if line.chars().count() + 1 + word.chars().count() <= width => {
                line.push(' ');
                line.push_str(word);
            }
            _ => lines.push(word.to_owned()),
        }
    }
    lines
}

fn escape(text: &str) -> String {
    text.replace('&', "&amp;").replace('<', "&lt;").replace('>', "&gt;")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_run_shorter_than_a_clock_tick_never_uses_more_cores_than_there_are() {
        let usage =
            CpuUsage { run: Duration::from_micros(400), cell_cpu: Duration::from_millis(10), other_cpu: Duration::ZERO, per_core: vec![0.5, 0.5] };
        assert_eq!(usage.cores_used(), 2.0);
        assert_eq!(CpuUsage { run: Duration::ZERO, ..usage }.cores_used(), 0.0);
    }

    #[test]
    fn proc_stat_gives_each_cores_busy_and_total_time() {
        let text = "cpu  300 0 100 600 0 0 0 0 0 0\ncpu0 200 0 50 250 0 0 0 0 0 0\ncpu1 100 0 50 340 10 0 0 0 0 0\nintr 1 2 3\n";
        assert_eq!(parse_proc_stat(text, 100.0), [(2.5, 5.0), (1.5, 5.0)]);
    }

    #[test]
    fn a_process_cpu_time_is_read_past_a_name_with_spaces_and_parentheses() {
        let text = "42 (a (b) c) S 1 42 42 0 -1 4194304 100 0 0 0 250 50 3 7 20 0 4 0 100 0 0";
        assert_eq!(parse_process_cpu(text, 100.0), Some(3.0));
    }

    fn sample(at: Instant, seconds: f64, busy: [f64; 2], cell: f64) -> Sample {
        Sample { at: at + Duration::from_secs_f64(seconds), cores: busy.iter().map(|&b| (b, seconds)).collect(), cell: Some(cell) }
    }

    #[test]
    fn the_run_counts_from_its_start_not_from_the_compile() {
        let t = Instant::now();
        // Compiling for 1 s keeps core 0 busy (the compiler, another process);
        // then the cell runs 1 s on both cores.
        let samples = [sample(t, 0.0, [0.0, 0.0], 0.0), sample(t, 1.0, [1.0, 0.0], 0.0), sample(t, 2.0, [2.0, 1.0], 2.0)];
        let usage = usage_over(&samples, Duration::from_secs(1)).unwrap();
        assert_eq!(usage.per_core, [1.0, 1.0]);
        assert!((usage.cores_used() - 2.0).abs() < 1e-9);
        assert_eq!(usage.other_cpu, Duration::ZERO, "the compiler ran before the run");
        assert!(usage.sentence().contains("2.0 of 2 cores on average (100 %)"), "{}", usage.sentence());
        assert!(usage.sentence().contains("no other process"), "{}", usage.sentence());
    }

    #[test]
    fn another_process_during_the_run_is_named_in_the_sentence() {
        let t = Instant::now();
        // The cell keeps one core busy, another process the other.
        let samples = [sample(t, 0.0, [0.0, 0.0], 0.0), sample(t, 2.0, [2.0, 2.0], 2.0)];
        let usage = usage_over(&samples, Duration::from_secs(2)).unwrap();
        assert!((usage.cores_used() - 1.0).abs() < 1e-9);
        assert_eq!(usage.other_cpu, Duration::from_secs(2));
        assert!(usage.sentence().contains("used 2.00 s of CPU meanwhile"), "{}", usage.sentence());
        assert_eq!(usage.metadata(), json!({ "cpu_ms": 2000.0, "cores_used": 1.0, "other_cpu_ms": 2000.0 }));
    }

    #[test]
    fn the_bars_show_each_core_and_the_caption() {
        let svg = bars_svg(&[0.5, 1.0], "used <all> cores");
        assert!(svg.starts_with("<svg") && svg.ends_with("</svg>"));
        assert!(svg.contains("core 0: 50 %") && svg.contains("core 1: 100 %"));
        assert!(svg.contains("used &lt;all&gt; cores"));
        assert_eq!(bars_text(&[0.5, 1.0], "x"), "core 0:  50 %, core 1: 100 %\nx");
    }

    #[test]
    fn this_machine_can_be_read() {
        let sample = read_sample(Some(std::process::id())).expect("/proc is there");
        assert!(!sample.cores.is_empty());
        assert!(sample.cell.is_some());
    }
}
