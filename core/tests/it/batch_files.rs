//! The batch file formats: a valid round trip, a table of tampered files
//! that must be refused with the right error, and signed-against-unsigned
//! verification item by item.

use coldsign_core::{
    amount::U256,
    batch::{
        BatchError, ItemError, ItemFailureReason, SignedBatch, Summary, SummaryError,
        UnsignedBatch, UnsignedItemDraft, VerifyError,
    },
    erc20::Transfer,
    transaction::SignedTransaction,
    Address, Transaction, TxEip1559, TxLegacy,
};
use k256::ecdsa::SigningKey;
use serde_json::{json, Value};

pub const CHAIN: u64 = 31337;

/// Test-only keys (not secrets: fixed bytes).
pub fn key(n: u8) -> SigningKey {
    SigningKey::from_slice(&[n; 32]).unwrap()
}

pub fn sender(n: u8) -> Address {
    Address::from_verifying_key(key(n).verifying_key())
}

pub fn token() -> Address {
    "0x5FbDB2315678afecb367f032d93F642f64180aa3"
        .parse()
        .unwrap()
}

fn native(
    order: &str,
    from: u8,
    nonce: u64,
    to: Address,
    wei: u128,
    amount: &str,
) -> UnsignedItemDraft {
    UnsignedItemDraft {
        order_id: order.into(),
        from: sender(from),
        derivation_path: format!("m/44'/60'/0'/0/{from}"),
        tx: Transaction::Eip1559(TxEip1559 {
            chain_id: CHAIN,
            nonce,
            max_priority_fee_per_gas: U256::from(1_000_000_000u64),
            max_fee_per_gas: U256::from(30_000_000_000u64),
            gas_limit: 21_000,
            to: Some(to),
            value: U256::from(wei),
            input: vec![],
            access_list: vec![],
        }),
        summary: Summary {
            asset: "ETH".into(),
            decimals: 18,
            token: None,
            recipient: to,
            amount: amount.into(),
        },
        kind: coldsign_core::batch::ItemKind::Payment,
    }
}

fn erc20(
    order: &str,
    from: u8,
    nonce: u64,
    to: Address,
    units: u64,
    amount: &str,
) -> UnsignedItemDraft {
    UnsignedItemDraft {
        order_id: order.into(),
        from: sender(from),
        derivation_path: format!("m/44'/60'/0'/0/{from}"),
        tx: Transaction::Eip1559(TxEip1559 {
            chain_id: CHAIN,
            nonce,
            max_priority_fee_per_gas: U256::from(1_000_000_000u64),
            max_fee_per_gas: U256::from(30_000_000_000u64),
            gas_limit: 65_000,
            to: Some(token()),
            value: U256::zero(),
            input: Transfer {
                to,
                amount: U256::from(units),
            }
            .encode(),
            access_list: vec![],
        }),
        summary: Summary {
            asset: "USDT".into(),
            decimals: 6,
            token: Some(token()),
            recipient: to,
            amount: amount.into(),
        },
        kind: coldsign_core::batch::ItemKind::Payment,
    }
}

fn legacy(order: &str, from: u8, nonce: u64, to: Address) -> UnsignedItemDraft {
    UnsignedItemDraft {
        order_id: order.into(),
        from: sender(from),
        derivation_path: format!("m/44'/60'/0'/0/{from}"),
        tx: Transaction::Legacy(TxLegacy {
            chain_id: CHAIN,
            nonce,
            gas_price: U256::from(20_000_000_000u64),
            gas_limit: 21_000,
            to: Some(to),
            value: U256::from(10u64).pow(U256::from(17u8)),
            input: vec![],
        }),
        summary: Summary {
            asset: "ETH".into(),
            decimals: 18,
            token: None,
            recipient: to,
            amount: "0.1".into(),
        },
        kind: coldsign_core::batch::ItemKind::Payment,
    }
}

pub fn sample() -> UnsignedBatch {
    let alice = Address([0xa1; 20]);
    let bob = Address([0xb0; 20]);
    UnsignedBatch::new(
        42,
        CHAIN,
        "2026-11-21T09:30:00Z",
        vec![
            native("W-1001", 1, 0, alice, 1_500_000_000_000_000_000, "1.5"),
            erc20("W-1002", 1, 1, bob, 250_000_000, "250"),
            erc20("W-1003", 2, 7, alice, 1_230_000, "1.23"),
            legacy("W-1004", 2, 8, bob),
        ],
    )
    .unwrap()
}

pub fn sign_all(batch: &UnsignedBatch) -> Vec<SignedTransaction> {
    batch
        .items()
        .iter()
        .map(|item| {
            let n = if item.from() == sender(1) { 1 } else { 2 };
            item.transaction().clone().sign(&key(n)).unwrap()
        })
        .collect()
}

fn sample_json() -> Value {
    serde_json::from_str(&sample().to_json()).unwrap()
}

fn parse(v: &Value) -> Result<UnsignedBatch, BatchError> {
    UnsignedBatch::parse(&v.to_string())
}

#[test]
fn unsigned_batch_round_trips_through_its_file() {
    let batch = sample();
    let text = batch.to_json();
    let parsed = UnsignedBatch::parse(&text).unwrap();
    assert_eq!(parsed, batch);
    assert_eq!(parsed.to_json(), text);
    assert_eq!(batch.file_name(), "batch_42_20261121_unsigned.json");
    // Formatting does not matter, content does: compact JSON parses the same.
    assert_eq!(parse(&sample_json()).unwrap(), batch);
}

#[test]
fn every_item_is_checked_when_a_batch_is_built() {
    let alice = Address([0xa1; 20]);
    let mut wrong_amount = native("W-1", 1, 0, alice, 1, "2");
    wrong_amount.summary.amount = "0.000000000000000002".into();
    let err = UnsignedBatch::new(1, CHAIN, "2026-11-21T09:30:00Z", vec![wrong_amount]).unwrap_err();
    assert!(
        matches!(
            err,
            BatchError::Item {
                index: 0,
                reason: ItemError::Summary(SummaryError::AmountMismatch { .. }),
                ..
            }
        ),
        "{err:?}"
    );
    let err = UnsignedBatch::new(
        1,
        CHAIN,
        "2026-11-21",
        vec![native("W-1", 1, 0, alice, 1, "0.000000000000000001")],
    )
    .unwrap_err();
    assert!(matches!(err, BatchError::BadTimestamp(_)));
    assert_eq!(
        UnsignedBatch::new(1, CHAIN, "2026-11-21T09:30:00Z", vec![]).unwrap_err(),
        BatchError::Empty
    );
}

type Tamper = fn(&mut Value);
type Expect = fn(&BatchError) -> bool;

fn tampered_files() -> Vec<(&'static str, Tamper, Expect)> {
    vec![
        (
            "unknown format",
            |v| v["format"] = json!("coldsign/other"),
            |e| matches!(e, BatchError::UnknownFormat { .. }),
        ),
        (
            "missing format",
            |v| {
                v.as_object_mut().unwrap().remove("format");
            },
            |e| matches!(e, BatchError::UnknownFormat { found: None, .. }),
        ),
        (
            "future version",
            |v| v["version"] = json!(2),
            |e| matches!(e, BatchError::UnsupportedVersion(Some(2))),
        ),
        (
            "unknown top-level field",
            |v| v["note"] = json!("hi"),
            |e| matches!(e, BatchError::Json(m) if m.contains("note")),
        ),
        (
            "unknown item field",
            |v| v["items"][0]["memo"] = json!(1),
            |e| matches!(e, BatchError::Json(m) if m.contains("memo")),
        ),
        (
            "unknown tx field",
            |v| v["items"][0]["tx"]["gasPrice"] = json!("0x1"),
            |e| matches!(e, BatchError::Json(m) if m.contains("gasPrice")),
        ),
        (
            "missing tx field",
            |v| {
                v["items"][0]["tx"].as_object_mut().unwrap().remove("gas");
            },
            |e| matches!(e, BatchError::Json(m) if m.contains("gas")),
        ),
        (
            "missing to",
            |v| {
                v["items"][0]["tx"].as_object_mut().unwrap().remove("to");
            },
            |e| matches!(e, BatchError::Json(m) if m.contains("to")),
        ),
        (
            "missing summary token",
            |v| {
                v["items"][0]["summary"]
                    .as_object_mut()
                    .unwrap()
                    .remove("token");
            },
            |e| matches!(e, BatchError::Json(m) if m.contains("token")),
        ),
        (
            "missing digest",
            |v| {
                v.as_object_mut().unwrap().remove("digest");
            },
            |e| matches!(e, BatchError::Json(m) if m.contains("digest")),
        ),
        (
            "unknown tx type",
            |v| v["items"][0]["tx"]["type"] = json!("0x1"),
            |e| matches!(e, BatchError::Json(_)),
        ),
        (
            "non-canonical quantity",
            |v| v["items"][0]["tx"]["nonce"] = json!("0x00"),
            |e| matches!(e, BatchError::Json(m) if m.contains("canonical")),
        ),
        (
            "bad address checksum",
            |v| v["items"][0]["from"] = json!(flip_first_letter(&sender(1).to_checksum())),
            |e| matches!(e, BatchError::Json(_)),
        ),
        (
            "duplicate order id",
            |v| v["items"][1]["order_id"] = json!("W-1001"),
            |e| matches!(e, BatchError::DuplicateOrderId(id) if id == "W-1001"),
        ),
        (
            "duplicate sender nonce",
            |v| {
                v["items"][1]["tx"]["nonce"] = json!("0x0");
                rehash(v, 1);
            },
            |e| matches!(e, BatchError::DuplicateNonce { nonce: 0, .. }),
        ),
        (
            "item on another chain",
            |v| {
                v["items"][2]["tx"]["chainId"] = json!("0x1");
                rehash(v, 2);
            },
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 2,
                        reason: ItemError::ChainIdMismatch {
                            expected: CHAIN,
                            found: 1
                        },
                        ..
                    }
                )
            },
        ),
        (
            "native recipient differs",
            |v| v["items"][0]["summary"]["recipient"] = json!(Address([0xb0; 20])),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 0,
                        reason: ItemError::Summary(SummaryError::RecipientMismatch { .. }),
                        ..
                    }
                )
            },
        ),
        (
            "native amount differs",
            |v| v["items"][0]["summary"]["amount"] = json!("1.6"),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        reason: ItemError::Summary(SummaryError::AmountMismatch { .. }),
                        ..
                    }
                )
            },
        ),
        (
            "token amount differs",
            |v| v["items"][1]["summary"]["amount"] = json!("2500"),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 1,
                        reason: ItemError::Summary(SummaryError::AmountMismatch { .. }),
                        ..
                    }
                )
            },
        ),
        (
            "token recipient differs",
            |v| v["items"][1]["summary"]["recipient"] = json!(Address([0xa1; 20])),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 1,
                        reason: ItemError::Summary(SummaryError::RecipientMismatch { .. }),
                        ..
                    }
                )
            },
        ),
        (
            "token decimals differ",
            |v| v["items"][1]["summary"]["decimals"] = json!(18),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 1,
                        reason: ItemError::Summary(_),
                        ..
                    }
                )
            },
        ),
        (
            "token contract differs",
            |v| v["items"][1]["summary"]["token"] = json!(Address([0x77; 20])),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 1,
                        reason: ItemError::Summary(SummaryError::TokenContractMismatch { .. }),
                        ..
                    }
                )
            },
        ),
        (
            "native summary on a token transfer",
            |v| v["items"][1]["summary"]["token"] = Value::Null,
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 1,
                        reason: ItemError::Summary(SummaryError::NativeWithCalldata),
                        ..
                    }
                )
            },
        ),
        (
            "calldata pays someone else",
            |v| {
                let to = Address([0xee; 20]);
                v["items"][1]["tx"]["input"] = json!(coldsign_core::hex_data::encode(
                    Transfer {
                        to,
                        amount: U256::from(250_000_000u64)
                    }
                    .encode()
                ));
                rehash(v, 1);
            },
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 1,
                        reason: ItemError::Summary(SummaryError::RecipientMismatch { .. }),
                        ..
                    }
                )
            },
        ),
        (
            "token transfer also sends value",
            |v| {
                v["items"][1]["tx"]["value"] = json!("0x1");
                rehash(v, 1);
            },
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 1,
                        reason: ItemError::Summary(SummaryError::TokenWithValue(_)),
                        ..
                    }
                )
            },
        ),
        (
            "non-canonical amount",
            |v| v["items"][0]["summary"]["amount"] = json!("1.50"),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        reason: ItemError::Summary(SummaryError::NonCanonicalAmount { .. }),
                        ..
                    }
                )
            },
        ),
        (
            "contract creation",
            |v| {
                v["items"][0]["tx"]["to"] = Value::Null;
                rehash(v, 0);
            },
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 0,
                        reason: ItemError::Summary(SummaryError::ContractCreation),
                        ..
                    }
                )
            },
        ),
        (
            "priority fee above max fee",
            |v| {
                v["items"][0]["tx"]["maxPriorityFeePerGas"] = json!("0xffffffffffff");
                rehash(v, 0);
            },
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 0,
                        reason: ItemError::Invalid(_),
                        ..
                    }
                )
            },
        ),
        (
            "cost overflows",
            |v| {
                v["items"][0]["tx"]["maxFeePerGas"] = json!(format!("0x{}", "f".repeat(64)));
                rehash(v, 0);
            },
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 0,
                        reason: ItemError::Invalid(_),
                        ..
                    }
                )
            },
        ),
        (
            "signing hash edited",
            |v| v["items"][3]["signing_hash"] = json!(format!("0x{}", "11".repeat(32))),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 3,
                        reason: ItemError::SigningHashMismatch { .. },
                        ..
                    }
                )
            },
        ),
        (
            "nonce edited, hash kept",
            |v| v["items"][3]["tx"]["nonce"] = json!("0x9"),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 3,
                        reason: ItemError::SigningHashMismatch { .. },
                        ..
                    }
                )
            },
        ),
        (
            "gas edited, hash kept",
            |v| v["items"][0]["tx"]["gas"] = json!("0x5209"),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 0,
                        reason: ItemError::SigningHashMismatch { .. },
                        ..
                    }
                )
            },
        ),
        (
            "bad derivation path",
            |v| v["items"][0]["derivation_path"] = json!("m/44'/60'/x"),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 0,
                        reason: ItemError::BadDerivationPath(_),
                        ..
                    }
                )
            },
        ),
        (
            "non-canonical derivation path",
            |v| v["items"][0]["derivation_path"] = json!("m/44h/60h/0h/0/1"),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 0,
                        reason: ItemError::BadDerivationPath(_),
                        ..
                    }
                )
            },
        ),
        (
            "bad order id",
            |v| v["items"][0]["order_id"] = json!("W 1001"),
            |e| {
                matches!(
                    e,
                    BatchError::Item {
                        index: 0,
                        reason: ItemError::BadOrderId,
                        ..
                    }
                )
            },
        ),
        (
            "no items",
            |v| v["items"] = json!([]),
            |e| matches!(e, BatchError::Empty),
        ),
        (
            "bad timestamp",
            |v| v["created_at"] = json!("2026-13-01T00:00:00Z"),
            |e| matches!(e, BatchError::BadTimestamp(_)),
        ),
        (
            "edited derivation path",
            |v| v["items"][0]["derivation_path"] = json!("m/44'/60'/0'/0/9"),
            |e| matches!(e, BatchError::DigestMismatch { .. }),
        ),
        (
            "edited creation time",
            |v| v["created_at"] = json!("2026-11-21T09:31:00Z"),
            |e| matches!(e, BatchError::DigestMismatch { .. }),
        ),
        (
            "edited batch id",
            |v| v["batch_id"] = json!(43),
            |e| matches!(e, BatchError::DigestMismatch { .. }),
        ),
        (
            "edited digest",
            |v| v["digest"] = json!(format!("0x{}", "00".repeat(32))),
            |e| matches!(e, BatchError::DigestMismatch { .. }),
        ),
        (
            "not json",
            |v| *v = json!("garbage"),
            |e| matches!(e, BatchError::Json(_)),
        ),
    ]
}

/// The address text with the case of its first hex letter flipped.
fn flip_first_letter(address: &str) -> String {
    let pos = 2 + address[2..]
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap();
    let c = address.as_bytes()[pos] as char;
    let flipped = if c.is_ascii_uppercase() {
        c.to_ascii_lowercase()
    } else {
        c.to_ascii_uppercase()
    };
    format!("{}{flipped}{}", &address[..pos], &address[pos + 1..])
}

/// Recomputes the stated signing hash of item `i` after a field edit, as an
/// attacker who knows the format would, so the check under test is reached.
fn rehash(v: &mut Value, i: usize) {
    let mut probe = sample_json();
    probe["items"] = json!([v["items"][i].clone()]);
    probe["items"][0]["order_id"] = json!("probe");
    if let Err(BatchError::Item {
        reason: ItemError::SigningHashMismatch { computed, .. },
        ..
    }) = parse(&probe)
    {
        v["items"][i]["signing_hash"] = json!(computed);
    }
}

#[test]
fn tampered_unsigned_files_are_refused_with_the_right_error() {
    let base = sample_json();
    parse(&base).unwrap();
    for (name, tamper, expected) in tampered_files() {
        let mut v = base.clone();
        tamper(&mut v);
        let err = parse(&v).expect_err(name);
        assert!(expected(&err), "{name}: wrong error {err:?}");
        // The message names what is wrong, for the operator.
        assert!(!err.to_string().is_empty());
    }
}

#[test]
fn signed_batch_verifies_against_its_unsigned_batch() {
    let batch = sample();
    let signed = SignedBatch::from_signed_transactions(&batch, &sign_all(&batch));
    let text = signed.to_json();
    let parsed = SignedBatch::parse(&text).unwrap();
    let verified = parsed.verify_against(&batch).unwrap();
    assert_eq!(verified.len(), 4);
    assert_eq!(verified[1].order_id, "W-1002");
    assert_eq!(verified[1].signed.recover_sender(), Ok(sender(1)));
    // Deterministic: signing again gives the same file.
    assert_eq!(
        SignedBatch::from_signed_transactions(&batch, &sign_all(&batch)).to_json(),
        text
    );
}

fn signed_json() -> Value {
    let batch = sample();
    serde_json::from_str(
        &SignedBatch::from_signed_transactions(&batch, &sign_all(&batch)).to_json(),
    )
    .unwrap()
}

fn verify(v: &Value) -> Result<(), VerifyError> {
    let signed = SignedBatch::parse(&v.to_string()).unwrap();
    let one = signed.verify_against(&sample());
    // Spread over threads, the answer is the same, failure for failure.
    for threads in [0, 2, 3, 8] {
        assert_eq!(signed.verify_against_parallel(&sample(), threads), one);
    }
    one.map(|_| ())
}

fn failures(v: &Value) -> Vec<(String, ItemFailureReason)> {
    match verify(v) {
        Err(VerifyError::Items { failures, .. }) => failures
            .into_iter()
            .map(|f| (f.order_id, f.reason))
            .collect(),
        other => panic!("expected item failures, got {other:?}"),
    }
}

fn resign(v: &mut Value, i: usize, tx: Transaction, key_n: u8) {
    let s = tx.sign(&key(key_n)).unwrap();
    v["items"][i]["raw_transaction"] = json!(coldsign_core::hex_data::encode(s.raw()));
    v["items"][i]["tx_hash"] = json!(s.hash());
}

#[test]
fn incomplete_signed_file_names_the_missing_order() {
    let mut v = signed_json();
    v["items"].as_array_mut().unwrap().remove(2);
    let f = failures(&v);
    assert!(
        f.contains(&("W-1003".into(), ItemFailureReason::Missing)),
        "{f:?}"
    );
    // Item W-1004 moved up one place: it is reported too, not silently accepted.
    assert!(f
        .iter()
        .any(|(id, r)| id == "W-1004" && matches!(r, ItemFailureReason::OutOfOrder { .. })));
}

#[test]
fn tampered_signed_items_are_each_reported() {
    let batch = sample();
    let mut v = signed_json();
    // 0: a flipped byte with the stated hash kept.
    let raw = v["items"][0]["raw_transaction"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut flipped = raw.clone();
    flipped.replace_range(raw.len() - 2.., if raw.ends_with('0') { "1" } else { "0" });
    flipped.push_str(&raw[raw.len() - 1..]);
    v["items"][0]["raw_transaction"] = json!(flipped);
    // 1: signed by the wrong key.
    resign(&mut v, 1, batch.items()[1].transaction().clone(), 3);
    // 2: a different transaction (more value) properly signed by the right key.
    let mut changed = batch.items()[2].transaction().clone();
    if let Transaction::Eip1559(t) = &mut changed {
        t.max_fee_per_gas = U256::from(31_000_000_000u64);
    }
    resign(&mut v, 2, changed, 2);
    // 3: undecodable bytes with a matching hash.
    v["items"][3]["raw_transaction"] = json!("0x02c0");
    v["items"][3]["tx_hash"] = json!(coldsign_core::keccak256([0x02, 0xc0]));
    let f = failures(&v);
    assert_eq!(f.len(), 4, "{f:?}");
    assert!(matches!(f[0].1, ItemFailureReason::HashMismatch { .. }));
    assert!(
        matches!(f[1].1, ItemFailureReason::WrongSigner { expected, .. } if expected == sender(1))
    );
    assert_eq!(f[2].1, ItemFailureReason::FieldsDiffer("max_fee_per_gas"));
    assert!(matches!(f[3].1, ItemFailureReason::Decode(_)));
}

#[test]
fn signed_file_for_another_batch_or_version_is_refused() {
    let mut v = signed_json();
    v["batch_id"] = json!(41);
    assert!(matches!(
        verify(&v),
        Err(VerifyError::BatchIdMismatch {
            expected: 42,
            found: 41
        })
    ));
    let mut v = signed_json();
    v["unsigned_digest"] = json!(format!("0x{}", "ab".repeat(32)));
    assert!(matches!(
        verify(&v),
        Err(VerifyError::DigestMismatch { .. })
    ));
    let mut v = signed_json();
    v["items"].as_array_mut().unwrap().push(json!({"order_id": "W-9", "raw_transaction": "0x02c0", "tx_hash": coldsign_core::keccak256([0x02, 0xc0])}));
    assert!(failures(&v).contains(&("W-9".into(), ItemFailureReason::Unexpected)));
}

#[test]
fn malformed_signed_files_are_refused_at_parse() {
    let cases: Vec<(&str, Tamper)> = vec![
        ("unknown field", |v| v["items"][0]["extra"] = json!(1)),
        ("duplicate order", |v| {
            v["items"][1]["order_id"] = json!("W-1001")
        }),
        ("other format", |v| {
            v["format"] = json!("coldsign/unsigned-batch")
        }),
        ("future version", |v| v["version"] = json!(9)),
        ("bad hex", |v| {
            v["items"][0]["raw_transaction"] = json!("02f8")
        }),
        ("empty", |v| v["items"] = json!([])),
    ];
    for (name, tamper) in cases {
        let mut v = signed_json();
        tamper(&mut v);
        assert!(
            SignedBatch::parse(&v.to_string()).is_err(),
            "{name} accepted"
        );
    }
}

#[test]
fn docs_examples_parse_and_verify() {
    // docs/batch-format.md carries a complete example of each file; they must
    // stay valid for the format as implemented.
    let doc =
        std::fs::read_to_string(crate::support::workspace().join("docs/batch-format.md")).unwrap();
    let blocks: Vec<&str> = doc
        .split("```json\n")
        .skip(1)
        .map(|b| b.split("```").next().unwrap())
        .collect();
    let unsigned = blocks
        .iter()
        .find(|b| b.contains("coldsign/unsigned-batch"))
        .expect("unsigned example");
    let signed = blocks
        .iter()
        .find(|b| b.contains("coldsign/signed-batch"))
        .expect("signed example");
    let unsigned = UnsignedBatch::parse(unsigned).unwrap();
    assert_eq!(unsigned, sample());
    SignedBatch::parse(signed)
        .unwrap()
        .verify_against(&unsigned)
        .unwrap();
}

/// Prints the examples for docs/batch-format.md:
/// `cargo test -p coldsign-core --test it print_examples -- --ignored --nocapture`.
#[test]
#[ignore = "prints the documentation examples"]
fn print_examples() {
    let batch = sample();
    println!("{}", batch.to_json());
    println!(
        "{}",
        SignedBatch::from_signed_transactions(&batch, &sign_all(&batch)).to_json()
    );
}

/// A void of order `order`: a 0-value transfer from the sender to itself.
fn void(order: &str, from: u8, nonce: u64) -> UnsignedItemDraft {
    let mut d = native(order, from, nonce, sender(from), 0, "0");
    d.kind = coldsign_core::batch::ItemKind::Void;
    d
}

#[test]
fn a_void_item_round_trips_and_is_marked_in_the_file() {
    let batch =
        UnsignedBatch::new(7, CHAIN, "2026-11-21T09:30:00Z", vec![void("W-9", 1, 3)]).unwrap();
    let text = batch.to_json();
    assert!(text.contains("\"kind\": \"void\""), "{text}");
    let parsed = UnsignedBatch::parse(&text).unwrap();
    assert_eq!(
        parsed.items()[0].kind(),
        coldsign_core::batch::ItemKind::Void
    );
    // A payment carries no kind at all: the sample's files are unchanged.
    assert!(!sample().to_json().contains("\"kind\""));
}

#[test]
fn a_void_must_be_a_zero_value_self_transfer() {
    let alice = Address([0xa1; 20]);
    let mut to_other = native("W-1", 1, 0, alice, 0, "0");
    to_other.kind = coldsign_core::batch::ItemKind::Void;
    let mut with_value = native("W-2", 1, 0, sender(1), 1_000, "0.000000000000001");
    with_value.kind = coldsign_core::batch::ItemKind::Void;
    for d in [to_other, with_value] {
        let err = UnsignedBatch::new(1, CHAIN, "2026-11-21T09:30:00Z", vec![d]).unwrap_err();
        assert!(
            matches!(
                err,
                BatchError::Item {
                    reason: ItemError::BadVoid,
                    ..
                }
            ),
            "{err}"
        );
    }
}

#[test]
fn an_explicit_payment_kind_is_not_canonical() {
    let mut v = sample_json();
    v["items"][0]["kind"] = json!("payment");
    let err = parse(&v).unwrap_err();
    assert!(
        matches!(
            err,
            BatchError::Item {
                reason: ItemError::ExplicitPaymentKind,
                ..
            }
        ),
        "{err}"
    );
    v["items"][0]["kind"] = json!("refund");
    assert!(matches!(parse(&v).unwrap_err(), BatchError::Json(_)));
}

#[test]
fn the_ledger_head_is_part_of_the_digest_and_of_the_signed_file() {
    let head = coldsign_core::batch::LedgerHead {
        seq: 12,
        mac: coldsign_core::B256([0x5a; 32]),
    };
    let drafts = || {
        vec![native(
            "W-1",
            1,
            0,
            Address([0xa1; 20]),
            1,
            "0.000000000000000001",
        )]
    };
    let with =
        UnsignedBatch::with_ledger_head(1, CHAIN, "2026-11-21T09:30:00Z", Some(head), drafts())
            .unwrap();
    let without = UnsignedBatch::new(1, CHAIN, "2026-11-21T09:30:00Z", drafts()).unwrap();
    assert_ne!(with.digest(), without.digest());
    let parsed = UnsignedBatch::parse(&with.to_json()).unwrap();
    assert_eq!(parsed.ledger_head(), Some(head));
    assert_eq!(parsed, with);
    // Editing the head breaks the digest.
    let mut v: Value = serde_json::from_str(&with.to_json()).unwrap();
    v["ledger_head"]["seq"] = json!(11);
    assert!(matches!(
        parse(&v).unwrap_err(),
        BatchError::DigestMismatch { .. }
    ));

    let signed =
        SignedBatch::from_signed_transactions(&with, &sign_all(&with)).with_ledger_head(head);
    let reparsed = SignedBatch::parse(&signed.to_json()).unwrap();
    assert_eq!(reparsed.ledger_head, Some(head));
    reparsed.verify_against(&with).unwrap();
}

/// A batch of `n` native payments from 200 senders, each sender's nonces
/// consecutive.
fn large(n: usize) -> Vec<UnsignedItemDraft> {
    (0..n)
        .map(|i| {
            let to = Address([(i % 251) as u8 + 1; 20]);
            let wei = 1_000_000_000_000_000 * (i as u128 + 1);
            let amount = coldsign_core::amount::format_units(U256::from(wei), 18).unwrap();
            native(
                &format!("L-{i}"),
                (i % 200) as u8 + 1,
                (i / 200) as u64,
                to,
                wei,
                &amount,
            )
        })
        .collect()
}

/// The compact form of a JSON text: every whitespace byte outside strings
/// dropped (JSON strings never hold raw whitespace other than spaces).
fn minify(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let (mut in_string, mut escaped) = (false, false);
    for c in text.chars() {
        if in_string {
            out.push(c);
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
        } else if c == '"' {
            in_string = true;
            out.push(c);
        } else if !c.is_ascii_whitespace() {
            out.push(c);
        }
    }
    out
}

#[test]
fn digest_is_the_keccak_of_the_compact_body() {
    // Small, and large enough to span several of the digest's chunks.
    for n in [1, 4, 8_193] {
        let batch = if n == 4 {
            sample()
        } else {
            UnsignedBatch::new(7, CHAIN, "2026-11-21T09:30:00Z", large(n)).unwrap()
        };
        let text = batch.to_json();
        let compact = minify(&text);
        let digest_field = format!(",\"digest\":\"{}\"}}", batch.digest());
        let body = compact
            .strip_suffix(&digest_field)
            .unwrap_or_else(|| panic!("{n} items: the digest is not the last field"));
        assert_eq!(
            coldsign_core::keccak256(format!("{body}}}")),
            batch.digest(),
            "{n} items"
        );
        assert_eq!(UnsignedBatch::parse(&text).unwrap(), batch, "{n} items");
    }
}

#[test]
fn a_large_file_reports_its_first_error_in_file_order() {
    let batch = UnsignedBatch::new(7, CHAIN, "2026-11-21T09:30:00Z", large(4_500)).unwrap();
    let base: Value = serde_json::from_str(&batch.to_json()).unwrap();
    // Two bad order ids: the first one in the file is named.
    let mut v = base.clone();
    v["items"][4_000]["order_id"] = json!("bad id");
    v["items"][3_000]["order_id"] = json!("also bad");
    match parse(&v) {
        Err(BatchError::Item { index, reason, .. }) => {
            assert_eq!(index, 3_000);
            assert_eq!(reason, ItemError::BadOrderId);
        }
        other => panic!("wrong result {other:?}"),
    }
    // A JSON error anywhere comes before any item's validation error, and
    // reads as a parse of the whole file reports it (line and column).
    let mut v = base.clone();
    v["items"][100]["order_id"] = json!("bad id");
    v["items"][4_300]["surprise"] = json!(1);
    let err = parse(&v).unwrap_err();
    let whole_file = serde_json::from_str::<Value>(&v.to_string()).map(|_| ());
    assert!(whole_file.is_ok());
    match &err {
        BatchError::Json(message) => {
            assert!(message.contains("unknown field `surprise`"), "{message}");
            assert!(message.contains("line 1 column"), "{message}");
        }
        other => panic!("wrong error {other:?}"),
    }
    // A duplicate (sender, nonce) far apart is still found.
    let mut v = base;
    v["items"][4_399]["tx"]["nonce"] = v["items"][199]["tx"]["nonce"].clone();
    rehash(&mut v, 4_399);
    let err = parse(&v).unwrap_err();
    assert!(
        matches!(&err, BatchError::DuplicateNonce { nonce: 0, second, .. } if second == "L-4399"),
        "wrong error {err:?}"
    );
}
