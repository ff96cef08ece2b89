//! A request to `POST /events`: header lines `name: value` up to the first `0xFF`, then the
//! body. Whatever the mode, parsing answers events or an error, and never panics.
#![no_main]

use axum::http::{HeaderMap, HeaderName, HeaderValue};
use libfuzzer_sys::fuzz_target;
use orchestrator_provider::cloudevent::parse;
use orchestrator_provider_fuzz::split;

fuzz_target!(|data: &[u8]| {
    let (head, body) = split(data);
    let mut headers = HeaderMap::new();
    for line in String::from_utf8_lossy(head).lines() {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        if let (Ok(name), Ok(value)) = (
            HeaderName::from_bytes(name.trim().as_bytes()),
            HeaderValue::from_str(value.trim()),
        ) {
            headers.append(name, value);
        }
    }
    if let Ok(events) = parse(&headers, body) {
        for event in &events {
            let _ = (event.is_process_definition(), event.workflow_id());
        }
    }
});
