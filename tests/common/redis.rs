//! Redis for tests: the server at `REDIS_URL`, a fresh key prefix per test, and throwaway
//! redis-server processes for outage tests.

use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use axum_cart::RedisStorage;

/// `REDIS_URL` (default `redis://127.0.0.1:6379`).
pub fn url() -> String {
    std::env::var("REDIS_URL").unwrap_or_else(|_| "redis://127.0.0.1:6379".to_owned())
}

/// A storage on the shared server with a prefix no other test uses.
pub async fn fresh_storage() -> RedisStorage {
    let url = url();
    RedisStorage::connect(&url)
        .await
        .unwrap_or_else(|e| {
            panic!("Redis is not reachable at {url} ({e}): start it, or run ./scripts/test")
        })
        .with_prefix(&format!("test-{}", uuid::Uuid::new_v4().simple()))
}

/// A redis-server this test owns, on its own port; killed on drop.
pub struct OwnRedis {
    pub port: u16,
    child: Child,
}

impl OwnRedis {
    pub fn start_on(port: u16) -> OwnRedis {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is not installed (./scripts/test installs it)");
        let deadline = Instant::now() + Duration::from_secs(10);
        // Readiness poll: the server accepts connections once it has loaded.
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(
                Instant::now() < deadline,
                "redis-server on {port} did not start"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        OwnRedis { port, child }
    }

    pub fn start() -> OwnRedis {
        Self::start_on(super::process::free_port())
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Freezes (SIGSTOP) or thaws (SIGCONT) the server: it stops answering but keeps its data.
    pub fn signal(&self, signal: &str) {
        let status = Command::new("kill")
            .args([signal, &self.pid().to_string()])
            .status()
            .unwrap();
        assert!(status.success());
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    pub fn stop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Drop for OwnRedis {
    fn drop(&mut self) {
        self.stop();
    }
}
