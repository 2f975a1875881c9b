//! Batch parsing never panics; an accepted unsigned batch re-serializes to a
//! file that parses back to the same batch.
#![no_main]

use coldsign_core::batch::{SignedBatch, UnsignedBatch};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    if let Ok(batch) = UnsignedBatch::parse(text) {
        let again = UnsignedBatch::parse(&batch.to_json()).expect("own output must parse");
        assert_eq!(again, batch);
    }
    if let Ok(signed) = SignedBatch::parse(text) {
        let _ = SignedBatch::parse(&signed.to_json()).expect("own output must parse");
    }
});
