//! The strict RLP layer never panics, and accepts only what `rlp` re-encodes
//! to the same bytes.
#![no_main]

use coldsign_core::rlp_strict;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if rlp_strict::validate(data).is_ok() {
        let rlp = rlp::Rlp::new(data);
        assert_eq!(rlp.as_raw(), data);
    }
});
