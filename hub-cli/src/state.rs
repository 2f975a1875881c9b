//! The batch and order state machine (docs/hub.md, "States"): the state names as
//! written there, which item transitions are allowed, and how a batch's state
//! follows from its items.

use std::{fmt, str::FromStr};

/// The state of a batch (docs/hub.md, "States").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum BatchState {
    /// Created; unsigned transactions can be built.
    New,
    /// Building unsigned transactions.
    BuildingTx,
    /// At least one order failed to build.
    Blocked,
    /// Every order has an unsigned transaction; the file can be exported.
    ReadyForSignature,
    /// The uploaded signed file was damaged, incomplete or failed verification.
    SignatureError,
    /// Broadcasting.
    SendingTx,
    /// At least one order is BROADCAST_ERROR or LINGERING.
    ProcessException,
    /// Waiting for every order to reach a final state.
    InProcess,
    /// Every order is DISBURSED or DISBURSEMENT_FAILED.
    Closed,
    /// Cancelled before a signed file was accepted.
    Cancelled,
}

/// The state of an order in a batch (docs/hub.md, "States").
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum ItemState {
    /// Waiting for its unsigned transaction.
    Selected,
    /// Unsigned transaction built.
    TxBuilt,
    /// Building failed.
    BuildError,
    /// Signature received.
    SignatureReady,
    /// Signed transaction assembled, waiting to go out.
    ReadyToSend,
    /// Being broadcast.
    Sending,
    /// Accepted by the node; waiting to be mined and confirmed.
    Confirming,
    /// The node rejected it; an operator must resolve it.
    BroadcastError,
    /// Unknown to the node, its nonce unused: not certainly failed.
    Lingering,
    /// Will be sent again when the operator triggers resend.
    ReadyToResend,
    /// Final: paid out.
    Disbursed,
    /// Final: not paid out.
    DisbursementFailed,
}

/// The state of an order itself.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) enum OrderState {
    /// Unprocessed: a new batch can take it.
    Pending,
    /// In an unfinished batch.
    InBatch,
    /// Paid out.
    Completed,
    /// Not paid out, final.
    Failed,
}

macro_rules! names {
    ($ty:ident { $($variant:ident => $name:literal),+ $(,)? }) => {
        impl $ty {
            /// Every state, in table order.
            #[allow(dead_code)]
            pub(crate) const ALL: &'static [$ty] = &[$($ty::$variant),+];

            /// The name as written in docs/hub.md and stored in the database.
            pub(crate) fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),+ }
            }
        }

        impl fmt::Display for $ty {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl FromStr for $ty {
            type Err = UnknownState;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s {
                    $($name => Ok($ty::$variant),)+
                    _ => Err(UnknownState(s.to_owned())),
                }
            }
        }
    };
}

names!(BatchState {
    New => "NEW",
    BuildingTx => "BUILDING_TX",
    Blocked => "BLOCKED",
    ReadyForSignature => "READY_FOR_SIGNATURE",
    SignatureError => "SIGNATURE_ERROR",
    SendingTx => "SENDING_TX",
    ProcessException => "PROCESS_EXCEPTION",
    InProcess => "IN_PROCESS",
    Closed => "CLOSED",
    Cancelled => "CANCELLED",
});

names!(ItemState {
    Selected => "SELECTED",
    TxBuilt => "TX_BUILT",
    BuildError => "BUILD_ERROR",
    SignatureReady => "SIGNATURE_READY",
    ReadyToSend => "READY_TO_SEND",
    Sending => "SENDING",
    Confirming => "CONFIRMING",
    BroadcastError => "BROADCAST_ERROR",
    Lingering => "LINGERING",
    ReadyToResend => "READY_TO_RESEND",
    Disbursed => "DISBURSED",
    DisbursementFailed => "DISBURSEMENT_FAILED",
});

names!(OrderState {
    Pending => "PENDING",
    InBatch => "IN_BATCH",
    Completed => "COMPLETED",
    Failed => "FAILED",
});

/// A state name that is not in the tables.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown state {0:?}")]
pub(crate) struct UnknownState(pub(crate) String);

/// A transition the tables do not allow.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("an order in state {from} cannot move to {to}")]
pub(crate) struct BadTransition {
    /// From.
    pub(crate) from: ItemState,
    /// To.
    pub(crate) to: ItemState,
}

impl ItemState {
    /// DISBURSED or DISBURSEMENT_FAILED.
    pub(crate) fn is_final(self) -> bool {
        matches!(self, Self::Disbursed | Self::DisbursementFailed)
    }

    /// A signed transaction exists for it (it may be on the network).
    pub(crate) fn is_signed(self) -> bool {
        !matches!(self, Self::Selected | Self::TxBuilt | Self::BuildError)
    }

    /// Whether `self -> to` is an allowed transition.
    pub(crate) fn can_move_to(self, to: Self) -> bool {
        use ItemState::*;
        matches!(
            (self, to),
            // build (and rebuild before signing), drop resets to SELECTED
            (Selected | TxBuilt | BuildError, Selected | TxBuilt | BuildError)
                // upload
                | (TxBuilt, SignatureReady)
                | (SignatureReady, ReadyToSend)
                // send and resend
                | (ReadyToSend | ReadyToResend | Sending, Sending)
                | (Sending, Confirming | BroadcastError)
                // sync: final states, lingering, nonce taken, reorg
                | (Confirming, Confirming | Disbursed | DisbursementFailed | Lingering | BroadcastError)
                // resolution of BROADCAST_ERROR: on chain, resend, rebuild
                | (BroadcastError, Confirming | ReadyToResend | DisbursementFailed)
                // check of LINGERING: determined or not
                | (Lingering, Confirming | ReadyToResend | BroadcastError)
        )
    }

    /// `Ok` if `self -> to` is allowed.
    pub(crate) fn check_move(self, to: Self) -> Result<(), BadTransition> {
        if self.can_move_to(to) {
            Ok(())
        } else {
            Err(BadTransition { from: self, to })
        }
    }
}

impl BatchState {
    /// Whether the batch can still be cancelled: only before a signed file
    /// was accepted.
    pub(crate) fn can_cancel(self) -> bool {
        matches!(
            self,
            Self::New
                | Self::BuildingTx
                | Self::Blocked
                | Self::ReadyForSignature
                | Self::SignatureError
        )
    }
}

/// The state a batch has given its items' states, per the tables.
///
/// `current` matters only where items alone cannot tell: BUILDING_TX while a
/// build runs, SIGNATURE_ERROR after a refused upload, CANCELLED. Only which
/// item states occur matters, not how often, so the distinct states are
/// enough.
pub(crate) fn derive_batch_state(current: BatchState, items: &[ItemState]) -> BatchState {
    use ItemState::*;
    if current == BatchState::Cancelled {
        return current;
    }
    let any = |s: ItemState| items.contains(&s);
    let any_signed = items.iter().any(|i| i.is_signed());
    if !any_signed {
        if matches!(current, BatchState::BuildingTx | BatchState::SignatureError) {
            return current;
        }
        if items.is_empty() || any(Selected) {
            return BatchState::New;
        }
        if any(BuildError) {
            return BatchState::Blocked;
        }
        return BatchState::ReadyForSignature;
    }
    if items.iter().all(|i| i.is_final()) {
        return BatchState::Closed;
    }
    if any(BroadcastError) || any(Lingering) {
        return BatchState::ProcessException;
    }
    if any(SignatureReady) || any(ReadyToSend) || any(Sending) {
        return BatchState::SendingTx;
    }
    BatchState::InProcess
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip() {
        for s in BatchState::ALL {
            assert_eq!(s.as_str().parse::<BatchState>(), Ok(*s));
        }
        for s in ItemState::ALL {
            assert_eq!(s.as_str().parse::<ItemState>(), Ok(*s));
        }
        assert_eq!(BatchState::ALL.len(), 10);
        assert_eq!(ItemState::ALL.len(), 12);
        assert!("SIGNATURE ERROR".parse::<BatchState>().is_err());
    }

    #[test]
    fn final_states_never_move() {
        for from in [ItemState::Disbursed, ItemState::DisbursementFailed] {
            for to in ItemState::ALL {
                assert!(!from.can_move_to(*to), "{from} -> {to}");
            }
        }
    }

    #[test]
    fn resolutions_of_broadcast_error() {
        use ItemState::*;
        assert!(BroadcastError.can_move_to(Confirming));
        assert!(BroadcastError.can_move_to(ReadyToResend));
        assert!(BroadcastError.can_move_to(DisbursementFailed));
        assert!(!BroadcastError.can_move_to(Disbursed));
        assert!(Lingering.can_move_to(ReadyToResend));
        assert!(!TxBuilt.can_move_to(Sending));
        assert!(!Selected.can_move_to(SignatureReady));
    }

    #[test]
    fn batch_follows_items() {
        use BatchState as B;
        use ItemState::*;
        assert_eq!(derive_batch_state(B::New, &[Selected, Selected]), B::New);
        assert_eq!(derive_batch_state(B::BuildingTx, &[TxBuilt]), B::BuildingTx);
        assert_eq!(
            derive_batch_state(B::New, &[TxBuilt, BuildError]),
            B::Blocked
        );
        assert_eq!(
            derive_batch_state(B::Blocked, &[TxBuilt, TxBuilt]),
            B::ReadyForSignature
        );
        assert_eq!(
            derive_batch_state(B::SignatureError, &[TxBuilt]),
            B::SignatureError
        );
        assert_eq!(
            derive_batch_state(B::ReadyForSignature, &[ReadyToSend]),
            B::SendingTx
        );
        assert_eq!(
            derive_batch_state(B::SendingTx, &[Confirming, BroadcastError]),
            B::ProcessException
        );
        assert_eq!(
            derive_batch_state(B::InProcess, &[Disbursed, Lingering]),
            B::ProcessException
        );
        assert_eq!(
            derive_batch_state(B::SendingTx, &[Confirming, Disbursed]),
            B::InProcess
        );
        assert_eq!(
            derive_batch_state(B::ProcessException, &[ReadyToResend, Disbursed]),
            B::InProcess
        );
        assert_eq!(
            derive_batch_state(B::InProcess, &[Disbursed, DisbursementFailed]),
            B::Closed
        );
        assert_eq!(derive_batch_state(B::Cancelled, &[TxBuilt]), B::Cancelled);
    }

    /// Every pair of item states against the table, written out here as
    /// the list of allowed moves (self-moves aside): a transition added or
    /// removed in `can_move_to` without updating this list fails.
    #[test]
    fn every_pair_of_item_states_follows_the_table() {
        use ItemState::*;
        let allowed: &[(ItemState, &[ItemState])] = &[
            (Selected, &[TxBuilt, BuildError]),
            (TxBuilt, &[Selected, BuildError, SignatureReady]),
            (BuildError, &[Selected, TxBuilt]),
            (SignatureReady, &[ReadyToSend]),
            (ReadyToSend, &[Sending]),
            (Sending, &[Confirming, BroadcastError]),
            (
                Confirming,
                &[Disbursed, DisbursementFailed, Lingering, BroadcastError],
            ),
            (
                BroadcastError,
                &[Confirming, ReadyToResend, DisbursementFailed],
            ),
            (Lingering, &[Confirming, ReadyToResend, BroadcastError]),
            (ReadyToResend, &[Sending]),
            (Disbursed, &[]),
            (DisbursementFailed, &[]),
        ];
        assert_eq!(allowed.len(), ItemState::ALL.len());
        let self_moves = [Selected, TxBuilt, BuildError, Sending, Confirming];
        for from in ItemState::ALL {
            let to_list = allowed
                .iter()
                .find(|(f, _)| f == from)
                .map(|(_, t)| *t)
                .unwrap();
            for to in ItemState::ALL {
                let expected = to_list.contains(to) || (from == to && self_moves.contains(from));
                assert_eq!(from.can_move_to(*to), expected, "{from} -> {to}");
            }
        }
    }

    /// Every combination of item states (all 4,096 subsets of the twelve)
    /// and every current batch state: the derived batch state obeys the
    /// rules of the tables.
    #[test]
    fn every_combination_of_item_states_derives_the_table_state() {
        use BatchState as B;
        use ItemState::*;
        for mask in 0u32..(1 << ItemState::ALL.len()) {
            let items: Vec<ItemState> = ItemState::ALL
                .iter()
                .enumerate()
                .filter(|(i, _)| mask & (1 << i) != 0)
                .map(|(_, s)| *s)
                .collect();
            let any = |s: ItemState| items.contains(&s);
            let signed = items.iter().any(|i| i.is_signed());
            let all_final = !items.is_empty() && items.iter().all(|i| i.is_final());
            for current in BatchState::ALL {
                let got = derive_batch_state(*current, &items);
                let want = if *current == B::Cancelled {
                    B::Cancelled
                } else if !signed {
                    if matches!(current, B::BuildingTx | B::SignatureError) {
                        *current
                    } else if items.is_empty() || any(Selected) {
                        B::New
                    } else if any(BuildError) {
                        B::Blocked
                    } else {
                        B::ReadyForSignature
                    }
                } else if all_final {
                    B::Closed
                } else if any(BroadcastError) || any(Lingering) {
                    B::ProcessException
                } else if any(SignatureReady) || any(ReadyToSend) || any(Sending) {
                    B::SendingTx
                } else {
                    B::InProcess
                };
                assert_eq!(got, want, "{current} with {items:?}");
                // What a person relies on, whatever the combination:
                if got == B::Closed {
                    assert!(all_final);
                }
                if got == B::ProcessException {
                    assert!(any(BroadcastError) || any(Lingering));
                }
                if signed && *current != B::Cancelled {
                    assert!(!current.can_cancel() || got != B::Cancelled);
                }
            }
        }
    }

    #[test]
    fn cancel_only_before_a_signed_file_was_accepted() {
        use BatchState as B;
        for s in [
            B::New,
            B::BuildingTx,
            B::Blocked,
            B::ReadyForSignature,
            B::SignatureError,
        ] {
            assert!(s.can_cancel(), "{s}");
        }
        for s in [
            B::SendingTx,
            B::ProcessException,
            B::InProcess,
            B::Closed,
            B::Cancelled,
        ] {
            assert!(!s.can_cancel(), "{s}");
        }
    }
}
