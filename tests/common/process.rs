//! Processes for tests: the example binaries (built by `cargo test`) started with their
//! environment, and free ports for servers a test starts itself.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

/// A running example process, killed on drop.
pub struct Running {
    pub child: Child,
    pub address: String,
    /// Every line the process wrote to its standard output (its log), as it comes.
    log: Arc<(Mutex<Vec<String>>, Condvar)>,
}

impl Running {
    /// The lines written so far.
    pub fn log(&self) -> Vec<String> {
        self.log.0.lock().unwrap().clone()
    }

    /// The first log line containing `needle`, waiting for it up to `timeout` (a line the process
    /// has written may still be on its way through the pipe).
    pub fn wait_for_log(&self, needle: &str, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let (lines, written) = &*self.log;
        let mut lines = lines.lock().unwrap();
        loop {
            if let Some(line) = lines.iter().find(|line| line.contains(needle)) {
                return Some(line.clone());
            }
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return None;
            }
            lines = written.wait_timeout(lines, left).unwrap().0;
        }
    }
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The path of a compiled example (cargo test builds the examples before running tests).
pub fn example_path(name: &str) -> PathBuf {
    let exe = std::env::current_exe().expect("test executable path");
    // target/<profile>/deps/<test> -> target/<profile>/examples/<name>
    let profile_dir = exe
        .parent()
        .and_then(|deps| deps.parent())
        .expect("target dir");
    let path = profile_dir.join("examples").join(name);
    assert!(
        path.exists(),
        "{} is missing: run the tests with `cargo test`, which builds the examples",
        path.display()
    );
    path
}

/// Starts an example with `envs` and `PORT=0`, and waits (bounded) for its "listening on" line.
/// Its standard output (where the examples log) is kept: see [`Running::log`].
pub fn start_example(name: &str, envs: &[(&str, &str)]) -> Running {
    let mut command = Command::new(example_path(name));
    command
        .env("PORT", "0")
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit());
    for (key, value) in envs {
        command.env(key, value);
    }
    let mut child = command.spawn().expect("start the example");
    let stdout = child.stdout.take().expect("stdout");
    let (sender, receiver) = std::sync::mpsc::channel();
    let log = Arc::new((Mutex::new(Vec::new()), Condvar::new()));
    let keep = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if let Some(address) = line.split("listening on ").nth(1) {
                let _ = sender.send(address.trim().to_owned());
            }
            let (lines, written) = &*keep;
            lines.lock().unwrap().push(line);
            written.notify_all();
        }
    });
    let deadline = Instant::now() + Duration::from_secs(30);
    let address = receiver
        .recv_timeout(deadline.saturating_duration_since(Instant::now()))
        .unwrap_or_else(|_| {
            let _ = child.kill();
            panic!("{name} did not report its address within 30 s")
        });
    Running {
        child,
        address,
        log,
    }
}

/// Sends `signal` (a name: `STOP`, `CONT`, `KILL`, ...) to the process `pid`, typically a child's
/// [`Child::id`]. Uses the shell's built-in `kill`: `/bin/kill` and `pgrep` come with procps,
/// which a fresh machine does not have.
pub fn signal(pid: u32, signal: &str) {
    let status = Command::new("sh")
        .args([
            "-c",
            r#"kill -s "$1" "$2""#,
            "kill",
            signal,
            &pid.to_string(),
        ])
        .status()
        .expect("run sh");
    assert!(status.success(), "kill -s {signal} {pid}: {status}");
}

/// A TCP port nobody listens on right now, for a server this test is about to start.
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}
