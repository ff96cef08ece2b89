//! Answers of a Data Index: every request the client makes (introspection, listing, sources)
//! is answered with the input, as HTTP 200 JSON, by a server on loopback; then the rows it
//! accepts are selected, parsed and mapped as the source does.
#![no_main]

use std::io::{Read, Write};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use orchestrator_provider::entity::{MapOptions, map_all};
use orchestrator_provider::source::data_index::{Capabilities, DataIndexClient, select};
use orchestrator_provider::workflow::ParseLimits;

struct Harness {
    answer: Arc<Mutex<Vec<u8>>>,
    client: DataIndexClient,
    runtime: tokio::runtime::Runtime,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let answer = Arc::new(Mutex::new(Vec::new()));
        let served = answer.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut stream) = stream else { continue };
                let _ = respond(&mut stream, &served.lock().unwrap());
            }
        });
        Harness {
            answer,
            client: DataIndexClient::new(&url, None, Duration::from_secs(10)),
            runtime: tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap(),
        }
    })
}

/// Reads one request (headers, then the body they announce) and answers `body`.
fn respond(stream: &mut std::net::TcpStream, body: &[u8]) -> std::io::Result<()> {
    let mut request = Vec::new();
    let mut buf = [0u8; 8192];
    loop {
        let n = stream.read(&mut buf)?;
        if n == 0 {
            break;
        }
        request.extend(&buf[..n]);
        let text = String::from_utf8_lossy(&request);
        if let Some(end) = text.find("\r\n\r\n") {
            let length = text[..end]
                .lines()
                .find_map(|l| {
                    l.to_ascii_lowercase()
                        .strip_prefix("content-length:")
                        .and_then(|v| v.trim().parse::<usize>().ok())
                })
                .unwrap_or(0);
            if request.len() >= end + 4 + length {
                break;
            }
        }
    }
    let head = format!(
        "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes())?;
    stream.write_all(body)
}

fuzz_target!(|data: &[u8]| {
    let h = harness();
    *h.answer.lock().unwrap() = data.to_vec();
    h.runtime.block_on(async {
        let mut caps = match h.client.introspect().await {
            Ok(caps) => caps,
            // Ask for every field anyway, so the listing is exercised too.
            Err(_) => Capabilities {
                has_process_definitions: true,
                fields: [
                    "id",
                    "version",
                    "name",
                    "type",
                    "endpoint",
                    "serviceUrl",
                    "description",
                    "annotations",
                    "metadata",
                    "source",
                ]
                .into_iter()
                .map(str::to_owned)
                .collect(),
                filters: true,
                query_args: ["where", "orderBy", "pagination"]
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
                where_fields: ["id", "version", "type"]
                    .into_iter()
                    .map(str::to_owned)
                    .collect(),
            },
        };
        let known = |_: &str, _: Option<&str>| false;
        if let Ok(rows) = h.client.list(&mut caps, 1000, &known).await {
            let (deployed, _) = select(rows, &ParseLimits::default());
            let workflows: Vec<_> = deployed.into_iter().filter_map(|d| d.workflow).collect();
            let _ = map_all(&workflows, &MapOptions::default());
        }
    });
});
