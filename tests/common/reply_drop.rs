//! A TCP forwarder that can lose one answer: armed with marker bytes, it forwards the next client
//! write containing them to the server, waits for the server's reply, throws the reply away and
//! closes that connection. The server has done the work; the client only sees its connection
//! drop, as after a network failure between the commit and the answer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The Postgres `ReadyForQuery` message (idle): the server has finished, and committed, what the
/// client sent before its `Sync`.
pub const POSTGRES_READY: &[u8] = b"Z\0\0\0\x05";

/// What the next matching write triggers.
#[derive(Clone)]
struct Arm {
    marker: Vec<u8>,
    /// The reply is complete once the dropped bytes contain this (`None`: the first bytes).
    reply_end: Option<Vec<u8>>,
}

#[derive(Default)]
struct Shared {
    armed: Mutex<Option<Arm>>,
    dropped: AtomicU64,
    connections: AtomicU64,
}

/// A forwarder from a local port to `target`; every connection is cut when it drops.
pub struct ReplyDropProxy {
    pub port: u16,
    shared: Arc<Shared>,
    task: tokio::task::JoinHandle<()>,
}

impl ReplyDropProxy {
    /// Listens on a free local port and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> ReplyDropProxy {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let shared = Arc::new(Shared::default());
        let accepting = Arc::clone(&shared);
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((client, _)) = listener.accept().await else {
                    return;
                };
                accepting.connections.fetch_add(1, Ordering::SeqCst);
                let shared = Arc::clone(&accepting);
                connections.spawn(async move {
                    if let Ok(server) = TcpStream::connect(target).await {
                        forward(client, server, &shared).await;
                    }
                });
            }
        });
        ReplyDropProxy { port, shared, task }
    }

    /// Arms the proxy: the next client write containing `marker` reaches the server, and the
    /// server's reply to it is dropped with its connection. The reply ends at the first bytes
    /// the server sends (`reply_end` `None`) or once they contain `reply_end`.
    pub fn arm(&self, marker: &[u8], reply_end: Option<&[u8]>) {
        assert!(!marker.is_empty());
        *self.shared.armed.lock().unwrap() = Some(Arm {
            marker: marker.to_vec(),
            reply_end: reply_end.map(<[u8]>::to_vec),
        });
    }

    /// Whether the proxy is still waiting for a write with its marker.
    pub fn is_armed(&self) -> bool {
        self.shared.armed.lock().unwrap().is_some()
    }

    /// Replies dropped so far.
    pub fn dropped(&self) -> u64 {
        self.shared.dropped.load(Ordering::SeqCst)
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> u64 {
        self.shared.connections.load(Ordering::SeqCst)
    }
}

impl Drop for ReplyDropProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Forwards both ways until either side closes, or until the reply to a marked write was dropped.
async fn forward(client: TcpStream, server: TcpStream, shared: &Shared) {
    let (mut client_read, mut client_write) = client.into_split();
    let (mut server_read, mut server_write) = server.into_split();
    // Set (with the reply's end) once this connection forwarded the marked write.
    let poisoned: Mutex<Option<Option<Vec<u8>>>> = Mutex::new(None);

    let upstream = async {
        let mut buffer = vec![0u8; 64 * 1024];
        // The end of what the client sent, so that a marker split across reads is still seen.
        let mut window: Vec<u8> = Vec::new();
        loop {
            let n = match client_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            window.extend_from_slice(&buffer[..n]);
            {
                let mut armed = shared.armed.lock().unwrap();
                let hit = armed
                    .as_ref()
                    .is_some_and(|arm| contains(&window, &arm.marker));
                if hit {
                    let arm = armed.take().unwrap();
                    // Set before the write is forwarded: every byte the server sends from now
                    // on belongs to the reply to it (the clients here wait for each answer).
                    *poisoned.lock().unwrap() = Some(arm.reply_end);
                    window.clear();
                }
                let keep = armed.as_ref().map_or(0, |arm| arm.marker.len());
                if window.len() > keep {
                    window.drain(..window.len() - keep);
                }
            }
            if server_write.write_all(&buffer[..n]).await.is_err() {
                return;
            }
        }
    };

    let downstream = async {
        let mut buffer = vec![0u8; 64 * 1024];
        let mut dropped: Vec<u8> = Vec::new();
        loop {
            let n = match server_read.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(n) => n,
            };
            let reply_end = poisoned.lock().unwrap().clone();
            match reply_end {
                None => {
                    if client_write.write_all(&buffer[..n]).await.is_err() {
                        return;
                    }
                }
                Some(end) => {
                    dropped.extend_from_slice(&buffer[..n]);
                    let complete = end.as_ref().is_none_or(|end| contains(&dropped, end));
                    if complete {
                        shared.dropped.fetch_add(1, Ordering::SeqCst);
                        // Returning ends `forward`: both sockets close, the reply never arrives.
                        return;
                    }
                }
            }
        }
    };

    tokio::select! {
        () = upstream => {}
        () = downstream => {}
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.len() <= haystack.len() && haystack.windows(needle.len()).any(|w| w == needle)
}
