//! Property tests: encode/decode round trips and decoder robustness.

use coldsign_core::{
    amount::U256,
    rlp_strict,
    transaction::{AccessListItem, SignedTransaction},
    Address, Transaction, TxEip1559, TxLegacy, B256,
};
use k256::ecdsa::SigningKey;
use proptest::prelude::*;

fn u256() -> impl Strategy<Value = U256> {
    prop_oneof![
        Just(U256::zero()),
        any::<u64>().prop_map(U256::from),
        any::<[u64; 4]>().prop_map(U256),
    ]
}

fn address() -> impl Strategy<Value = Address> {
    any::<[u8; 20]>().prop_map(Address)
}

fn access_list() -> impl Strategy<Value = Vec<AccessListItem>> {
    prop::collection::vec(
        (
            address(),
            prop::collection::vec(any::<[u8; 32]>().prop_map(B256), 0..3),
        )
            .prop_map(|(address, storage_keys)| AccessListItem {
                address,
                storage_keys,
            }),
        0..3,
    )
}

fn common() -> impl Strategy<Value = (u64, u64, u64, Option<Address>, U256, Vec<u8>)> {
    (
        1u64..u64::MAX / 4,
        any::<u64>(),
        any::<u64>(),
        prop::option::weighted(0.9, address()),
        u256(),
        prop::collection::vec(any::<u8>(), 0..80),
    )
}

fn transaction() -> impl Strategy<Value = Transaction> {
    prop_oneof![
        (common(), u256()).prop_map(
            |((chain_id, nonce, gas_limit, to, value, input), gas_price)| {
                Transaction::Legacy(TxLegacy {
                    chain_id,
                    nonce,
                    gas_price,
                    gas_limit,
                    to,
                    value,
                    input,
                })
            }
        ),
        (common(), u256(), u256(), access_list()).prop_map(
            |((chain_id, nonce, gas_limit, to, value, input), a, b, access_list)| {
                Transaction::Eip1559(TxEip1559 {
                    chain_id,
                    nonce,
                    max_priority_fee_per_gas: a.min(b),
                    max_fee_per_gas: a.max(b),
                    gas_limit,
                    to,
                    value,
                    input,
                    access_list,
                })
            }
        ),
    ]
}

fn key() -> impl Strategy<Value = SigningKey> {
    any::<[u8; 32]>().prop_filter_map("valid scalar", |b| SigningKey::from_slice(&b).ok())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn signed_transactions_round_trip(tx in transaction(), key in key()) {
        let signed = tx.clone().sign(&key).unwrap();
        let decoded = SignedTransaction::decode_for_chain(signed.raw(), tx.chain_id()).unwrap();
        prop_assert_eq!(decoded.transaction(), &tx);
        prop_assert_eq!(decoded.raw(), signed.raw());
        prop_assert_eq!(decoded.hash(), signed.hash());
        let sender = Address::from_verifying_key(key.verifying_key());
        prop_assert_eq!(decoded.recover_sender().unwrap(), sender);
        let body = if tx.tx_type() == 2 { &signed.raw()[1..] } else { signed.raw() };
        prop_assert!(rlp_strict::validate(body).is_ok());
    }

    #[test]
    fn any_single_byte_change_is_refused_or_changes_meaning(tx in transaction(), key in key(), pos in any::<prop::sample::Index>(), flip in 1u8..=255) {
        let signed = tx.sign(&key).unwrap();
        let mut raw = signed.raw().to_vec();
        let i = pos.index(raw.len());
        raw[i] ^= flip;
        if let Ok(other) = SignedTransaction::decode(&raw) {
            // A tampered transaction that still decodes is never the same
            // payment from the same sender.
            prop_assert!(
                other.transaction() != signed.transaction()
                    || other.recover_sender().ok() != signed.recover_sender().ok()
            );
        }
    }

    #[test]
    fn decoder_never_panics_on_arbitrary_bytes(bytes in prop::collection::vec(any::<u8>(), 0..200)) {
        let _ = SignedTransaction::decode(&bytes);
        let _ = rlp_strict::validate(&bytes);
    }

    #[test]
    fn truncation_and_extension_are_refused(tx in transaction(), key in key(), cut in 1usize..8, extra in any::<u8>()) {
        let signed = tx.sign(&key).unwrap();
        let raw = signed.raw();
        let cut = cut.min(raw.len());
        prop_assert!(SignedTransaction::decode(&raw[..raw.len() - cut]).is_err());
        let mut longer = raw.to_vec();
        longer.push(extra);
        prop_assert!(SignedTransaction::decode(&longer).is_err());
    }
}

#[test]
fn chain_id_mismatch_is_refused() {
    let key = SigningKey::from_slice(&[7; 32]).unwrap();
    let tx = Transaction::Eip1559(TxEip1559 {
        chain_id: 5,
        gas_limit: 21_000,
        to: Some(Address([1; 20])),
        ..Default::default()
    });
    let signed = tx.sign(&key).unwrap();
    assert!(SignedTransaction::decode_for_chain(signed.raw(), 5).is_ok());
    assert_eq!(
        SignedTransaction::decode_for_chain(signed.raw(), 1).unwrap_err(),
        coldsign_core::transaction::TxDecodeError::ChainIdMismatch {
            expected: 1,
            found: 5
        }
    );
}

#[test]
fn unsupported_types_and_unprotected_legacy_are_refused() {
    use coldsign_core::transaction::TxDecodeError;
    assert_eq!(SignedTransaction::decode(&[]), Err(TxDecodeError::Empty));
    assert_eq!(
        SignedTransaction::decode(&[0x01, 0xc0]),
        Err(TxDecodeError::UnsupportedType(1))
    );
    assert_eq!(
        SignedTransaction::decode(&[0x03, 0xc0]),
        Err(TxDecodeError::UnsupportedType(3))
    );
    assert!(matches!(
        SignedTransaction::decode(&[0x02, 0xc0]),
        Err(TxDecodeError::Rlp(_))
    ));
}

#[test]
fn legacy_v_is_exact_for_the_largest_chain_id() {
    // v = chain_id * 2 + 35 + parity exceeds 64 bits here; it must not wrap.
    let key = SigningKey::from_slice(&[9; 32]).unwrap();
    let tx = Transaction::Legacy(TxLegacy {
        chain_id: u64::MAX,
        gas_limit: 21_000,
        to: Some(Address([2; 20])),
        ..Default::default()
    });
    let signed = tx.clone().sign(&key).unwrap();
    let decoded = SignedTransaction::decode_for_chain(signed.raw(), u64::MAX).unwrap();
    assert_eq!(decoded.transaction(), &tx);
    assert_eq!(
        decoded.recover_sender(),
        Ok(Address::from_verifying_key(key.verifying_key()))
    );
}
