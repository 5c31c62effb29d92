//! The configuration loader on arbitrary text: YAML parsing, every document kind's reader and
//! the catalog checks must report errors, never panic, and stay within the node limit.
#![no_main]

use libfuzzer_sys::fuzz_target;
use steward_config::{catalog, parse_text, Diagnostics, Scope};

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut diags = Diagnostics::default();
    let docs = parse_text("fuzz.yaml", text, &mut diags);
    catalog::build(&docs, Scope::SingleFile, &mut diags);
    catalog::build(&docs, Scope::Complete, &mut diags);
    for d in &diags.items {
        let _ = d.to_string();
    }
});
