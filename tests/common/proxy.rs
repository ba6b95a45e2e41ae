//! A TCP forwarder to the Postgres server of `DATABASE_URL` that a test can take down and bring
//! back on the same port, to play an outage without touching the real server.

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

pub struct Proxy {
    pub port: u16,
    /// Tells the accepting task to stop; `None` once stopped.
    shutdown: Option<oneshot::Sender<()>>,
    /// The accepting task, which owns the listener and every forwarding task.
    task: Option<JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `port` (0: any free port) and forwards every connection to the Postgres server
    /// `DATABASE_URL` names (see [`super::pg::server_address`]).
    pub async fn start_on(port: u16) -> Proxy {
        let listener = TcpListener::bind(("127.0.0.1", port)).await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (host, server_port) = super::pg::server_address();
        let (shutdown, mut stopping) = oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let mut connections = JoinSet::new();
            loop {
                tokio::select! {
                    // A stop, or the proxy dropped without one.
                    _ = &mut stopping => break,
                    accepted = listener.accept() => {
                        let Ok((mut client, _)) = accepted else { break };
                        let host = host.clone();
                        connections.spawn(async move {
                            if let Ok(mut server) =
                                TcpStream::connect((host.as_str(), server_port)).await
                            {
                                let _ = tokio::io::copy_bidirectional(&mut client, &mut server)
                                    .await;
                            }
                        });
                    }
                    // Forget connections that ended by themselves.
                    Some(_) = connections.join_next(), if !connections.is_empty() => {}
                }
            }
            // No new connections from here on, and the port is free to bind again.
            drop(listener);
            // Aborts every forwarding task and waits until each has ended: its two sockets are
            // dropped, hence closed, by the time this returns.
            connections.shutdown().await;
        });
        Proxy {
            port,
            shutdown: Some(shutdown),
            task: Some(task),
        }
    }

    /// Stops listening and closes every forwarded connection, both to the client and to the
    /// server; returns once all of them are closed and the port is free.
    pub async fn stop(&mut self) {
        if let Some(shutdown) = self.shutdown.take() {
            let _ = shutdown.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.expect("the proxy's accepting task panicked");
        }
    }
}

impl Drop for Proxy {
    /// A proxy dropped without [`Proxy::stop`] stops in the background: its accepting task sees
    /// the shutdown channel close and closes its connections.
    fn drop(&mut self) {
        self.shutdown.take();
    }
}
