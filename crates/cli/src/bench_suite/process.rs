//! The suite's child processes: `gridledger serve` and `gridledger load` spawned from this binary, killed when dropped; their resident sets from /proc.

use std::fs::File;
use std::io::{BufRead, BufReader, Read};
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, mpsc};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressStyle};

/// The port the machine's own NATS server may use; the suite never listens on it.
const NATS_PORT: u16 = 4222;

/// A child process, killed (SIGKILL) and reaped when dropped unless it was waited for.
#[derive(Debug)]
pub struct ChildGuard {
    child: Child,
    name: String,
    reaped: bool,
}

impl ChildGuard {
    pub fn new(child: Child, name: impl Into<String>) -> ChildGuard {
        ChildGuard {
            child,
            name: name.into(),
            reaped: false,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The exit status, if the child has exited.
    pub fn try_wait(&mut self) -> anyhow::Result<Option<ExitStatus>> {
        let status = self
            .child
            .try_wait()
            .with_context(|| format!("waiting for {}", self.name))?;
        if status.is_some() {
            self.reaped = true;
        }
        Ok(status)
    }

    /// Waits up to `deadline` for the child to exit; `None` if it is still running.
    pub fn wait_for(&mut self, deadline: Duration) -> anyhow::Result<Option<ExitStatus>> {
        let until = Instant::now() + deadline;
        loop {
            if let Some(status) = self.try_wait()? {
                return Ok(Some(status));
            }
            if Instant::now() >= until {
                return Ok(None);
            }
            std::thread::sleep(Duration::from_millis(5));
        }
    }

    /// Sends SIGTERM (by pid, with `kill`; the workspace forbids `unsafe`).
    pub fn terminate(&mut self) -> anyhow::Result<()> {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .context("running kill -TERM")?;
        if !status.success() && self.try_wait()?.is_none() {
            bail!("kill -TERM {} ({}) failed: {status}", self.child.id(), self.name);
        }
        Ok(())
    }

    /// SIGKILL and reap.
    pub fn kill(&mut self) {
        if !self.reaped {
            let _ = self.child.kill();
            let _ = self.child.wait();
            self.reaped = true;
        }
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `current_exe()` with the environment cleared of `GRIDLEDGER_*` (a caller's `GRIDLEDGER_NATS`
/// or `GRIDLEDGER_AUTH` must not change what is measured), logging at `warn`.
pub fn gridledger_command() -> anyhow::Result<Command> {
    let executable = std::env::current_exe().context("finding the gridledger binary (current_exe)")?;
    let mut command = Command::new(executable);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("GRIDLEDGER_") {
            command.env_remove(name);
        }
    }
    command.env("GRIDLEDGER_LOG", "warn").stdin(Stdio::null());
    Ok(command)
}

/// A free TCP port on 127.0.0.1, never 4222 (bound and released; the server binds it right after).
pub fn free_port() -> anyhow::Result<u16> {
    for _ in 0..16 {
        let listener = TcpListener::bind("127.0.0.1:0").context("finding a free loopback port")?;
        let port = listener.local_addr()?.port();
        if port != NATS_PORT {
            return Ok(port);
        }
    }
    bail!("no free loopback port other than {NATS_PORT}")
}

/// The last `lines` lines of a log file, for error messages.
pub fn tail_of(path: &Path, lines: usize) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let all: Vec<&str> = text.lines().collect();
    all[all.len().saturating_sub(lines)..].join("\n")
}

/// `gridledger serve` in its own process on 127.0.0.1:`port`; its stderr goes to `log_path`.
#[derive(Debug)]
pub struct ServerProcess {
    child: ChildGuard,
    pub url: String,
    pub log_path: PathBuf,
    pub spawned_at: Instant,
    /// When "gridledger listening on …" appeared on its stdout.
    listening: Arc<Mutex<Option<(Instant, String)>>>,
    listening_signal: mpsc::Receiver<()>,
}

impl ServerProcess {
    /// Spawns the server on a fresh free port without waiting for it.
    pub fn spawn(data_dir: &Path, log_path: &Path) -> anyhow::Result<ServerProcess> {
        let port = free_port()?;
        let log = File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?;
        let spawned_at = Instant::now();
        let mut child = gridledger_command()?
            .arg("serve")
            .arg("--data")
            .arg(data_dir)
            .arg("--listen")
            .arg(format!("127.0.0.1:{port}"))
            .stdout(Stdio::piped())
            .stderr(log)
            .spawn()
            .context("spawning gridledger serve")?;
        let stdout = child.stdout.take();
        let child = ChildGuard::new(child, "gridledger serve");
        let listening = Arc::new(Mutex::new(None));
        let (signal, listening_signal) = mpsc::channel();
        if let Some(stdout) = stdout {
            let listening = Arc::clone(&listening);
            // Drains stdout for the server's whole life, so it never blocks on a full pipe.
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines() {
                    let Ok(line) = line else { break };
                    if let Some(rest) = line.strip_prefix("gridledger listening on ") {
                        let address = rest.split_whitespace().next().unwrap_or_default().to_owned();
                        if let Ok(mut slot) = listening.lock() {
                            *slot = Some((Instant::now(), address));
                        }
                        let _ = signal.send(());
                    }
                }
            });
        }
        Ok(ServerProcess {
            child,
            url: format!("http://127.0.0.1:{port}"),
            log_path: log_path.to_owned(),
            spawned_at,
            listening,
            listening_signal,
        })
    }

    /// Spawns the server and waits (up to `deadline`) for its "listening" line.
    pub fn start(data_dir: &Path, log_path: &Path, deadline: Duration) -> anyhow::Result<ServerProcess> {
        let mut server = ServerProcess::spawn(data_dir, log_path)?;
        let until = Instant::now() + deadline;
        loop {
            if server.listening().is_some() {
                return Ok(server);
            }
            server.check_running()?;
            if Instant::now() >= until {
                bail!(
                    "gridledger serve did not print its listening line within {deadline:?}; its log:\n{}",
                    tail_of(&server.log_path, 20)
                );
            }
            let _ = server.listening_signal.recv_timeout(Duration::from_millis(20));
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// Seconds from spawn to the "listening" line, and the address printed, once it came.
    pub fn listening(&self) -> Option<(f64, String)> {
        let slot = self.listening.lock().ok()?;
        slot.as_ref()
            .map(|(at, address)| ((*at - self.spawned_at).as_secs_f64(), address.clone()))
    }

    /// Fails (with the server's log) if the server has exited.
    pub fn check_running(&mut self) -> anyhow::Result<()> {
        if let Some(status) = self.child.try_wait()? {
            bail!(
                "gridledger serve exited ({status}); its log:\n{}",
                tail_of(&self.log_path, 20)
            );
        }
        Ok(())
    }

    /// SIGTERM, then waits for a clean exit; returns how long the stop took.
    pub fn stop(mut self, deadline: Duration) -> anyhow::Result<f64> {
        let started = Instant::now();
        self.child.terminate()?;
        match self.child.wait_for(deadline)? {
            Some(status) if status.success() => Ok(started.elapsed().as_secs_f64()),
            Some(status) => bail!(
                "gridledger serve exited with {status} on SIGTERM; its log:\n{}",
                tail_of(&self.log_path, 20)
            ),
            None => {
                self.child.kill();
                bail!(
                    "gridledger serve did not stop within {deadline:?} of SIGTERM (killed); its log:\n{}",
                    tail_of(&self.log_path, 20)
                )
            }
        }
    }
}

/// A field of /proc/`pid`/status in KiB (`VmRSS`, `VmHWM`); `None` for this process.
pub fn status_kib(pid: Option<u32>, field: &str) -> Option<u64> {
    let path = match pid {
        Some(pid) => format!("/proc/{pid}/status"),
        None => "/proc/self/status".to_owned(),
    };
    let text = std::fs::read_to_string(path).ok()?;
    text.lines().find_map(|line| {
        let rest = line.strip_prefix(field)?.strip_prefix(':')?;
        rest.split_whitespace().next()?.parse().ok()
    })
}

/// Resets this process's peak resident set (VmHWM), so a later reading is the peak of what follows.
pub fn reset_own_peak() -> bool {
    std::fs::write("/proc/self/clear_refs", "5").is_ok()
}

/// Samples a process's VmRSS every 100 ms on a thread of its own, keeping the largest.
#[derive(Debug)]
pub struct RssSampler {
    peak_kib: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl RssSampler {
    /// Samples `pid` (`None`: this process).
    pub fn start(pid: Option<u32>) -> RssSampler {
        RssSampler::start_with_limit(pid, None)
    }

    /// Samples `pid` (`None`: this process), and stops it when its resident set passes
    /// `limit_kib`, so that a runaway bench cannot take the machine's memory: this process
    /// exits with status 3, another one is killed (SIGKILL).
    pub fn start_with_limit(pid: Option<u32>, limit_kib: Option<u64>) -> RssSampler {
        let peak_kib = Arc::new(AtomicU64::new(0));
        let stop = Arc::new(AtomicBool::new(false));
        let thread = {
            let peak_kib = Arc::clone(&peak_kib);
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    if let Some(rss) = status_kib(pid, "VmRSS") {
                        peak_kib.fetch_max(rss, Ordering::Relaxed);
                        if let Some(limit) = limit_kib.filter(|limit| rss > *limit) {
                            exceeded(pid, rss, limit);
                        }
                    }
                    std::thread::sleep(Duration::from_millis(100));
                }
            })
        };
        RssSampler {
            peak_kib,
            stop,
            thread: Some(thread),
        }
    }

    /// The largest sample since the start or the last `take_peak`, and starts over.
    pub fn take_peak(&self) -> u64 {
        self.peak_kib.swap(0, Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

/// What the sampler does when a resident set passes its limit.
fn exceeded(pid: Option<u32>, rss_kib: u64, limit_kib: u64) {
    let whose = pid.map_or_else(|| "the bench".to_owned(), |pid| format!("process {pid}"));
    eprintln!(
        "error: the resident set of {whose} reached {} MiB, past the bench's limit of {} MiB (half the \
         machine's memory); stopping it",
        rss_kib / 1024,
        limit_kib / 1024
    );
    match pid {
        None => std::process::exit(3),
        Some(pid) => {
            let _ = Command::new("kill")
                .args(["-KILL", &pid.to_string()])
                .stdin(Stdio::null())
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
        }
    }
}

/// Half the machine's memory (MemTotal), the most a bench process may hold.
pub fn memory_limit_kib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let total: u64 = text
        .lines()
        .find_map(|line| line.strip_prefix("MemTotal:")?.split_whitespace().next()?.parse().ok())?;
    Some(total / 2)
}

/// One `gridledger load` run, as asked.
#[derive(Debug, Clone)]
pub struct LoadSpec {
    /// The name of the run in tables and JSON, e.g. `report_64`.
    pub key: String,
    pub mix: &'static str,
    pub clients: usize,
    pub connections: usize,
    pub commands: usize,
}

/// `gridledger load` against `url` in its own process; returns its one JSON object.
pub fn run_load(url: &str, spec: &LoadSpec, log_path: &Path) -> anyhow::Result<serde_json::Value> {
    let log = File::create(log_path).with_context(|| format!("creating {}", log_path.display()))?;
    let mut child = gridledger_command()?
        .arg("--server")
        .arg(url)
        .args(["load", "--mix", spec.mix])
        .args(["--clients", &spec.clients.to_string()])
        .args(["--connections", &spec.connections.to_string()])
        .args(["--commands", &spec.commands.to_string()])
        .arg("--json")
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .context("spawning gridledger load")?;
    let stdout = child.stdout.take();
    let mut child = ChildGuard::new(child, "gridledger load");
    let reader = std::thread::spawn(move || {
        let mut text = String::new();
        if let Some(mut stdout) = stdout {
            let _ = stdout.read_to_string(&mut text);
        }
        text
    });
    let spinner = spinner(format!(
        "load {}: {} clients / {} connections, {} commands",
        spec.mix, spec.clients, spec.connections, spec.commands
    ));
    // Generous: two minutes, plus 20 ms a command.
    let deadline =
        Duration::from_secs(120) + Duration::from_millis(20) * u32::try_from(spec.commands).unwrap_or(u32::MAX);
    let status = child.wait_for(deadline)?;
    spinner.finish_and_clear();
    let Some(status) = status else {
        child.kill();
        bail!(
            "gridledger load --mix {} did not finish within {deadline:?} (killed); its stderr:\n{}",
            spec.mix,
            tail_of(log_path, 20)
        );
    };
    let stdout = reader.join().unwrap_or_default();
    if !status.success() {
        bail!(
            "gridledger load --mix {} failed ({status}); its stderr:\n{}",
            spec.mix,
            tail_of(log_path, 20)
        );
    }
    parse_load_output(&stdout).with_context(|| format!("reading the output of gridledger load --mix {}", spec.mix))
}

/// The one JSON object `gridledger load --json` prints (pretty or on one line).
pub fn parse_load_output(stdout: &str) -> anyhow::Result<serde_json::Value> {
    let value = match serde_json::from_str::<serde_json::Value>(stdout.trim()) {
        Ok(value) => value,
        // Anything else on stdout: the last line holding an object.
        Err(error) => stdout
            .lines()
            .rev()
            .find_map(|line| serde_json::from_str::<serde_json::Value>(line.trim()).ok())
            .filter(serde_json::Value::is_object)
            .ok_or_else(|| anyhow::anyhow!("no JSON object on stdout ({error}): {stdout:?}"))?,
    };
    for key in ["operations", "ok", "seconds", "ops_per_second", "p50_ms", "p99_ms"] {
        if value.get(key).and_then(serde_json::Value::as_f64).is_none() {
            bail!("no number {key:?} in {value}");
        }
    }
    Ok(value)
}

/// A spinner with elapsed time, on stderr when it is a terminal.
pub fn spinner(message: String) -> ProgressBar {
    let spinner = ProgressBar::new_spinner();
    spinner.set_style(
        ProgressStyle::with_template("{spinner} {msg} {elapsed}").unwrap_or_else(|_| ProgressStyle::default_spinner()),
    );
    spinner.set_message(message);
    spinner.enable_steady_tick(Duration::from_millis(120));
    spinner
}

/// Bytes of the files under `directory` (recursively): (apparent length, allocated blocks).
pub fn directory_size(directory: &Path) -> anyhow::Result<(u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let mut apparent = 0;
    let mut allocated = 0;
    let mut pending = vec![directory.to_owned()];
    while let Some(folder) = pending.pop() {
        for entry in std::fs::read_dir(&folder).with_context(|| format!("listing {}", folder.display()))? {
            let entry = entry?;
            let metadata = entry.metadata()?;
            if metadata.is_dir() {
                pending.push(entry.path());
            } else {
                apparent += metadata.len();
                allocated += metadata.blocks() * 512;
            }
        }
    }
    Ok((apparent, allocated))
}

#[cfg(test)]
mod tests {
    use super::parse_load_output;

    #[test]
    fn load_output_parses_pretty_or_on_its_last_line() {
        let one = r#"{"mix":"health","operations":10,"ok":10,"errors":{},"seconds":1.0,"ops_per_second":10.0,"p50_ms":1.0,"p90_ms":1.0,"p99_ms":2.0,"max_ms":3.0}"#;
        assert!(parse_load_output(one).is_ok());
        let pretty =
            serde_json::to_string_pretty(&serde_json::from_str::<serde_json::Value>(one).ok()).unwrap_or_default();
        assert!(parse_load_output(&pretty).is_ok());
        assert!(parse_load_output(&format!("warming up\n{one}\n")).is_ok());
        assert!(parse_load_output("nothing").is_err());
        assert!(parse_load_output(r#"{"mix":"health"}"#).is_err());
    }
}
