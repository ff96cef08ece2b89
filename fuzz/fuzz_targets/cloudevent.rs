//! A request to `POST /events`: header lines `name: value` up to the first `0xFF`, then the
//! body. Whatever the mode, parsing answers events or an error, and never panics.
#![no_main]

use libfuzzer_sys::fuzz_target;
use orchestrator_provider::cloudevent::parse;
use orchestrator_provider_fuzz::http_request;

fuzz_target!(|data: &[u8]| {
    let (headers, body) = http_request(data);
    if let Ok(events) = parse(&headers, &body) {
        for event in &events {
            let _ = (event.is_process_definition(), event.workflow_id());
        }
    }
});
