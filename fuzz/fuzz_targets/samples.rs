//! The samples decoder on arbitrary bytes: every body decodes into samples or errors, never a
//! panic; and the fast path takes only batches the detailed decoder takes, decoded the same.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let detailed = steward_http::ingest::decode_detailed(data).map_err(|e| e.message);
    if let Some(fast) = steward_http::ingest::decode_well_formed(data) {
        assert_eq!(detailed, Ok(fast.into_iter().map(Ok).collect::<Vec<_>>()));
    }
    let _ = steward_http::decode_samples(data);
});
