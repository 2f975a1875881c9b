//! Strict transaction decoding never panics, and whatever it accepts
//! re-encodes to exactly the input and recovers a sender deterministically.
#![no_main]

use coldsign_core::SignedTransaction;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(tx) = SignedTransaction::decode(data) {
        assert_eq!(tx.raw(), data, "accepted a non-canonical encoding");
        assert_eq!(tx.transaction().encode_signed(tx.signature()), data);
        let _ = tx.recover_sender();
    }
});
