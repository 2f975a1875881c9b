//! Legacy transactions (type 0) with EIP-155 replay protection.

use crate::{
    address::Address,
    amount::U256,
    rlp_strict::{self, append_optional_address, append_u256, RlpError},
    signature::Signature,
};
use rlp::RlpStream;

/// An unsigned legacy transaction bound to a chain by EIP-155.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct TxLegacy {
    /// EIP-155 chain id (folded into `v` when signed).
    pub chain_id: u64,
    /// Sender nonce.
    pub nonce: u64,
    /// Price per gas.
    pub gas_price: U256,
    /// Gas limit.
    pub gas_limit: u64,
    /// Recipient; `None` creates a contract.
    pub to: Option<Address>,
    /// Wei transferred.
    pub value: U256,
    /// Calldata.
    pub input: Vec<u8>,
}

impl TxLegacy {
    fn encode_fields(&self, s: &mut RlpStream) {
        s.append(&self.nonce);
        append_u256(s, &self.gas_price);
        s.append(&self.gas_limit);
        append_optional_address(s, &self.to);
        append_u256(s, &self.value);
        s.append(&self.input.as_slice());
    }

    /// `rlp([nonce, gas_price, gas, to, value, data, chain_id, 0, 0])`.
    pub fn signing_payload(&self) -> Vec<u8> {
        let mut s = RlpStream::new_list(9);
        self.encode_fields(&mut s);
        s.append(&self.chain_id);
        s.append(&0u8);
        s.append(&0u8);
        s.out().to_vec()
    }

    /// The EIP-155 `v`: `chain_id * 2 + 35 + y_parity`, computed exactly in
    /// 256 bits so that no chain id can overflow it.
    pub fn eip155_v(chain_id: u64, y_parity: bool) -> U256 {
        U256::from(chain_id) * 2u8 + 35u8 + u8::from(y_parity)
    }

    /// `rlp([nonce, gas_price, gas, to, value, data, v, r, s])`.
    pub fn encode_signed(&self, sig: &Signature) -> Vec<u8> {
        let v = Self::eip155_v(self.chain_id, sig.y_parity());
        let mut s = RlpStream::new_list(9);
        self.encode_fields(&mut s);
        append_u256(&mut s, &v);
        append_u256(&mut s, &sig.r());
        append_u256(&mut s, &sig.s());
        s.out().to_vec()
    }

    /// Decodes a signed legacy list strictly into the transaction fields and
    /// the raw `(v, r, s)`.
    pub(crate) fn decode_signed_fields(
        rlp: &[u8],
    ) -> Result<(TxLegacyFields, U256, U256, U256), RlpError> {
        let f = rlp_strict::decode_list(rlp, "legacy transaction", 9)?;
        let fields = TxLegacyFields {
            nonce: f[0].u64("nonce")?,
            gas_price: f[1].u256("gas_price")?,
            gas_limit: f[2].u64("gas_limit")?,
            to: f[3].optional_address("to")?,
            value: f[4].u256("value")?,
            input: f[5].bytes("input")?.to_vec(),
        };
        Ok((fields, f[6].u256("v")?, f[7].u256("r")?, f[8].u256("s")?))
    }
}

/// The fields of a legacy transaction before `v` has told its chain id.
pub(crate) struct TxLegacyFields {
    pub(crate) nonce: u64,
    pub(crate) gas_price: U256,
    pub(crate) gas_limit: u64,
    pub(crate) to: Option<Address>,
    pub(crate) value: U256,
    pub(crate) input: Vec<u8>,
}

impl TxLegacyFields {
    pub(crate) fn with_chain_id(self, chain_id: u64) -> TxLegacy {
        TxLegacy {
            chain_id,
            nonce: self.nonce,
            gas_price: self.gas_price,
            gas_limit: self.gas_limit,
            to: self.to,
            value: self.value,
            input: self.input,
        }
    }
}
