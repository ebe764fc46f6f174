//! CPU time, memory and threads of processes, read from `/proc` (Linux only; on
//! another system every reading is `None`), and a background sampler of the
//! server process.

use std::collections::{BTreeMap, HashMap};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde::Serialize;

/// Clock ticks per second of the `utime`/`stime` fields (`getconf CLK_TCK`; 100,
/// the Linux `USER_HZ` of every common architecture, if that cannot be run).
pub fn clk_tck() -> f64 {
    std::process::Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .and_then(|s| s.trim().parse::<f64>().ok())
        .filter(|&t| t > 0.0)
        .unwrap_or(100.0)
}

/// The name (between the parentheses) and the fields after it of a `stat` file.
fn read_stat(path: &str) -> Option<(String, Vec<String>)> {
    let raw = std::fs::read_to_string(path).ok()?;
    let open = raw.find('(')?;
    let close = raw.rfind(')')?;
    let name = raw.get(open + 1..close)?.to_string();
    let fields = raw
        .get(close + 1..)?
        .split_whitespace()
        .map(str::to_string)
        .collect();
    Some((name, fields))
}

/// `utime + stime` of a `stat` file, in ticks. After the `)`, field 3 (state)
/// is index 0, so utime (14) is index 11 and stime (15) index 12.
fn stat_ticks(fields: &[String]) -> Option<u64> {
    let u: u64 = fields.get(11)?.parse().ok()?;
    let s: u64 = fields.get(12)?.parse().ok()?;
    Some(u + s)
}

/// User + system CPU seconds of a process: `pid` is a number or `self`.
pub fn cpu_seconds(pid: &str, tck: f64) -> Option<f64> {
    let (_, f) = read_stat(&format!("/proc/{pid}/stat"))?;
    Some(stat_ticks(&f)? as f64 / tck)
}

/// (user, system) CPU seconds of a process: `pid` is a number or `self`.
pub fn cpu_split(pid: &str, tck: f64) -> Option<(f64, f64)> {
    let (_, f) = read_stat(&format!("/proc/{pid}/stat"))?;
    let u: u64 = f.get(11)?.parse().ok()?;
    let s: u64 = f.get(12)?.parse().ok()?;
    Some((u as f64 / tck, s as f64 / tck))
}

/// User + system CPU seconds of the calling thread.
pub fn thread_cpu_seconds(tck: f64) -> Option<f64> {
    let (_, f) = read_stat("/proc/thread-self/stat")?;
    Some(stat_ticks(&f)? as f64 / tck)
}

/// Memory and threads of a process, from `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug, Default, Serialize)]
pub struct Mem {
    /// `VmRSS`, KiB.
    pub rss_kib: u64,
    /// `VmHWM` (peak RSS), KiB.
    pub hwm_kib: u64,
    /// `Threads`.
    pub threads: u64,
}

/// `VmRSS`, `VmHWM` and `Threads` of a process.
pub fn mem(pid: u32) -> Option<Mem> {
    let raw = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let mut m = Mem::default();
    let mut seen = 0;
    for line in raw.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        let n = || {
            v.split_whitespace()
                .next()
                .and_then(|x| x.parse::<u64>().ok())
        };
        match k {
            "VmRSS" => m.rss_kib = n().unwrap_or(0),
            "VmHWM" => m.hwm_kib = n().unwrap_or(0),
            "Threads" => m.threads = n().unwrap_or(0),
            _ => continue,
        }
        seen += 1;
    }
    (seen > 0).then_some(m)
}

/// (busy, total) jiffies of the whole machine, from the first line of `/proc/stat`.
pub fn machine() -> Option<(u64, u64)> {
    let raw = std::fs::read_to_string("/proc/stat").ok()?;
    let line = raw.lines().next()?;
    let v: Vec<u64> = line
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    if v.len() < 5 {
        return None;
    }
    let total: u64 = v.iter().sum();
    Some((total - v[3] - v[4], total))
}

/// The machine's CPU model, for the report.
pub fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, v)| v.trim().to_string())
        })
        .unwrap_or_else(|| std::env::consts::ARCH.to_string())
}

/// The 1-minute load average.
pub fn loadavg() -> Option<f64> {
    std::fs::read_to_string("/proc/loadavg")
        .ok()?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// One reading of the server's `/proc/<pid>/status`.
#[derive(Clone, Copy, Debug, Serialize)]
pub struct Sample {
    /// Seconds since the sampler started.
    pub t: f64,
    /// Threads of the server.
    pub threads: u64,
    /// `VmRSS`, KiB.
    pub rss_kib: u64,
    /// `VmHWM`, KiB.
    pub hwm_kib: u64,
}

/// CPU of a group of the server's threads (by name) over a window.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Group {
    /// Threads seen in the group.
    pub threads: u64,
    /// CPU seconds they used in the window.
    pub cpu_seconds: f64,
}

#[derive(Default)]
struct Tasks {
    on: bool,
    first: HashMap<String, u64>,
    last: HashMap<String, u64>,
    names: HashMap<String, String>,
}

impl Tasks {
    /// Reads every thread of `pid`; threads first seen while `on` was already set
    /// were born in the window and start from zero.
    fn sample(&mut self, pid: u32, baseline: bool) {
        let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/task")) else {
            return;
        };
        for entry in dir.flatten() {
            let tid = entry.file_name().to_string_lossy().into_owned();
            let Some((name, fields)) = read_stat(&format!("/proc/{pid}/task/{tid}/stat")) else {
                continue;
            };
            let Some(ticks) = stat_ticks(&fields) else {
                continue;
            };
            self.first
                .entry(tid.clone())
                .or_insert(if baseline { ticks } else { 0 });
            self.last.insert(tid.clone(), ticks);
            self.names.insert(tid, name);
        }
    }
}

struct Shared {
    timeline: Vec<Sample>,
    tasks: Tasks,
    own_cpu: Option<f64>,
}

/// Samples the server's threads and memory every `interval` from a thread of
/// its own (not a worker of the client's runtime), and, between
/// [`Sampler::begin_tasks`] and [`Sampler::end_tasks`], the CPU time of each of
/// its threads, so that threads that exit in the window are counted up to
/// their last sample.
pub struct Sampler {
    pid: u32,
    start: Instant,
    tck: f64,
    shared: Arc<Mutex<Shared>>,
    stop: Option<mpsc::Sender<()>>,
    handle: Option<JoinHandle<Option<f64>>>,
}

impl Sampler {
    /// Starts sampling `pid`.
    pub fn start(pid: u32, interval: Duration, tck: f64) -> Self {
        let start = Instant::now();
        let shared = Arc::new(Mutex::new(Shared {
            timeline: Vec::new(),
            tasks: Tasks::default(),
            own_cpu: None,
        }));
        let (tx, rx) = mpsc::channel::<()>();
        let sh = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("proc-sampler".into())
            .spawn(move || {
                loop {
                    sample_into(&sh, pid, start);
                    let own = thread_cpu_seconds(tck);
                    sh.lock().unwrap_or_else(|e| e.into_inner()).own_cpu = own;
                    match rx.recv_timeout(interval) {
                        Err(mpsc::RecvTimeoutError::Timeout) => {}
                        _ => break,
                    }
                }
                thread_cpu_seconds(tck)
            })
            .ok();
        Sampler {
            pid,
            start,
            tck,
            shared,
            stop: Some(tx),
            handle,
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Shared> {
        self.shared.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Seconds since the sampler started (the time axis of the samples).
    pub fn now(&self) -> f64 {
        self.start.elapsed().as_secs_f64()
    }

    /// The sampler thread's own CPU seconds so far (as of its latest sample).
    pub fn own_cpu(&self) -> Option<f64> {
        self.lock().own_cpu
    }

    /// Takes a sample now (besides the periodic ones) and returns it.
    pub fn sample_now(&self) -> Option<Sample> {
        sample_into(&self.shared, self.pid, self.start)
    }

    /// Starts the per-thread CPU window: a baseline of the threads alive now.
    pub fn begin_tasks(&self) {
        let mut sh = self.lock();
        sh.tasks = Tasks::default();
        sh.tasks.sample(self.pid, true);
        sh.tasks.on = true;
    }

    /// Ends the per-thread CPU window and returns the CPU by thread group
    /// (`session engine threads` for threads named `session …`, otherwise the
    /// name without trailing digits and dashes), largest first.
    pub fn end_tasks(&self) -> Vec<(String, Group)> {
        let mut sh = self.lock();
        sh.tasks.sample(self.pid, false);
        sh.tasks.on = false;
        let mut groups: BTreeMap<String, Group> = BTreeMap::new();
        for (tid, &last) in &sh.tasks.last {
            let name = sh.tasks.names.get(tid).map(String::as_str).unwrap_or("?");
            let group = if name.starts_with("session ") {
                "session engine threads".to_string()
            } else {
                name.trim_end_matches(|c: char| c.is_ascii_digit() || c == '-')
                    .to_string()
            };
            let first = sh.tasks.first.get(tid).copied().unwrap_or(0);
            let g = groups.entry(group).or_default();
            g.threads += 1;
            g.cpu_seconds += last.saturating_sub(first) as f64 / self.tck;
        }
        let mut v: Vec<_> = groups.into_iter().collect();
        v.sort_by(|a, b| b.1.cpu_seconds.total_cmp(&a.1.cpu_seconds));
        v
    }

    /// The largest thread count among the samples taken at or after `t0`.
    pub fn max_threads_since(&self, t0: f64) -> Option<u64> {
        self.lock()
            .timeline
            .iter()
            .filter(|s| s.t >= t0)
            .map(|s| s.threads)
            .max()
    }

    /// The largest RSS (KiB) among the samples taken at or after `t0`.
    pub fn max_rss_since(&self, t0: f64) -> Option<u64> {
        self.lock()
            .timeline
            .iter()
            .filter(|s| s.t >= t0)
            .map(|s| s.rss_kib)
            .max()
    }

    /// Stops sampling; returns every sample and the sampler thread's own CPU
    /// seconds (part of the client's CPU).
    pub fn stop(mut self) -> (Vec<Sample>, Option<f64>) {
        drop(self.stop.take());
        let own = self.handle.take().and_then(|h| h.join().ok()).flatten();
        let timeline = std::mem::take(&mut self.lock().timeline);
        (timeline, own)
    }
}

fn sample_into(shared: &Mutex<Shared>, pid: u32, start: Instant) -> Option<Sample> {
    let m = mem(pid)?;
    let s = Sample {
        t: start.elapsed().as_secs_f64(),
        threads: m.threads,
        rss_kib: m.rss_kib,
        hwm_kib: m.hwm_kib,
    };
    let mut sh = shared.lock().unwrap_or_else(|e| e.into_inner());
    sh.timeline.push(s);
    if sh.tasks.on {
        sh.tasks.sample(pid, false);
    }
    Some(s)
}
