//! EIP-1559 dynamic-fee transactions (EIP-2718 type 2).

use crate::{
    address::Address,
    amount::U256,
    hash::B256,
    rlp_strict::{self, append_optional_address, append_u256, Item, RlpError},
    signature::Signature,
};
use rlp::RlpStream;

/// One entry of an EIP-2930 access list.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct AccessListItem {
    /// The account accessed.
    pub address: Address,
    /// The storage slots accessed.
    pub storage_keys: Vec<B256>,
}

/// An EIP-2930 access list.
pub type AccessList = Vec<AccessListItem>;

/// An unsigned EIP-1559 transaction; fields in the order the EIP encodes them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxEip1559 {
    /// EIP-155 chain id.
    pub chain_id: u64,
    /// Sender nonce.
    pub nonce: u64,
    /// Tip per gas paid to the block producer, at most.
    pub max_priority_fee_per_gas: U256,
    /// Total fee per gas (base fee + tip), at most.
    pub max_fee_per_gas: U256,
    /// Gas limit.
    pub gas_limit: u64,
    /// Recipient; `None` creates a contract.
    pub to: Option<Address>,
    /// Wei transferred.
    pub value: U256,
    /// Calldata.
    pub input: Vec<u8>,
    /// Pre-declared accessed accounts and slots.
    pub access_list: AccessList,
}

/// Number of fields in the unsigned list; the signed list adds three.
const UNSIGNED_FIELDS: usize = 9;

impl TxEip1559 {
    /// The EIP-2718 type byte.
    pub const TYPE: u8 = 2;

    fn encode_fields(&self, s: &mut RlpStream) {
        s.append(&self.chain_id);
        s.append(&self.nonce);
        append_u256(s, &self.max_priority_fee_per_gas);
        append_u256(s, &self.max_fee_per_gas);
        s.append(&self.gas_limit);
        append_optional_address(s, &self.to);
        append_u256(s, &self.value);
        s.append(&self.input.as_slice());
        s.begin_list(self.access_list.len());
        for item in &self.access_list {
            s.begin_list(2);
            s.append(&item.address.0.as_slice());
            s.begin_list(item.storage_keys.len());
            for key in &item.storage_keys {
                s.append(&key.0.as_slice());
            }
        }
    }

    /// `0x02 || rlp([chain_id, …, access_list])`: the bytes that are hashed.
    pub fn signing_payload(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(UNSIGNED_FIELDS);
        self.encode_fields(&mut s);
        let mut out = vec![Self::TYPE];
        out.extend_from_slice(&s.out());
        out
    }

    /// `0x02 || rlp([chain_id, …, access_list, y_parity, r, s])`.
    pub fn encode_signed(&self, sig: &Signature) -> Vec<u8> {
        let mut s = RlpStream::new_list(UNSIGNED_FIELDS + 3);
        self.encode_fields(&mut s);
        s.append(&u8::from(sig.y_parity()));
        append_u256(&mut s, &sig.r());
        append_u256(&mut s, &sig.s());
        let mut out = vec![Self::TYPE];
        out.extend_from_slice(&s.out());
        out
    }

    /// Decodes the RLP after the type byte into the transaction and the raw
    /// `(y_parity, r, s)` values, strictly.
    pub(crate) fn decode_signed_fields(rlp: &[u8]) -> Result<(Self, u64, U256, U256), RlpError> {
        let f = rlp_strict::decode_list(rlp, "eip1559 transaction", UNSIGNED_FIELDS + 3)?;
        let tx = Self {
            chain_id: f[0].u64("chain_id")?,
            nonce: f[1].u64("nonce")?,
            max_priority_fee_per_gas: f[2].u256("max_priority_fee_per_gas")?,
            max_fee_per_gas: f[3].u256("max_fee_per_gas")?,
            gas_limit: f[4].u64("gas_limit")?,
            to: f[5].optional_address("to")?,
            value: f[6].u256("value")?,
            input: f[7].bytes("input")?.to_vec(),
            access_list: decode_access_list(&f[8])?,
        };
        Ok((
            tx,
            f[9].u64("y_parity")?,
            f[10].u256("r")?,
            f[11].u256("s")?,
        ))
    }
}

fn decode_access_list(item: &Item<'_>) -> Result<AccessList, RlpError> {
    item.list("access_list", None)?
        .iter()
        .map(|entry| {
            let pair = entry.list("access_list entry", Some(2))?;
            let storage_keys = pair[1]
                .list("storage_keys", None)?
                .iter()
                .map(|k| k.b256("storage key"))
                .collect::<Result<_, _>>()?;
            Ok(AccessListItem {
                address: Address(pair[0].fixed::<20>("access_list address")?),
                storage_keys,
            })
        })
        .collect()
}
