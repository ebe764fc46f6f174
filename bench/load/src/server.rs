//! Starting and stopping `parley serve`.

use std::fs::File;
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context};

/// A `parley serve` this program started.
pub struct Server {
    child: Child,
    /// Its process id.
    pub pid: u32,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The creator token it printed.
    pub create_token: String,
    /// The `--db` it was given.
    pub db: String,
    /// Its stdout and stderr.
    pub log: PathBuf,
    /// The temporary folder (database, key, anchors, log), unless kept.
    pub tmp: Option<tempfile::TempDir>,
    stopped: bool,
}

/// Finds the binary: `path` as given, else relative to the repository root.
pub fn find_binary(path: &Path) -> anyhow::Result<PathBuf> {
    let repo = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    for cand in [path.to_path_buf(), repo.join(path)] {
        if cand.is_file() {
            return Ok(cand.canonicalize().unwrap_or(cand));
        }
    }
    bail!(
        "no parley binary at {} (build it: cargo build --release -p parley-cli)",
        path.display()
    )
}

/// Starts `BINARY serve --db DB --addr 127.0.0.1:0 EXTRA…` in a fresh temporary
/// folder (where the SQLite file `load.db` goes unless `db` names another
/// database) and reads the address it listens on and the creator token from
/// the line it prints on stdout (`parley serve: open http://ADDR/#create=TOKEN
/// …`).
pub fn start(
    binary: &Path,
    db: Option<&str>,
    extra: &[String],
    timeout: Duration,
    verbose: bool,
) -> anyhow::Result<Server> {
    let tmp = tempfile::Builder::new()
        .prefix("parley-load-")
        .tempdir()
        .context("creating a temporary folder")?;
    let db = match db {
        Some(d) => d.to_string(),
        None => tmp.path().join("load.db").to_string_lossy().into_owned(),
    };
    let log = tmp.path().join("server.log");
    let log_file = File::create(&log).with_context(|| format!("creating {}", log.display()))?;
    let mut out_copy = log_file.try_clone()?;
    let mut cmd = Command::new(binary);
    cmd.arg("serve")
        .arg("--db")
        .arg(&db)
        .arg("--addr")
        .arg("127.0.0.1:0")
        // The benchmark creates its sessions as fast as it can: no per-address
        // creation limit (a --serve-arg given later wins).
        .args(["--create-rate", "0"])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::from(log_file));
    if verbose {
        eprintln!(
            "starting: {} serve --db {} --addr 127.0.0.1:0 {}",
            binary.display(),
            db,
            extra.join(" ")
        );
    }
    let mut child = cmd
        .spawn()
        .with_context(|| format!("starting {}", binary.display()))?;
    let pid = child.id();
    let stdout = child.stdout.take().context("no stdout")?;
    let (tx, rx) = mpsc::channel::<(String, String)>();
    std::thread::Builder::new()
        .name("server-stdout".into())
        .spawn(move || {
            let mut sent = false;
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                let _ = writeln!(out_copy, "{line}");
                if !sent {
                    if let Some(found) = parse_listening(&line) {
                        sent = true;
                        let _ = tx.send(found);
                    }
                }
            }
        })?;
    let mut server = Server {
        child,
        pid,
        base: String::new(),
        create_token: String::new(),
        db,
        log,
        tmp: Some(tmp),
        stopped: false,
    };
    let deadline = Instant::now() + timeout;
    loop {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok((addr, token)) => {
                server.base = format!("http://{addr}");
                server.create_token = token;
                return Ok(server);
            }
            Err(mpsc::RecvTimeoutError::Timeout) => {}
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                bail!(
                    "parley serve closed its stdout without saying where it listens\n{}",
                    server.log_tail()
                )
            }
        }
        if let Ok(Some(status)) = server.child.try_wait() {
            server.stopped = true;
            bail!("parley serve exited ({status})\n{}", server.log_tail());
        }
        if Instant::now() > deadline {
            bail!(
                "parley serve did not say where it listens within {} s\n{}",
                timeout.as_secs_f64(),
                server.log_tail()
            );
        }
    }
}

/// `(ADDR, TOKEN)` from `parley serve: open http://ADDR/#create=TOKEN …`.
pub fn parse_listening(line: &str) -> Option<(String, String)> {
    let rest = line.split_once("http://")?.1;
    let (addr, rest) = rest.split_once("/#create=")?;
    let token = rest.split_whitespace().next()?;
    (!addr.is_empty() && !token.is_empty()).then(|| (addr.to_string(), token.to_string()))
}

impl Server {
    /// The last lines of the server's output.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read(&self.log).unwrap_or_default();
        let tail = &text[text.len().saturating_sub(3000)..];
        format!("server output (tail):\n{}", String::from_utf8_lossy(tail))
    }

    /// Stops the server: SIGINT (its graceful shutdown), then SIGKILL after 10 s.
    pub fn stop(&mut self) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        if let Ok(Some(_)) = self.child.try_wait() {
            return;
        }
        let _ = Command::new("kill")
            .arg("-INT")
            .arg(self.pid.to_string())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        eprintln!("parley serve did not stop within 10 s of SIGINT: killing it");
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    use super::parse_listening;

    #[test]
    fn parses_the_lobby_line() {
        let line = "parley serve: open http://127.0.0.1:40123/#create=abc_DEF-123 to create \
                    sessions (0 stored sessions, database /tmp/x.db)";
        assert_eq!(
            parse_listening(line),
            Some(("127.0.0.1:40123".to_string(), "abc_DEF-123".to_string()))
        );
        assert_eq!(parse_listening("something else"), None);
    }
}
