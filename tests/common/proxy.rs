//! A TCP forwarder to the local Postgres that a test can take down and bring back on the same
//! port, to play an outage without touching the real server.

pub struct Proxy {
    pub port: u16,
    task: Option<tokio::task::JoinHandle<()>>,
}

impl Proxy {
    /// Listens on `port` (0: any free port) and forwards every connection to 127.0.0.1:5432.
    pub async fn start_on(port: u16) -> Proxy {
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .unwrap();
        let port = listener.local_addr().unwrap().port();
        let task = tokio::spawn(async move {
            let mut connections = tokio::task::JoinSet::new();
            loop {
                let Ok((mut client, _)) = listener.accept().await else {
                    return;
                };
                connections.spawn(async move {
                    if let Ok(mut server) = tokio::net::TcpStream::connect("127.0.0.1:5432").await {
                        let _ = tokio::io::copy_bidirectional(&mut client, &mut server).await;
                    }
                });
            }
        });
        Proxy {
            port,
            task: Some(task),
        }
    }

    /// Stops listening and cuts every forwarded connection (the JoinSet aborts them on drop).
    pub fn stop(&mut self) {
        if let Some(task) = self.task.take() {
            task.abort();
        }
    }
}
