//! Callback receivers' HTTP: [`read_request`], the one reader of an
//! HTTP/1.1 request the test receivers share, and [`HttpSink`], an endpoint
//! that answers `200 OK` to every request and counts them, for runs that
//! only need deliveries to succeed (the hub's deposit scanner benchmark).

use std::{
    io::{BufRead, BufReader, Write},
    net::{TcpListener, TcpStream},
    sync::{
        atomic::{AtomicU64, Ordering},
        Arc,
    },
};

/// A running sink; its threads end with the process.
#[derive(Debug)]
pub struct HttpSink {
    url: String,
    requests: Arc<AtomicU64>,
}

impl HttpSink {
    /// Listens on a free loopback port; HTTP/1.1 with keep-alive, one
    /// thread per connection.
    pub fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind a loopback port");
        let url = format!(
            "http://{}/callback",
            listener.local_addr().expect("its address")
        );
        let requests: Arc<AtomicU64> = Arc::default();
        let counter = Arc::clone(&requests);
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let counter = Arc::clone(&counter);
                std::thread::spawn(move || serve(stream, &counter));
            }
        });
        Self { url, requests }
    }

    /// Its URL.
    pub fn url(&self) -> &str {
        &self.url
    }

    /// How many requests it has answered.
    pub fn requests(&self) -> u64 {
        self.requests.load(Ordering::Relaxed)
    }
}

/// One HTTP/1.1 request as a receiver reads it.
#[derive(Debug, Clone, Default)]
pub struct HttpRequest {
    /// The `X-Coldsign-Signature` header, if any (trimmed).
    pub signature: String,
    /// The body (`Content-Length` bytes).
    pub body: Vec<u8>,
}

/// Reads the next request from `reader`: `None` when the client closed the
/// connection or died mid-request (nothing was delivered then).
pub fn read_request(reader: &mut impl BufRead) -> Option<HttpRequest> {
    let mut line = String::new();
    if reader.read_line(&mut line).unwrap_or(0) == 0 {
        return None;
    }
    let (mut len, mut signature) = (0usize, String::new());
    loop {
        line.clear();
        if reader.read_line(&mut line).unwrap_or(0) == 0 {
            return None;
        }
        if line == "\r\n" {
            break;
        }
        let lower = line.to_ascii_lowercase();
        if let Some(v) = lower.strip_prefix("content-length:") {
            len = v.trim().parse().unwrap_or(0);
        } else if lower.starts_with("x-coldsign-signature:") {
            signature = line["x-coldsign-signature:".len()..].trim().to_owned();
        }
    }
    let mut body = vec![0; len];
    reader.read_exact(&mut body).ok()?;
    Some(HttpRequest { signature, body })
}

/// Answers the requests of one connection until the client closes it.
fn serve(stream: TcpStream, requests: &AtomicU64) {
    let Ok(read_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(read_half);
    let mut writer = stream;
    while read_request(&mut reader).is_some() {
        requests.fetch_add(1, Ordering::Relaxed);
        if writer
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
            .is_err()
        {
            return;
        }
    }
}
