//! `batch upload`: verify a signed file against what was exported.

use super::{send, Ctx};
use crate::{
    bindings,
    clock::now_rfc3339,
    db::Db,
    error::{ErrorKind, HubError, OperationError, Result},
    model::{Batch, Item, ItemMove},
    state::{BatchState, ItemState},
    store::batches,
    updates::ItemUpdate,
};
use coldsign_core::{
    batch::{SignedBatch, UnsignedBatch, VerifyError, SIGNED_FORMAT, UNSIGNED_FORMAT},
    B256,
};
use serde_json::json;
use std::collections::HashMap;

/// Why `batch upload` refused a signed file or could not take it. Each
/// says what to do next; its [`OperationError::kind`] gives its exit code and
/// HTTP status. Nothing was broadcast in any of them.
#[derive(Debug, thiserror::Error)]
pub(crate) enum UploadError {
    /// The file cannot be read.
    #[error("cannot read {file}: {source}")]
    Unreadable {
        file: String,
        source: std::io::Error,
    },
    /// The batch accepted a signed file already, and this is another.
    #[error(
        "batch {batch} already has an accepted signed file ({state}), and this file is not it"
    )]
    AnotherFileAccepted { batch: i64, state: BatchState },
    /// The batch does not wait for a signed file.
    #[error(
        "batch {batch} is {state}: a signed file can be uploaded once the batch is READY_FOR_SIGNATURE"
    )]
    NotReady { batch: i64, state: BatchState },
    /// The unsigned file was given instead of the signed one.
    #[error(
        "this is an unsigned batch file, not a signed one: sign it on the cold machine \
         (`signer --sign FILE`) and upload the `_signed.json` file it writes; batch {batch} is unchanged"
    )]
    UnsignedFile { batch: i64 },
    /// Another batch's signed file.
    #[error(
        "this is the signed file of batch {other}, not of batch {batch}: upload it with \
         `hub-cli batch upload {other} FILE`; batch {batch} is unchanged"
    )]
    OtherBatch { batch: i64, other: u64 },
    /// The answer to a version of the batch's file that a forced rebuild
    /// voided: sending it could pay an order twice.
    #[error(
        "this signed file answers an unsigned file of batch {batch} (digest {digest}) that a forced rebuild made void: \
         it is refused so that no old version is sent; export the current file (`hub-cli batch export {batch}`), \
         sign it and upload its signed file; batch {batch} is unchanged"
    )]
    VoidedFile { batch: i64, digest: B256 },
    /// The file does not verify against the exported one: the batch is
    /// now SIGNATURE_ERROR (`items`: one line per refused item).
    #[error(
        "batch {batch} is now SIGNATURE_ERROR and nothing was broadcast: {message}{items}\n\
         sign the exported file again (`hub-cli batch export {batch}`) and upload the new signed file"
    )]
    Refused {
        batch: i64,
        message: String,
        items: String,
    },
    /// The batch has no exported file to verify against.
    #[error("batch {batch} has no stored unsigned file")]
    NoStoredFile { batch: i64 },
    /// The stored exported file does not parse.
    #[error("stored unsigned batch {batch} does not parse: {error}")]
    StoredFileBroken {
        batch: i64,
        error: coldsign_core::batch::BatchError,
    },
}

crate::error::operation_error!(UploadError);

impl OperationError for UploadError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::Unreadable { .. } | Self::UnsignedFile { .. } | Self::OtherBatch { .. } => {
                ErrorKind::Input
            }
            Self::AnotherFileAccepted { .. } | Self::NotReady { .. } | Self::VoidedFile { .. } => {
                ErrorKind::Conflict
            }
            Self::Refused { .. } => ErrorKind::Signature,
            Self::NoStoredFile { .. } | Self::StoredFileBroken { .. } => ErrorKind::Internal,
        }
    }
}

/// `batch upload`.
pub(crate) fn upload(ctx: &mut Ctx, id: i64, file: &std::path::Path, no_send: bool) -> Result<()> {
    let batch = Batch::get(&mut ctx.db, id)?;
    let text = std::fs::read_to_string(file).map_err(|source| UploadError::Unreadable {
        file: file.display().to_string(),
        source,
    })?;
    match batch.state {
        BatchState::ReadyForSignature | BatchState::SignatureError => {}
        BatchState::SendingTx
        | BatchState::InProcess
        | BatchState::ProcessException
        | BatchState::Closed => {
            // Re-running after a successful upload: accept the same file again.
            let items = Item::of_batch(&mut ctx.db, id)?;
            let same = SignedBatch::parse(&text).is_ok_and(|s| {
                s.items.len() == items.len()
                    && s.items
                        .iter()
                        .zip(&items)
                        .all(|(a, b)| Some(a.tx_hash) == b.tx_hash)
            });
            if !same {
                return Err(UploadError::AnotherFileAccepted {
                    batch: id,
                    state: batch.state,
                }
                .into());
            }
            ctx.out.note(&format!(
                "batch {id}: this signed file was already accepted"
            ));
            if !no_send && batch.state == BatchState::SendingTx {
                return send::send(ctx, id, false);
            }
            ctx.out.result(
                json!({"batch": id, "state": batch.state.as_str(), "already_accepted": true}),
                "",
            );
            return Ok(());
        }
        other => {
            return Err(UploadError::NotReady {
                batch: id,
                state: other,
            }
            .into())
        }
    }
    let stored = batch
        .unsigned_json
        .clone()
        .ok_or(UploadError::NoStoredFile { batch: id })?;
    let unsigned = UnsignedBatch::parse(&stored)
        .map_err(|error| UploadError::StoredFileBroken { batch: id, error })?;
    let items = Item::of_batch(&mut ctx.db, id)?;
    refuse_wrong_file(&mut ctx.db, id, &unsigned, &text)?;
    let verified = SignedBatch::parse(&text)
        .map_err(|e| {
            (
                format!("the signed file is damaged or not a signed batch: {e}"),
                Vec::new(),
            )
        })
        .and_then(|s| {
            // Signature recovery dominates: spread it over the cores.
            let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
            s.verify_against_parallel(&unsigned, threads).map_err(|e| {
                let per_item = match &e {
                    VerifyError::Items { failures, .. } => failures
                        .iter()
                        .map(|f| (f.order_id.clone(), f.reason.to_string()))
                        .collect(),
                    _ => Vec::new(),
                };
                (e.to_string(), per_item)
            })
        });
    let actor = ctx.actor.clone();
    let verified = match verified {
        Ok(v) => v,
        Err((message, per_item)) => {
            ctx.db.transaction(|db| {
                for (order_id, reason) in &per_item {
                    if let Some(item) = items.iter().find(|i| &i.order.order_id == order_id) {
                        batches::set_item_message(
                            db,
                            item.id,
                            &format!("signature refused: {reason}"),
                        )?;
                        actor.event(
                            db,
                            crate::model::Subject {
                                kind: "item",
                                batch: Some(id),
                                item: Some(item.id),
                                order_ref: Some(item.order.id),
                            },
                            Some(item.state.as_str()),
                            item.state.as_str(),
                            "signature refused",
                            reason,
                        )?;
                    }
                }
                actor.move_batch(
                    db,
                    &batch,
                    BatchState::SignatureError,
                    "signed file refused",
                    &message,
                )?;
                Ok::<_, HubError>(())
            })?;
            let details: Vec<_> = per_item
                .iter()
                .map(|(o, r)| json!({"order_id": o, "reason": r}))
                .collect();
            let list: String = per_item
                .iter()
                .map(|(o, r)| format!("\n  {o}: {r}"))
                .collect();
            return ctx.out.finish(
                json!({"batch": id, "state": "SIGNATURE_ERROR", "message": message, "items": details}),
                "",
                Err(UploadError::Refused {
                    batch: id,
                    message,
                    items: list,
                }
                .into()),
            );
        }
    };
    let by_order: HashMap<&str, &Item> = items
        .iter()
        .map(|i| (i.order.order_id.as_str(), i))
        .collect();
    // Every item's two changes (the row written once, an event for each)
    // in bulk, in one transaction: a few statements for the whole file.
    let moves = verified
        .iter()
        .map(|v| {
            let item = by_order.get(v.order_id.as_str()).ok_or_else(|| {
                HubError::Internal(format!(
                    "verified order {} is not in batch {id}",
                    v.order_id
                ))
            })?;
            Ok(
                ItemMove::new(item, ItemState::SignatureReady, "signature received")
                    .update(ItemUpdate::Signed {
                        raw_tx: v.signed.raw().to_vec(),
                        tx_hash: v.signed.hash(),
                    })
                    .then(ItemState::ReadyToSend, "assembled"),
            )
        })
        .collect::<Result<Vec<_>>>()?;
    let signed_pairs: Vec<(B256, B256)> = verified
        .iter()
        .map(|v| (v.signed.transaction().signing_hash(), v.signed.hash()))
        .collect();
    let head = SignedBatch::parse(&text).ok().and_then(|s| s.ledger_head);
    ctx.db.transaction(|db| {
        actor.move_items(db, &moves)?;
        bindings::record_signed(db, id, &signed_pairs)?;
        batches::record_signed_accepted(db, id, &now_rfc3339(), head)?;
        actor.refresh_batch(db, id, "signed file accepted")?;
        Ok::<_, HubError>(())
    })?;
    ctx.out.note(&format!(
        "batch {id}: signed file accepted, {} transaction(s) ready to send",
        verified.len()
    ));
    if no_send {
        ctx.out.result(
            json!({"batch": id, "state": "SENDING_TX", "accepted": verified.len()}),
            &format!("send them with `hub-cli batch send {id}`"),
        );
        return Ok(());
    }
    send::send(ctx, id, false)
}

/// Refuses, without changing the batch, a file that is not a damaged copy
/// of this batch's signed file but another file altogether: the unsigned
/// file, another batch's signed file, or the signed answer to a version of
/// this batch's file that a forced rebuild voided. Only a copy meant for the
/// current file that fails verification moves the batch to SIGNATURE_ERROR.
fn refuse_wrong_file(db: &mut Db, id: i64, unsigned: &UnsignedBatch, text: &str) -> Result<()> {
    let Ok(json) = serde_json::from_str::<serde_json::Value>(text) else {
        return Ok(()); // damaged: verification reports it
    };
    let format = json.get("format").and_then(|f| f.as_str());
    if format == Some(UNSIGNED_FORMAT) {
        return Err(UploadError::UnsignedFile { batch: id }.into());
    }
    if format != Some(SIGNED_FORMAT) {
        return Ok(());
    }
    if let Some(other) = json.get("batch_id").and_then(|b| b.as_u64()) {
        if Some(other) != u64::try_from(id).ok() {
            return Err(UploadError::OtherBatch { batch: id, other }.into());
        }
    }
    let digest = json
        .get("unsigned_digest")
        .and_then(|d| d.as_str())
        .and_then(|d| coldsign_core::hex_data::decode_fixed::<32>(d).ok())
        .map(B256);
    if let Some(d) = digest {
        if d != unsigned.digest() && bindings::is_void_file(db, id, d)? {
            return Err(UploadError::VoidedFile {
                batch: id,
                digest: d,
            }
            .into());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_refusal_has_its_kind_and_says_what_to_do() {
        let cases = [
            (
                UploadError::UnsignedFile { batch: 3 },
                ErrorKind::Input,
                "signer --sign",
            ),
            (
                UploadError::OtherBatch { batch: 3, other: 4 },
                ErrorKind::Input,
                "hub-cli batch upload 4 FILE",
            ),
            (
                UploadError::NotReady {
                    batch: 3,
                    state: BatchState::Blocked,
                },
                ErrorKind::Conflict,
                "READY_FOR_SIGNATURE",
            ),
            (
                UploadError::VoidedFile {
                    batch: 3,
                    digest: B256([7; 32]),
                },
                ErrorKind::Conflict,
                "hub-cli batch export 3",
            ),
            (
                UploadError::Refused {
                    batch: 3,
                    message: "item 0 differs".into(),
                    items: "\n  W-1: bad signature".into(),
                },
                ErrorKind::Signature,
                "hub-cli batch export 3",
            ),
            (
                UploadError::NoStoredFile { batch: 3 },
                ErrorKind::Internal,
                "batch 3",
            ),
        ];
        crate::error::testing::check_errors(cases);
        assert_eq!(
            ErrorKind::Signature.exit_code(),
            crate::error::exit::SIGNATURE
        );
    }
}
