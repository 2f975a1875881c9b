//! `chain`, `token` and `address`: what the hub pays from and with.

use super::{connect, Ctx};
use crate::{
    cli::{AddressCmd, ChainAdd, ChainCmd, ChainUpdate, TokenCmd},
    db::DbError,
    error::{ErrorKind, HubError, OperationError, Result},
    model::{parse_address, AddressRow, Chain, Token},
    output::{Output, Table},
    rpc::{redact, Balance, Rpc},
    store::chains::{self as store, ChainUser},
};
use coldsign_core::{
    address::AddressError,
    address_proof::{AddressProof, AddressProofError, WalletFingerprint},
    Address, B256, U256,
};
use serde_json::json;

/// Why a setup command (`chain add|update|remove`, `token
/// add|update|remove`, `address import|list`) refused or failed. Its
/// [`OperationError::kind`] gives its exit code and HTTP status.
#[derive(Debug, thiserror::Error)]
pub(crate) enum SetupError {
    /// A fee cap (`option`) is not an integer number of wei.
    #[error("{option} must be an integer number of wei, not {value:?}")]
    NotWei { option: String, value: String },
    /// `chain update` without any option.
    #[error("nothing to change: give at least one option (see `hub-cli chain update --help`)")]
    ChainUnchanged,
    /// `chain remove` of a chain that rows of `what` refer to.
    #[error(
        "chain {chain} is used by {rows} {what} row(s): it cannot be removed; correct it with `hub-cli chain update {chain}`"
    )]
    ChainInUse {
        chain: String,
        rows: i64,
        what: &'static str,
    },
    /// `chain add` with too many native decimals.
    #[error("native decimals must be at most 77")]
    TooManyNativeDecimals,
    /// `chain add` of a name or chain id already registered.
    #[error(
        "a chain named {name:?} or with chain id {chain_id} is already registered: see `hub-cli chain list`"
    )]
    ChainTaken { name: String, chain_id: u64 },
    /// The token's address has no contract code on the chain.
    #[error("{contract} has no contract code on {chain}: check the address")]
    NoContractCode { contract: Address, chain: String },
    /// `--decimals` differs from the contract's `decimals()`.
    #[error(
        "the contract {contract} says it has {on_chain} decimals, not {given}: with {given}, every amount would be off \
         by a factor of 10^{}; give --decimals {on_chain} (or leave it out)",
        .given.abs_diff(*.on_chain)
    )]
    DecimalsMismatch {
        contract: Address,
        on_chain: u8,
        given: u8,
    },
    /// The contract does not tell its decimals (`why`), and none were given.
    #[error("{why}: give its decimals with --decimals N")]
    DecimalsUnknown { why: String },
    /// The token has too many decimals.
    #[error("decimals must be at most 77")]
    TooManyDecimals,
    /// `token add` of the chain's native coin.
    #[error(
        "{symbol} is the native coin of {chain}: it needs no token entry (orders name it as is)"
    )]
    NativeSymbol { symbol: String, chain: String },
    /// `token add` of a symbol or contract already registered on the chain.
    #[error(
        "{chain} already has a token {symbol} or the contract {contract}: see `hub-cli token list`"
    )]
    TokenTaken {
        chain: String,
        symbol: String,
        contract: Address,
    },
    /// `token update` or `remove` of a token not registered on the chain.
    #[error("no token {symbol} on {chain}: see `hub-cli token list`")]
    NoToken { symbol: String, chain: String },
    /// `token update` without `--contract` or `--decimals`.
    #[error("nothing to change: give --contract and/or --decimals")]
    TokenUnchanged,
    /// `token update` of a token that unfinished orders use.
    #[error(
        "{open} unfinished order(s) use {symbol} on {chain}: their amounts were stored in base units with \
         {decimals} decimals, so the token cannot change under them; finish or cancel them first \
         (`hub-cli order list --state PENDING`)"
    )]
    TokenInUse {
        open: i64,
        symbol: String,
        chain: String,
        decimals: u8,
    },
    /// `token update` to a contract another token of the chain has.
    #[error(
        "{chain} already has another token with the contract {contract}: see `hub-cli token list`"
    )]
    ContractTaken { chain: String, contract: Address },
    /// `token remove` of a token that orders refer to.
    #[error(
        "{used} order(s) refer to {symbol} on {chain}: it cannot be removed (the orders' history needs it)"
    )]
    TokenReferenced {
        used: i64,
        symbol: String,
        chain: String,
    },
    /// A thread checking the address file's entries died (a bug).
    #[error("an address check thread failed")]
    CheckThreadFailed,
    /// The address file has the same address twice.
    #[error(
        "entry {entry} (index {index}): {address} is also entry {first}: the file is damaged; nothing was imported"
    )]
    DuplicateEntry {
        entry: usize,
        index: u32,
        address: Address,
        first: usize,
    },
    /// An entry of the address file fails its checks (`why`); `failed`
    /// entries fail in all.
    #[error(
        "entry {entry} (index {index}, path {path:?}): {why}{}. The whole file is refused and nothing was imported: \
         export the addresses again on the signer (`signer addresses --json`), and do not use a file \
         that was edited",
        failing_in_all(*.failed)
    )]
    EntryRefused {
        entry: usize,
        index: u32,
        path: String,
        why: String,
        failed: usize,
    },
    /// `address import --role deposit` without `--tenant`.
    #[error("deposit addresses belong to a tenant: give --tenant NAME")]
    DepositNeedsTenant,
    /// The address file cannot be read.
    #[error("cannot read {file}: {source}")]
    Unreadable {
        file: String,
        source: std::io::Error,
    },
    /// The deposit address file is not one (`why`).
    #[error("{file}: {why}")]
    BadDepositFile { file: String, why: String },
    /// `address import --role` names a role the hub does not know.
    #[error("role {role:?} is not one this hub knows: `cold` or `deposit`")]
    UnknownRole { role: String },
    /// `address import --tenant` of cold addresses.
    #[error("--tenant is for deposit addresses: cold addresses are the desk's own")]
    TenantForCold,
    /// The cold address file is not the signer's output (`why`).
    #[error("{file} is not `signer addresses --json` output: {why}")]
    NotSignerOutput { file: String, why: String },
    /// The cold address file's wallet fingerprint does not parse.
    #[error("{file}: {error}")]
    BadFingerprint {
        file: String,
        error: AddressProofError,
    },
    /// The cold address file is from a signer without proofs of possession.
    #[error(
        "{file} has no wallet fingerprint and no proofs of possession (a signer from before \
         proofs wrote it): export the addresses again with this version's `signer addresses --json`"
    )]
    NoProofs { file: String },
    /// A cold address is registered with another derivation path.
    #[error(
        "{address} is already registered with path {registered:?}, the file says {path:?}; nothing was imported: \
         export the addresses again on the signer of this wallet, or check that the file is its own"
    )]
    OtherPath {
        address: Address,
        registered: Option<String>,
        path: String,
    },
    /// A cold address is registered for another wallet than the file's.
    #[error(
        "{address} is registered as an address of wallet {registered}, and this file proves it for wallet {proven}; \
         nothing was imported: import only the addresses of the wallet that already holds them"
    )]
    OtherWallet {
        address: Address,
        registered: String,
        proven: String,
    },
    /// The witness node is the chain's own node: it would confirm nothing.
    #[error(
        "the witness {witness} is the chain's own node: a witness must be a second, independent node of the \
         same network (another provider or your own node), or none (`--no-witness`)"
    )]
    WitnessIsTheNode { witness: String },
    /// The witness node serves another chain id than the chain's.
    #[error(
        "the witness {witness} reports chain id {found}, but the chain has chain id {chain_id}: give a witness \
         of the same network, or none (`--no-witness`)"
    )]
    WitnessWrongChain {
        witness: String,
        found: u64,
        chain_id: u64,
    },
    /// The chain's node and its witness serve different networks under the
    /// same chain id (their genesis blocks differ).
    #[error(
        "the chain's node {node} has genesis block {node_genesis} and the witness {witness} {witness_genesis}: \
         they serve different networks under chain id {chain_id}; give a node and a witness of the same network"
    )]
    WitnessOtherNetwork {
        node: String,
        witness: String,
        chain_id: u64,
        node_genesis: String,
        witness_genesis: String,
    },
    /// A node of the chain or its witness answers that it has no block 0.
    #[error("the node at {node} has no block 0: is it fully started and synced?")]
    NoGenesis { node: String },
    /// `address list --balances` without `--chain`.
    #[error("--balances needs --chain NAME: balances come from that chain's node")]
    BalancesNeedChain,
    /// The node's answer to a `balanceOf` call is not a 32-byte word.
    #[error(
        "balanceOf on {contract} answered {bytes} bytes: is it an ERC-20 contract on {chain}?"
    )]
    BadBalanceAnswer {
        contract: Address,
        bytes: usize,
        chain: String,
    },
}

crate::error::operation_error!(SetupError);

impl OperationError for SetupError {
    fn kind(&self) -> ErrorKind {
        match self {
            Self::ChainUnchanged
            | Self::TokenUnchanged
            | Self::DepositNeedsTenant
            | Self::TenantForCold
            | Self::BalancesNeedChain
            | Self::WitnessIsTheNode { .. } => ErrorKind::Usage,
            Self::NotWei { .. }
            | Self::TooManyNativeDecimals
            | Self::NoContractCode { .. }
            | Self::DecimalsMismatch { .. }
            | Self::DecimalsUnknown { .. }
            | Self::TooManyDecimals
            | Self::NativeSymbol { .. }
            | Self::DuplicateEntry { .. }
            | Self::EntryRefused { .. }
            | Self::Unreadable { .. }
            | Self::BadDepositFile { .. }
            | Self::UnknownRole { .. }
            | Self::NotSignerOutput { .. }
            | Self::BadFingerprint { .. }
            | Self::NoProofs { .. } => ErrorKind::Input,
            Self::NoToken { .. } => ErrorKind::NotFound,
            Self::ChainInUse { .. }
            | Self::ChainTaken { .. }
            | Self::TokenTaken { .. }
            | Self::TokenInUse { .. }
            | Self::ContractTaken { .. }
            | Self::TokenReferenced { .. }
            | Self::OtherPath { .. }
            | Self::OtherWallet { .. } => ErrorKind::Conflict,
            Self::BadBalanceAnswer { .. }
            | Self::WitnessWrongChain { .. }
            | Self::WitnessOtherNetwork { .. }
            | Self::NoGenesis { .. } => ErrorKind::Node,
            Self::CheckThreadFailed => ErrorKind::Internal,
        }
    }
}

/// How many entries of an address file fail, when more than one does.
fn failing_in_all(failed: usize) -> String {
    if failed > 1 {
        format!(" ({failed} entries fail in all)")
    } else {
        String::new()
    }
}

/// `chain add` and `chain list`.
pub(crate) fn chain(ctx: &mut Ctx, cmd: ChainCmd) -> Result<()> {
    match cmd {
        ChainCmd::Add(a) => chain_add(ctx, a),
        ChainCmd::Update(u) => chain_update(ctx, u),
        ChainCmd::Remove { name } => chain_remove(ctx, &name),
        ChainCmd::List => {
            let chains = Chain::all(&mut ctx.db)?;
            // Whether the chain follower can see ETH moved by internal calls
            // (the node offers `trace_block`): not asked until `serve` ran.
            let mut internal = Vec::with_capacity(chains.len());
            for c in &chains {
                let v = store::internal_transfers(&mut ctx.db, c.id)?;
                internal.push(match v.as_deref() {
                    Some("trace_block") => "seen (trace_block)".to_owned(),
                    Some(_) => "NOT seen: the node offers no trace_block".to_owned(),
                    None => "not asked yet".to_owned(),
                });
            }
            let mut t = Table::new(&[
                "NAME",
                "CHAIN ID",
                "CONFIRMATIONS",
                "NATIVE",
                "RPC",
                "INTERNAL ETH",
            ]);
            let mut data = Vec::new();
            for (i, c) in chains.iter().enumerate() {
                t.row(vec![
                    c.name.clone(),
                    c.chain_id.to_string(),
                    c.confirmations.to_string(),
                    c.native_symbol.clone(),
                    redact(&c.rpc_url),
                    internal[i].clone(),
                ]);
                data.push(json!({
                    "name": c.name, "chain_id": c.chain_id, "confirmations": c.confirmations,
                    "native_symbol": c.native_symbol, "native_decimals": c.native_decimals,
                    "rpc": redact(&c.rpc_url),
                    "base_fee_multiplier_pct": c.fees.base_fee_multiplier_pct,
                    "priority_fee_multiplier_pct": c.fees.priority_fee_multiplier_pct,
                    "max_fee_cap": c.fees.max_fee_cap.map(|v| v.to_string()),
                    "priority_fee_cap": c.fees.priority_fee_cap.map(|v| v.to_string()),
                    "gas_margin_pct": c.fees.gas_margin_pct,
                    "witness_rpc": c.witness_rpc_url.as_deref().map(redact),
                    "internal_transfers": internal[i].clone(),
                }));
            }
            ctx.out.result(json!(data), &Output::table(&t));
            Ok(())
        }
    }
}

fn wei(s: Option<String>, what: &str) -> Result<Option<U256>> {
    s.map(|s| {
        U256::from_dec_str(&s).map_err(|_| {
            SetupError::NotWei {
                option: what.to_owned(),
                value: s,
            }
            .into()
        })
    })
    .transpose()
}

/// The unfinished batches of a chain, as "N (STATE)" for messages.
fn unfinished_batches(ctx: &mut Ctx, chain: i64) -> Result<Vec<String>> {
    Ok(store::unfinished_batches(&mut ctx.db, chain)?
        .into_iter()
        .map(|(id, state)| format!("{id} ({state})"))
        .collect())
}

/// Checks that `witness` can witness `chain`'s payouts: it is not the
/// chain's node (the same endpoint, see [`same_endpoint`]; that two
/// endpoints are two providers is the operator's to ensure), it serves the
/// chain id, and its genesis block is the chain's node's, so the two
/// follow the same network.
fn check_witness(chain: &Chain, node: &Rpc, witness: &str) -> Result<()> {
    if same_endpoint(witness, &chain.rpc_url) {
        return Err(SetupError::WitnessIsTheNode {
            witness: redact(witness),
        }
        .into());
    }
    let node_genesis = genesis_of(node)?;
    let unusable = |e: HubError| {
        e.with_hint(
            "the witness is checked whenever the chain's node or its witness changes: \
             give a witness that answers, or none (`--no-witness`)",
        )
    };
    let w = Rpc::new(witness);
    let id = w.chain_id().map_err(|e| unusable(e.into()))?;
    if id != chain.chain_id {
        return Err(SetupError::WitnessWrongChain {
            witness: w.display_url(),
            found: id,
            chain_id: chain.chain_id,
        }
        .into());
    }
    let witness_genesis = genesis_of(&w).map_err(unusable)?;
    if node_genesis != witness_genesis {
        return Err(SetupError::WitnessOtherNetwork {
            node: node.display_url(),
            witness: w.display_url(),
            chain_id: chain.chain_id,
            node_genesis: crate::rpc::hash_hex(node_genesis),
            witness_genesis: crate::rpc::hash_hex(witness_genesis),
        }
        .into());
    }
    Ok(())
}

/// Whether two node URLs name the same endpoint: the same scheme, host and
/// port (as the URL standard normalises them: case, default ports), path
/// (but a trailing `/`) and query. Credentials do not count: the same
/// endpoint under another user is the same node. Two names of one host
/// (`localhost` and `127.0.0.1`) are not recognised.
fn same_endpoint(a: &str, b: &str) -> bool {
    let key = |raw: &str| {
        url::Url::parse(raw.trim()).ok().map(|u| {
            (
                u.scheme().to_owned(),
                u.host_str().map(str::to_owned),
                u.port_or_known_default(),
                u.path().trim_end_matches('/').to_owned(),
                u.query().map(str::to_owned),
            )
        })
    };
    match (key(a), key(b)) {
        (Some(a), Some(b)) => a == b,
        _ => a.trim() == b.trim(),
    }
}

/// The hash of the node's block 0.
fn genesis_of(rpc: &Rpc) -> Result<B256> {
    rpc.block_hash(0)?.ok_or_else(|| {
        SetupError::NoGenesis {
            node: rpc.display_url(),
        }
        .into()
    })
}

/// `chain update`.
fn chain_update(ctx: &mut Ctx, u: ChainUpdate) -> Result<()> {
    let mut chain = Chain::by_name(&mut ctx.db, &u.name)?;
    let cap = |v: Option<String>, what: &str, old: Option<U256>| -> Result<Option<U256>> {
        match v.as_deref() {
            None => Ok(old),
            Some("none") => Ok(None),
            Some(_) => wei(v, what),
        }
    };
    let mut changed = Vec::new();
    // The new node, once checked, for the witness check below.
    let mut node = None;
    if let Some(rpc) = &u.rpc {
        chain.rpc_url = rpc.clone();
        node = Some(connect(&chain)?);
        changed.push(format!("node {}", redact(rpc)));
    }
    if let Some(w) = &u.witness_rpc {
        chain.witness_rpc_url = Some(w.clone());
        changed.push(format!("witness {}", redact(w)));
    }
    if u.no_witness {
        chain.witness_rpc_url = None;
        changed.push("no witness".to_owned());
    }
    // A new node or a new witness: the pair is checked again.
    if u.rpc.is_some() || u.witness_rpc.is_some() {
        if let Some(w) = &chain.witness_rpc_url {
            let node = match node {
                Some(n) => n,
                None => connect(&chain)?,
            };
            check_witness(&chain, &node, w)?;
        }
    }
    if let Some(c) = u.confirmations {
        chain.confirmations = c.max(1);
        changed.push(format!("{} confirmations", chain.confirmations));
    }
    let f = &mut chain.fees;
    if let Some(v) = u.base_fee_multiplier_pct {
        f.base_fee_multiplier_pct = v;
        changed.push(format!("base fee multiplier {v}%"));
    }
    if let Some(v) = u.priority_fee_multiplier_pct {
        f.priority_fee_multiplier_pct = v;
        changed.push(format!("priority fee multiplier {v}%"));
    }
    if u.max_fee_cap.is_some() {
        f.max_fee_cap = cap(u.max_fee_cap, "--max-fee-cap", f.max_fee_cap)?;
        changed.push("max fee cap".to_owned());
    }
    if u.priority_fee_cap.is_some() {
        f.priority_fee_cap = cap(u.priority_fee_cap, "--priority-fee-cap", f.priority_fee_cap)?;
        changed.push("priority fee cap".to_owned());
    }
    if let Some(v) = u.gas_margin_pct {
        f.gas_margin_pct = v;
        changed.push(format!("gas margin {v}%"));
    }
    if changed.is_empty() {
        return Err(SetupError::ChainUnchanged.into());
    }
    store::update_chain(&mut ctx.db, &chain)?;
    let open = unfinished_batches(ctx, chain.id)?;
    let note = if open.is_empty() {
        String::new()
    } else {
        format!(
            "\nunfinished batch {}: transactions already built keep their fees; a rebuild uses the new settings",
            open.join(", ")
        )
    };
    ctx.out.result(
        json!({"name": chain.name, "changed": changed}),
        &format!("chain {} updated: {}{note}", chain.name, changed.join(", ")),
    );
    Ok(())
}

/// `chain remove`: only a chain nothing refers to.
fn chain_remove(ctx: &mut Ctx, name: &str) -> Result<()> {
    let chain = Chain::by_name(&mut ctx.db, name)?;
    for (table, what) in [
        (ChainUser::Tokens, "token"),
        (ChainUser::Addresses, "address"),
        (ChainUser::Orders, "order"),
        (ChainUser::Batches, "batch"),
    ] {
        let n = store::rows_of_chain(&mut ctx.db, table, chain.id)?;
        if n > 0 {
            return Err(SetupError::ChainInUse {
                chain: name.to_owned(),
                rows: n,
                what,
            }
            .into());
        }
    }
    store::delete_chain(&mut ctx.db, chain.id)?;
    ctx.out.result(
        json!({"name": name, "removed": true}),
        &format!("chain {name} removed"),
    );
    Ok(())
}

/// `decimals()` of an ERC-20 contract, or why it cannot be read.
fn token_decimals(
    rpc: &crate::rpc::Rpc,
    contract: Address,
) -> Result<std::result::Result<u8, String>> {
    let Some(word) = rpc.call_view(contract, [0x31, 0x3c, 0xe5, 0x67])? else {
        return Ok(Err(format!("{contract} does not answer decimals()")));
    };
    if word.len() != 32 || word[..31].iter().any(|b| *b != 0) {
        return Ok(Err(format!(
            "{contract} answers decimals() with something that is not a uint8"
        )));
    }
    Ok(Ok(word[31]))
}

/// `symbol()` of an ERC-20 contract, as an ABI string or a bytes32, if it
/// answers one.
fn token_symbol(rpc: &crate::rpc::Rpc, contract: Address) -> Result<Option<String>> {
    let Some(data) = rpc.call_view(contract, [0x95, 0xd8, 0x9b, 0x41])? else {
        return Ok(None);
    };
    let word = |i: usize| data.get(i * 32..(i + 1) * 32);
    let as_usize = |w: &[u8]| {
        (w[..24].iter().all(|b| *b == 0))
            .then(|| u64::from_be_bytes(w[24..].try_into().unwrap_or_default()) as usize)
    };
    if data.len() == 32 {
        let text: Vec<u8> = data.iter().copied().take_while(|b| *b != 0).collect();
        return Ok(String::from_utf8(text).ok());
    }
    let text = (|| {
        let offset = as_usize(word(0)?)?;
        let len = as_usize(data.get(offset..offset + 32)?)?;
        String::from_utf8(data.get(offset + 32..offset + 32 + len)?.to_vec()).ok()
    })();
    Ok(text)
}

/// Checks a token against its contract: it has code, and its `decimals()`
/// is the one given (or gives it). Warns when `symbol()` differs.
fn check_token(
    ctx: &Ctx,
    chain: &Chain,
    symbol: &str,
    contract: Address,
    decimals: Option<u8>,
) -> Result<u8> {
    let rpc = connect(chain)?;
    if rpc.code(contract)?.is_empty() {
        return Err(SetupError::NoContractCode {
            contract,
            chain: chain.name.clone(),
        }
        .into());
    }
    let on_chain = token_decimals(&rpc, contract)?;
    let decimals = match (decimals, on_chain) {
        (Some(d), Ok(c)) if d != c => {
            return Err(SetupError::DecimalsMismatch {
                contract,
                on_chain: c,
                given: d,
            }
            .into())
        }
        (_, Ok(c)) => c,
        (Some(d), Err(why)) => {
            ctx.out
                .note(&format!("warning: {why}; using --decimals {d} as given"));
            d
        }
        (None, Err(why)) => return Err(SetupError::DecimalsUnknown { why }.into()),
    };
    if decimals > coldsign_core::amount::MAX_DECIMALS {
        return Err(SetupError::TooManyDecimals.into());
    }
    match token_symbol(&rpc, contract)? {
        Some(s) if !s.eq_ignore_ascii_case(symbol) => ctx.out.note(&format!(
            "warning: the contract {contract} calls itself {s:?}, not {symbol:?}: check that it is the right contract"
        )),
        _ => {}
    }
    Ok(decimals)
}

/// Unfinished orders of a token, for refusals.
fn open_orders_of(ctx: &mut Ctx, token: i64) -> Result<i64> {
    store::open_orders_of_token(&mut ctx.db, token)
}

fn chain_add(ctx: &mut Ctx, a: ChainAdd) -> Result<()> {
    if a.native_decimals > coldsign_core::amount::MAX_DECIMALS {
        return Err(SetupError::TooManyNativeDecimals.into());
    }
    let max_fee_cap = wei(a.max_fee_cap, "--max-fee-cap")?;
    let priority_fee_cap = wei(a.priority_fee_cap, "--priority-fee-cap")?;
    let chain = Chain {
        id: 0,
        name: a.name.clone(),
        chain_id: a.chain_id,
        rpc_url: a.rpc.clone(),
        confirmations: a.confirmations,
        native_symbol: a.native_symbol.clone(),
        native_decimals: a.native_decimals,
        fees: crate::fees::FeePolicy {
            base_fee_multiplier_pct: a.base_fee_multiplier_pct,
            priority_fee_multiplier_pct: a.priority_fee_multiplier_pct,
            max_fee_cap: None,
            priority_fee_cap: None,
            gas_margin_pct: a.gas_margin_pct,
        },
        witness_rpc_url: a.witness_rpc.clone(),
    };
    let node = connect(&chain)?;
    if let Some(w) = &chain.witness_rpc_url {
        check_witness(&chain, &node, w)?;
    }
    // As stored: at least one confirmation, and the fee caps given.
    let stored = Chain {
        confirmations: a.confirmations.max(1),
        fees: crate::fees::FeePolicy {
            max_fee_cap,
            priority_fee_cap,
            ..chain.fees
        },
        ..chain
    };
    match store::insert_chain(&mut ctx.db, &stored) {
        Ok(()) => {}
        Err(HubError::Db(DbError::Unique(_))) => {
            return Err(SetupError::ChainTaken {
                name: a.name,
                chain_id: a.chain_id,
            }
            .into())
        }
        Err(e) => return Err(e),
    }
    ctx.out.result(
        json!({"name": a.name, "chain_id": a.chain_id}),
        &format!("chain {} (chain id {}) added", a.name, a.chain_id),
    );
    Ok(())
}

/// `token add` and `token list`.
pub(crate) fn token(ctx: &mut Ctx, cmd: TokenCmd) -> Result<()> {
    match cmd {
        TokenCmd::Add {
            chain,
            symbol,
            contract,
            decimals,
        } => {
            let chain = Chain::by_name(&mut ctx.db, &chain)?;
            let contract = parse_address(&contract)?;
            if symbol == chain.native_symbol {
                return Err(SetupError::NativeSymbol {
                    symbol,
                    chain: chain.name,
                }
                .into());
            }
            let decimals = check_token(ctx, &chain, &symbol, contract, decimals)?;
            match store::insert_token(&mut ctx.db, chain.id, &symbol, contract, decimals) {
                Ok(()) => {}
                Err(HubError::Db(DbError::Unique(_))) => {
                    return Err(SetupError::TokenTaken {
                        chain: chain.name,
                        symbol,
                        contract,
                    }
                    .into())
                }
                Err(e) => return Err(e),
            }
            ctx.out.result(
                json!({"chain": chain.name, "symbol": symbol, "contract": contract, "decimals": decimals}),
                &format!("token {symbol} ({contract}, {decimals} decimals) added on {}", chain.name),
            );
            Ok(())
        }
        TokenCmd::Update {
            chain,
            symbol,
            contract,
            decimals,
        } => {
            let chain = Chain::by_name(&mut ctx.db, &chain)?;
            let token = Token::by_symbol(&mut ctx.db, chain.id, &symbol)?.ok_or_else(|| {
                SetupError::NoToken {
                    symbol: symbol.clone(),
                    chain: chain.name.clone(),
                }
            })?;
            if contract.is_none() && decimals.is_none() {
                return Err(SetupError::TokenUnchanged.into());
            }
            let open = open_orders_of(ctx, token.id)?;
            if open > 0 {
                return Err(SetupError::TokenInUse {
                    open,
                    symbol,
                    chain: chain.name,
                    decimals: token.decimals,
                }
                .into());
            }
            let contract = contract
                .map(|c| parse_address(&c))
                .transpose()?
                .unwrap_or(token.contract);
            let decimals = check_token(
                ctx,
                &chain,
                &symbol,
                contract,
                decimals.or(Some(token.decimals)),
            )?;
            match store::set_token_contract(&mut ctx.db, token.id, contract, decimals) {
                Err(HubError::Db(DbError::Unique(_))) => {
                    return Err(SetupError::ContractTaken {
                        chain: chain.name,
                        contract,
                    }
                    .into())
                }
                other => other?,
            };
            ctx.out.result(
                json!({"chain": chain.name, "symbol": symbol, "contract": contract, "decimals": decimals}),
                &format!("token {symbol} on {} is now {contract} with {decimals} decimals", chain.name),
            );
            Ok(())
        }
        TokenCmd::Remove { chain, symbol } => {
            let chain = Chain::by_name(&mut ctx.db, &chain)?;
            let token = Token::by_symbol(&mut ctx.db, chain.id, &symbol)?.ok_or_else(|| {
                SetupError::NoToken {
                    symbol: symbol.clone(),
                    chain: chain.name.clone(),
                }
            })?;
            let used = store::orders_of_token(&mut ctx.db, token.id)?;
            if used > 0 {
                return Err(SetupError::TokenReferenced {
                    used,
                    symbol,
                    chain: chain.name,
                }
                .into());
            }
            store::delete_token(&mut ctx.db, token.id)?;
            ctx.out.result(
                json!({"chain": chain.name, "symbol": symbol, "removed": true}),
                &format!("token {symbol} removed from {}", chain.name),
            );
            Ok(())
        }
        TokenCmd::List => {
            let tokens = Token::all(&mut ctx.db)?;
            let mut t = Table::new(&["CHAIN", "SYMBOL", "DECIMALS", "CONTRACT"]);
            let mut data = Vec::new();
            for tok in &tokens {
                let chain = Chain::by_id(&mut ctx.db, tok.chain)?;
                t.row(vec![
                    chain.name.clone(),
                    tok.symbol.clone(),
                    tok.decimals.to_string(),
                    tok.contract.to_string(),
                ]);
                data.push(json!({"chain": chain.name, "symbol": tok.symbol, "decimals": tok.decimals, "contract": tok.contract}));
            }
            ctx.out.result(json!(data), &Output::table(&t));
            Ok(())
        }
    }
}

/// Deposit addresses from a file: a signer export (each entry's public key
/// must give its address), or a JSON list of `{"address" | "public_key",
/// "reference"}`.
fn deposit_list(text: &str) -> std::result::Result<Vec<super::deposits::WatchInput>, String> {
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct Plain {
        #[serde(default)]
        address: Option<String>,
        #[serde(default)]
        public_key: Option<String>,
        /// An account xpub: `count` addresses from `start` on its
        /// external chain (`…/0/i`), derived here without any private key.
        #[serde(default)]
        xpub: Option<String>,
        #[serde(default)]
        start: Option<u32>,
        #[serde(default)]
        count: Option<u32>,
        #[serde(default)]
        reference: Option<String>,
    }
    let value: serde_json::Value =
        serde_json::from_str(text).map_err(|e| format!("not JSON: {e}"))?;
    let of_key = |key: &str| -> std::result::Result<Address, String> {
        let bytes = coldsign_core::hex_data::decode(key).map_err(|e| e.to_string())?;
        Address::from_sec1_public_key(&bytes).map_err(|e| e.to_string())
    };
    if value.is_array() {
        let rows: Vec<Plain> = serde_json::from_value(value).map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        for (n, r) in rows.into_iter().enumerate() {
            let Some(xpub) = &r.xpub else {
                out.push(r);
                continue;
            };
            if r.address.is_some() || r.public_key.is_some() {
                return Err(format!(
                    "entry {n}: an xpub entry has no address or public key of its own"
                ));
            }
            let count = r
                .count
                .ok_or_else(|| format!("entry {n}: an xpub needs a count"))?;
            if count == 0 || count > 100_000 {
                return Err(format!("entry {n}: count must be 1 to 100,000"));
            }
            let start = r.start.unwrap_or(0);
            let account: bip32::XPub = xpub
                .parse()
                .map_err(|e| format!("entry {n}: not an xpub: {e}"))?;
            let external = account
                .derive_child(bip32::ChildNumber::new(0, false).map_err(|e| e.to_string())?)
                .map_err(|e| format!("entry {n}: {e}"))?;
            for i in start..start.saturating_add(count) {
                let child = external
                    .derive_child(bip32::ChildNumber::new(i, false).map_err(|e| e.to_string())?)
                    .map_err(|e| format!("entry {n}: index {i}: {e}"))?;
                let address = Address::from_verifying_key(child.public_key());
                out.push(Plain {
                    address: Some(address.to_checksum()),
                    public_key: None,
                    xpub: None,
                    start: None,
                    count: None,
                    reference: Some(match &r.reference {
                        Some(p) => format!("{p}/{i}"),
                        None => format!("xpub/{i}"),
                    }),
                });
            }
        }
        return out
            .into_iter()
            .enumerate()
            .map(|(n, r)| {
                let address = match (r.address, r.public_key) {
                    (Some(a), None) => a,
                    (None, Some(k)) => of_key(&k)
                        .map_err(|e| format!("entry {n}: public key: {e}"))?
                        .to_checksum(),
                    (Some(a), Some(k)) => {
                        let derived =
                            of_key(&k).map_err(|e| format!("entry {n}: public key: {e}"))?;
                        if a.parse::<Address>().ok() != Some(derived) {
                            return Err(format!(
                                "entry {n}: the public key gives {derived}, not {a}"
                            ));
                        }
                        a
                    }
                    (None, None) => {
                        return Err(format!("entry {n}: give an address or a public key"))
                    }
                };
                Ok(super::deposits::WatchInput {
                    address,
                    reference: r.reference,
                })
            })
            .collect();
    }
    let parsed = parse_address_file(text)?;
    parsed
        .addresses
        .iter()
        .map(|e| {
            let derived = of_key(&e.public_key).map_err(|x| format!("{}: {x}", e.address))?;
            if e.address.parse::<Address>().ok() != Some(derived) {
                return Err(format!("{}: its public key gives {derived}", e.address));
            }
            Ok(super::deposits::WatchInput {
                address: e.address.clone(),
                reference: Some(e.path.clone()),
            })
        })
        .collect()
}

/// The address list, as `signer addresses --json` prints it inside its
/// envelope, or bare.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressFile {
    /// The account the addresses belong to (signer output only).
    #[serde(default)]
    #[allow(dead_code)]
    account: Option<u32>,
    /// The account-level xpub (signer output only).
    #[serde(default)]
    #[allow(dead_code)]
    xpub: Option<String>,
    /// The BIP32 fingerprint of the wallet, which every proof names
    /// (absent in files from a signer without proofs: refused).
    #[serde(default)]
    fingerprint: Option<String>,
    addresses: Vec<AddressEntry>,
}

/// `signer addresses --json` output: `{"schema_version":1,"success":true,"data":{…}}`.
#[derive(serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SignerEnvelope {
    schema_version: u32,
    success: bool,
    data: AddressFile,
}

/// Reads the signer's enveloped output, or the bare address list.
fn parse_address_file(text: &str) -> std::result::Result<AddressFile, String> {
    let value: serde_json::Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    if value.get("schema_version").is_some() {
        let envelope: SignerEnvelope = serde_json::from_value(value).map_err(|e| e.to_string())?;
        if envelope.schema_version != 1 || !envelope.success {
            return Err(format!(
                "expected a successful schema_version 1 envelope, found schema_version {} success {}",
                envelope.schema_version, envelope.success
            ));
        }
        return Ok(envelope.data);
    }
    serde_json::from_value(value).map_err(|e| e.to_string())
}

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct AddressEntry {
    index: u32,
    path: String,
    address: String,
    public_key: String,
    /// The proof of possession (absent in files from a signer without
    /// proofs: refused).
    #[serde(default)]
    proof: Option<String>,
}

/// An entry whose address, public key, path and proof were checked.
#[derive(Debug)]
struct CheckedAddress<'a> {
    address: Address,
    entry: &'a AddressEntry,
}

/// Checks one entry: the address (EIP-55), the public key gives it, the
/// path is a path, and the proof of possession verifies for the file's
/// wallet fingerprint, this path and this address.
fn check_entry<'a>(
    fingerprint: &WalletFingerprint,
    e: &'a AddressEntry,
) -> std::result::Result<CheckedAddress<'a>, String> {
    let address: Address = e.address.parse().map_err(|x: AddressError| x.to_string())?;
    let key = coldsign_core::hex_data::decode(&e.public_key).map_err(|x| x.to_string())?;
    let derived = Address::from_sec1_public_key(&key).map_err(|x| x.to_string())?;
    if derived != address {
        return Err(format!(
            "public key belongs to {derived}, not {address}: the file is damaged"
        ));
    }
    if !e.path.starts_with("m/") {
        return Err(format!("{:?} is not a derivation path", e.path));
    }
    let Some(proof) = &e.proof else {
        return Err("has no proof of possession".to_owned());
    };
    let proof: AddressProof = proof
        .parse()
        .map_err(|x: AddressProofError| x.to_string())?;
    proof
        .verify(fingerprint, &e.path, &address)
        .map_err(|x| format!("proof of possession does not verify: {x}"))?;
    Ok(CheckedAddress { address, entry: e })
}

/// Checks every entry, on all cores (a proof costs one public-key recovery:
/// 100,000 take seconds on one core). The whole file is refused if one
/// entry fails: the error names the first (and counts the others).
fn check_entries<'a>(
    fingerprint: &WalletFingerprint,
    entries: &'a [AddressEntry],
) -> Result<Vec<CheckedAddress<'a>>> {
    let threads = std::thread::available_parallelism()
        .map(std::num::NonZeroUsize::get)
        .unwrap_or(1)
        .clamp(1, 16);
    let chunk = entries.len().div_ceil(threads).max(1);
    let results: Vec<Vec<std::result::Result<CheckedAddress<'a>, String>>> =
        std::thread::scope(|scope| {
            let handles: Vec<_> = entries
                .chunks(chunk)
                .map(|part| {
                    scope.spawn(move || {
                        part.iter()
                            .map(|e| check_entry(fingerprint, e))
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            handles
                .into_iter()
                .map(|h| h.join().unwrap_or_default())
                .collect()
        });
    let results: Vec<_> = results.into_iter().flatten().collect();
    if results.len() != entries.len() {
        return Err(SetupError::CheckThreadFailed.into());
    }
    let failed = results.iter().filter(|r| r.is_err()).count();
    let mut checked = Vec::with_capacity(entries.len());
    let mut seen = std::collections::HashMap::new();
    for (n, r) in results.into_iter().enumerate() {
        match r {
            Ok(c) => {
                if let Some(first) = seen.insert(c.address, n) {
                    return Err(SetupError::DuplicateEntry {
                        entry: n,
                        index: c.entry.index,
                        address: c.address,
                        first,
                    }
                    .into());
                }
                checked.push(c);
            }
            Err(why) => {
                return Err(SetupError::EntryRefused {
                    entry: n,
                    index: entries[n].index,
                    path: entries[n].path.clone(),
                    why,
                    failed,
                }
                .into());
            }
        }
    }
    Ok(checked)
}

/// `address import` and `address list`.
pub(crate) fn address(ctx: &mut Ctx, cmd: AddressCmd) -> Result<()> {
    match cmd {
        AddressCmd::Import {
            file,
            chain,
            role,
            tenant,
        } => {
            if role == "deposit" {
                let tenant = tenant.ok_or(SetupError::DepositNeedsTenant)?;
                let text =
                    std::fs::read_to_string(&file).map_err(|source| SetupError::Unreadable {
                        file: file.display().to_string(),
                        source,
                    })?;
                let list = deposit_list(&text).map_err(|why| SetupError::BadDepositFile {
                    file: file.display().to_string(),
                    why,
                })?;
                let added = super::deposits::watch(&mut ctx.db, &chain, &tenant, &list)?;
                ctx.out.result(
                    json!({"chain": chain, "tenant": tenant, "role": "deposit", "added": added, "in_file": list.len()}),
                    &format!("{added} deposit address(es) of {tenant} added on {chain} ({} in the file)", list.len()),
                );
                return Ok(());
            }
            if role != "cold" {
                return Err(SetupError::UnknownRole { role }.into());
            }
            if tenant.is_some() {
                return Err(SetupError::TenantForCold.into());
            }
            let chain = Chain::by_name(&mut ctx.db, &chain)?;
            let text = std::fs::read_to_string(&file).map_err(|source| SetupError::Unreadable {
                file: file.display().to_string(),
                source,
            })?;
            let parsed = parse_address_file(&text).map_err(|why| SetupError::NotSignerOutput {
                file: file.display().to_string(),
                why,
            })?;
            let fingerprint: WalletFingerprint = match &parsed.fingerprint {
                Some(f) => {
                    f.parse()
                        .map_err(|error: AddressProofError| SetupError::BadFingerprint {
                            file: file.display().to_string(),
                            error,
                        })?
                }
                None => {
                    return Err(SetupError::NoProofs {
                        file: file.display().to_string(),
                    }
                    .into())
                }
            };
            let checked = check_entries(&fingerprint, &parsed.addresses)?;
            let fp_text = fingerprint.to_string();
            let (mut added, mut known, mut recorded) = (0u64, 0u64, 0u64);
            let role_ref = role.as_str();
            ctx.db.transaction(|db| {
                for c in &checked {
                    let (address, e) = (c.address, c.entry);
                    if let Some(existing) = AddressRow::find(db, chain.id, address)? {
                        if existing.derivation_path.as_deref() != Some(e.path.as_str()) {
                            return Err(SetupError::OtherPath {
                                address,
                                registered: existing.derivation_path,
                                path: e.path.clone(),
                            }
                            .into());
                        }
                        match existing.wallet_fingerprint.as_deref() {
                            Some(fp) if fp == fp_text => {}
                            Some(fp) => {
                                return Err(SetupError::OtherWallet {
                                    address,
                                    registered: fp.to_owned(),
                                    proven: fp_text.clone(),
                                }
                                .into())
                            }
                            None => {
                                // Imported before proofs: its wallet is now proven.
                                store::set_wallet_fingerprint(db, chain.id, address, &fp_text)?;
                                recorded += 1;
                            }
                        }
                        known += 1;
                        continue;
                    }
                    store::insert_address(
                        db,
                        chain.id,
                        address,
                        role_ref,
                        &e.path,
                        &e.public_key,
                        &fp_text,
                    )?;
                    added += 1;
                }
                Ok::<_, HubError>(())
            })?;
            let note = if recorded > 0 {
                format!("; wallet recorded for {recorded} address(es) imported before proofs")
            } else {
                String::new()
            };
            ctx.out.result(
                json!({"chain": chain.name, "wallet_fingerprint": fp_text, "added": added,
                       "already_known": known, "wallet_recorded": recorded}),
                &format!(
                    "{added} address(es) of wallet {fp_text} added on {}, {known} already known{note} \
                     (every proof of possession verified)",
                    chain.name
                ),
            );
            Ok(())
        }
        AddressCmd::List { chain, balances } => {
            let named = chain
                .as_deref()
                .map(|name| Chain::by_name(&mut ctx.db, name))
                .transpose()?;
            let chain_id = named.as_ref().map(|c| c.id);
            if balances && chain_id.is_none() {
                return Err(SetupError::BalancesNeedChain.into());
            }
            let rows = AddressRow::all(&mut ctx.db, chain_id)?;
            let chains: std::collections::HashMap<i64, Chain> = Chain::all(&mut ctx.db)?
                .into_iter()
                .map(|c| (c.id, c))
                .collect();
            let mut headers = vec!["CHAIN", "ADDRESS", "ROLE", "PATH"];
            let held = match (balances, &named) {
                (true, Some(chain)) => {
                    let tokens: Vec<Token> = Token::all(&mut ctx.db)?
                        .into_iter()
                        .filter(|t| t.chain == chain.id)
                        .collect();
                    let held = balances_of(chain, &tokens, &rows)?;
                    headers.push("BALANCES");
                    Some(held)
                }
                _ => None,
            };
            let mut t = Table::new(&headers);
            let mut data = Vec::new();
            for (n, a) in rows.iter().enumerate() {
                let name = chains
                    .get(&a.chain)
                    .map(|c| c.name.clone())
                    .unwrap_or_default();
                let mut row = vec![
                    name.clone(),
                    a.address.to_string(),
                    a.role.clone(),
                    a.derivation_path.clone().unwrap_or_default(),
                ];
                let mut entry = json!({"chain": name, "address": a.address, "role": a.role,
                    "path": a.derivation_path, "public_key": a.public_key,
                    "wallet_fingerprint": a.wallet_fingerprint});
                if let Some(held) = &held {
                    let list = &held[n];
                    row.push(
                        list.iter()
                            .map(|(sym, human, _)| format!("{human} {sym}"))
                            .collect::<Vec<_>>()
                            .join(", "),
                    );
                    entry["balances"] = json!(list
                        .iter()
                        .map(|(sym, human, units)| json!({"asset": sym, "amount": human, "amount_base_units": units}))
                        .collect::<Vec<_>>());
                }
                t.row(row);
                data.push(entry);
            }
            ctx.out.result(json!(data), &Output::table(&t));
            Ok(())
        }
    }
}

/// Native and token balances of `rows` on `chain`, asked in JSON-RPC batch
/// requests: per address, (symbol, amount in the asset's units, base units).
fn balances_of(
    chain: &Chain,
    tokens: &[Token],
    rows: &[AddressRow],
) -> Result<Vec<Vec<(String, String, String)>>> {
    let rpc = connect(chain)?;
    let mut queries: Vec<(Address, Option<Address>)> = Vec::new();
    for a in rows {
        queries.push((a.address, None));
        queries.extend(tokens.iter().map(|t| (a.address, Some(t.contract))));
    }
    let mut answers = rpc.balances(&queries)?.into_iter();
    let mut next = || -> Result<Balance> {
        Ok(answers
            .next()
            .ok_or_else(|| HubError::Internal("a balance is missing from the answer".into()))??)
    };
    let mut out = Vec::with_capacity(rows.len());
    for _ in rows {
        let mut list = Vec::with_capacity(1 + tokens.len());
        let Balance::Units(wei) = next()? else {
            return Err(HubError::Internal(
                "a native balance that is not a number".into(),
            ));
        };
        let native = coldsign_core::amount::format_units(wei, chain.native_decimals)
            .unwrap_or_else(|_| wei.to_string());
        list.push((chain.native_symbol.clone(), native, wei.to_string()));
        for t in tokens {
            let units = match next()? {
                Balance::Units(units) => units,
                Balance::NotAWord { bytes } => {
                    return Err(SetupError::BadBalanceAnswer {
                        contract: t.contract,
                        bytes,
                        chain: chain.name.clone(),
                    }
                    .into())
                }
            };
            let human = coldsign_core::amount::format_units(units, t.decimals)
                .unwrap_or_else(|_| units.to_string());
            list.push((t.symbol.clone(), human, units.to_string()));
        }
        out.push(list);
    }
    Ok(out)
}

#[cfg(test)]
mod deposit_list_tests {
    #![allow(clippy::unwrap_used)]
    use super::deposit_list;

    /// Deposit addresses from an account xpub are the wallet's own: the
    /// first addresses of anvil's public test mnemonic (fixtures/vectors).
    #[test]
    fn an_xpub_gives_the_wallets_addresses() {
        let seed =
            bip39::Mnemonic::parse("test test test test test test test test test test test junk")
                .unwrap()
                .to_seed("");
        let account =
            bip32::XPrv::derive_from_path(seed, &"m/44'/60'/0'".parse().unwrap()).unwrap();
        let xpub = account.public_key().to_string(bip32::Prefix::XPUB);
        let file =
            format!(r#"[{{"xpub": "{xpub}", "start": 1, "count": 2, "reference": "acct"}}]"#);
        let got = deposit_list(&file).unwrap();
        let addresses: Vec<&str> = got.iter().map(|w| w.address.as_str()).collect();
        assert_eq!(
            addresses,
            [
                "0x70997970C51812dc3A010C7d01b50e0d17dc79C8",
                "0x3C44CdDdB6a900fa2b585dd299e03d12FA4293BC"
            ]
        );
        assert_eq!(got[0].reference.as_deref(), Some("acct/1"));
        assert!(
            deposit_list(&format!(r#"[{{"xpub": "{xpub}"}}]"#)).is_err(),
            "a count is needed"
        );
        assert!(deposit_list(r#"[{"xpub": "xprvnotakey", "count": 1}]"#).is_err());
    }
}

#[cfg(test)]
mod tests {
    use super::{parse_address_file, SetupError};
    use crate::error::ErrorKind;
    use coldsign_core::Address;

    /// Every refusal of the setup commands, with the kind it had as a
    /// generic `HubError` (so its exit code and HTTP status are unchanged).
    fn every_error() -> Vec<(SetupError, ErrorKind)> {
        let a = Address([1; 20]);
        let s = |t: &str| t.to_owned();
        vec![
            (
                SetupError::NotWei {
                    option: s("--max-fee-cap"),
                    value: s("1 gwei"),
                },
                ErrorKind::Input,
            ),
            (SetupError::ChainUnchanged, ErrorKind::Usage),
            (
                SetupError::WitnessIsTheNode {
                    witness: s("http://127.0.0.1:8545"),
                },
                ErrorKind::Usage,
            ),
            (
                SetupError::WitnessWrongChain {
                    witness: s("http://127.0.0.1:8546"),
                    found: 5,
                    chain_id: 1,
                },
                ErrorKind::Node,
            ),
            (
                SetupError::WitnessOtherNetwork {
                    node: s("http://127.0.0.1:8545"),
                    witness: s("http://127.0.0.1:8546"),
                    chain_id: 1,
                    node_genesis: s("0x01"),
                    witness_genesis: s("0x02"),
                },
                ErrorKind::Node,
            ),
            (
                SetupError::NoGenesis {
                    node: s("http://127.0.0.1:8545"),
                },
                ErrorKind::Node,
            ),
            (
                SetupError::ChainInUse {
                    chain: s("anvil"),
                    rows: 2,
                    what: "token",
                },
                ErrorKind::Conflict,
            ),
            (SetupError::TooManyNativeDecimals, ErrorKind::Input),
            (
                SetupError::ChainTaken {
                    name: s("anvil"),
                    chain_id: 31337,
                },
                ErrorKind::Conflict,
            ),
            (
                SetupError::NoContractCode {
                    contract: a,
                    chain: s("anvil"),
                },
                ErrorKind::Input,
            ),
            (
                SetupError::DecimalsMismatch {
                    contract: a,
                    on_chain: 6,
                    given: 18,
                },
                ErrorKind::Input,
            ),
            (
                SetupError::DecimalsUnknown {
                    why: s("it does not answer decimals()"),
                },
                ErrorKind::Input,
            ),
            (SetupError::TooManyDecimals, ErrorKind::Input),
            (
                SetupError::NativeSymbol {
                    symbol: s("ETH"),
                    chain: s("anvil"),
                },
                ErrorKind::Input,
            ),
            (
                SetupError::TokenTaken {
                    chain: s("anvil"),
                    symbol: s("USDC"),
                    contract: a,
                },
                ErrorKind::Conflict,
            ),
            (
                SetupError::NoToken {
                    symbol: s("USDC"),
                    chain: s("anvil"),
                },
                ErrorKind::NotFound,
            ),
            (SetupError::TokenUnchanged, ErrorKind::Usage),
            (
                SetupError::TokenInUse {
                    open: 3,
                    symbol: s("USDC"),
                    chain: s("anvil"),
                    decimals: 6,
                },
                ErrorKind::Conflict,
            ),
            (
                SetupError::ContractTaken {
                    chain: s("anvil"),
                    contract: a,
                },
                ErrorKind::Conflict,
            ),
            (
                SetupError::TokenReferenced {
                    used: 3,
                    symbol: s("USDC"),
                    chain: s("anvil"),
                },
                ErrorKind::Conflict,
            ),
            (SetupError::CheckThreadFailed, ErrorKind::Internal),
            (
                SetupError::DuplicateEntry {
                    entry: 3,
                    index: 3,
                    address: a,
                    first: 1,
                },
                ErrorKind::Input,
            ),
            (
                SetupError::EntryRefused {
                    entry: 3,
                    index: 3,
                    path: s("m/44'/60'/0'/0/3"),
                    why: s("has no proof of possession"),
                    failed: 2,
                },
                ErrorKind::Input,
            ),
            (SetupError::DepositNeedsTenant, ErrorKind::Usage),
            (
                SetupError::Unreadable {
                    file: s("a.json"),
                    source: std::io::Error::other("gone"),
                },
                ErrorKind::Input,
            ),
            (
                SetupError::BadDepositFile {
                    file: s("a.json"),
                    why: s("not JSON"),
                },
                ErrorKind::Input,
            ),
            (SetupError::UnknownRole { role: s("hot") }, ErrorKind::Input),
            (SetupError::TenantForCold, ErrorKind::Usage),
            (
                SetupError::NotSignerOutput {
                    file: s("a.json"),
                    why: s("missing field"),
                },
                ErrorKind::Input,
            ),
            (
                SetupError::BadFingerprint {
                    file: s("a.json"),
                    error: "xyz"
                        .parse::<coldsign_core::address_proof::WalletFingerprint>()
                        .unwrap_err(),
                },
                ErrorKind::Input,
            ),
            (SetupError::NoProofs { file: s("a.json") }, ErrorKind::Input),
            (
                SetupError::OtherPath {
                    address: a,
                    registered: Some(s("m/44'/60'/0'/0/1")),
                    path: s("m/44'/60'/0'/0/2"),
                },
                ErrorKind::Conflict,
            ),
            (
                SetupError::OtherWallet {
                    address: a,
                    registered: s("16a93ed0"),
                    proven: s("0badf00d"),
                },
                ErrorKind::Conflict,
            ),
            (SetupError::BalancesNeedChain, ErrorKind::Usage),
            (
                SetupError::BadBalanceAnswer {
                    contract: a,
                    bytes: 0,
                    chain: s("anvil"),
                },
                ErrorKind::Node,
            ),
        ]
    }

    #[test]
    fn a_witness_endpoint_is_compared_as_the_url_standard_reads_it() {
        let same = [
            ("http://127.0.0.1:8545", "HTTP://127.0.0.1:8545/"),
            (
                "https://Node.Example/v3/Key",
                "https://node.example:443/v3/Key",
            ),
            (
                "https://user:pw@node.example/rpc",
                "https://node.example/rpc/",
            ),
        ];
        for (a, b) in same {
            assert!(super::same_endpoint(a, b), "{a} and {b} are one endpoint");
        }
        let different = [
            ("http://127.0.0.1:8545", "http://127.0.0.1:8546"),
            ("https://node.example/v3/KEY", "https://node.example/v3/key"),
            (
                "https://node.example/rpc?key=a",
                "https://node.example/rpc?key=b",
            ),
            ("http://node.example", "https://node.example"),
        ];
        for (a, b) in different {
            assert!(!super::same_endpoint(a, b), "{a} and {b} are two endpoints");
        }
    }

    #[test]
    fn each_setup_error_has_its_kind_through_the_hubs_error() {
        crate::error::testing::check_errors(every_error().into_iter().map(|(e, k)| (e, k, "")));
    }

    #[test]
    fn the_setup_refusals_say_what_to_do_next() {
        let a = Address([1; 20]);
        let mismatch = SetupError::DecimalsMismatch {
            contract: a,
            on_chain: 6,
            given: 18,
        };
        assert_eq!(
            mismatch.to_string(),
            format!(
                "the contract {a} says it has 6 decimals, not 18: with 18, every amount would be off \
                 by a factor of 10^12; give --decimals 6 (or leave it out)"
            )
        );
        for (error, says) in [
            (
                SetupError::NativeSymbol {
                    symbol: "ETH".into(),
                    chain: "anvil".into(),
                },
                "it needs no token entry",
            ),
            (
                SetupError::ContractTaken {
                    chain: "anvil".into(),
                    contract: a,
                },
                "see `hub-cli token list`",
            ),
            (
                SetupError::OtherPath {
                    address: a,
                    registered: Some("m/44'/60'/0'/0/1".into()),
                    path: "m/44'/60'/0'/0/2".into(),
                },
                "export the addresses again on the signer of this wallet",
            ),
            (
                SetupError::OtherWallet {
                    address: a,
                    registered: "16a93ed0".into(),
                    proven: "be0c4b3c".into(),
                },
                "import only the addresses of the wallet that already holds them",
            ),
        ] {
            let text = error.to_string();
            assert!(text.contains(says), "{text}");
        }
        let in_use = SetupError::ChainInUse {
            chain: "anvil".into(),
            rows: 2,
            what: "token",
        };
        assert!(
            in_use
                .to_string()
                .ends_with("correct it with `hub-cli chain update anvil`"),
            "{in_use}"
        );
        let refused = |failed| SetupError::EntryRefused {
            entry: 3,
            index: 4,
            path: "m/44'/60'/0'/0/4".into(),
            why: "has no proof of possession".into(),
            failed,
        };
        assert_eq!(
            refused(1).to_string(),
            "entry 3 (index 4, path \"m/44'/60'/0'/0/4\"): has no proof of possession. The whole file \
             is refused and nothing was imported: export the addresses again on the signer \
             (`signer addresses --json`), and do not use a file that was edited"
        );
        assert!(
            refused(5)
                .to_string()
                .contains("has no proof of possession (5 entries fail in all). The whole file"),
            "{}",
            refused(5)
        );
        let no_proofs = SetupError::NoProofs {
            file: "a.json".into(),
        };
        assert!(
            no_proofs.to_string().contains(
                "export the addresses again with this version's `signer addresses --json`"
            ),
            "{no_proofs}"
        );
        let token_in_use = SetupError::TokenInUse {
            open: 3,
            symbol: "USDC".into(),
            chain: "anvil".into(),
            decimals: 6,
        };
        assert!(
            token_in_use
                .to_string()
                .contains("with 6 decimals, so the token cannot change under them; finish or cancel them first"),
            "{token_in_use}"
        );
    }

    const ENTRY: &str = r#"{"index":0,"path":"m/44'/60'/0'/0/0","address":"0xf39Fd6e51aad88F6F4ce6aB8827279cffFb92266","public_key":"0x02"}"#;

    #[test]
    fn reads_signer_envelope_and_bare_list() {
        let enveloped = format!(
            r#"{{"schema_version":1,"success":true,"data":{{"account":0,"xpub":"x","addresses":[{ENTRY}]}}}}"#
        );
        assert_eq!(parse_address_file(&enveloped).unwrap().addresses.len(), 1);
        let bare = format!(r#"{{"addresses":[{ENTRY}]}}"#);
        assert_eq!(parse_address_file(&bare).unwrap().addresses.len(), 1);
    }

    #[test]
    fn refuses_other_envelopes_and_unknown_fields() {
        let future =
            format!(r#"{{"schema_version":2,"success":true,"data":{{"addresses":[{ENTRY}]}}}}"#);
        assert!(parse_address_file(&future).is_err());
        let failed =
            format!(r#"{{"schema_version":1,"success":false,"data":{{"addresses":[{ENTRY}]}}}}"#);
        assert!(parse_address_file(&failed).is_err());
        let extra = format!(r#"{{"addresses":[{ENTRY}],"note":1}}"#);
        assert!(parse_address_file(&extra).is_err());
    }

    #[test]
    fn every_proof_is_checked_and_one_failure_refuses_the_file() {
        use super::{check_entries, AddressEntry};
        use coldsign_core::{
            address_proof::{AddressProof, WalletFingerprint},
            Address,
        };
        let fp: WalletFingerprint = "16a93ed0".parse().unwrap();
        let entry = |seed: u8, index: u32, proof_fp: &WalletFingerprint| {
            let k = k256::ecdsa::SigningKey::from_slice(&[seed; 32]).unwrap();
            let a = Address::from_verifying_key(k.verifying_key());
            let path = format!("m/44'/60'/0'/0/{index}");
            let proof = AddressProof::sign(&k, proof_fp, &path, &a).unwrap();
            AddressEntry {
                index,
                path,
                address: a.to_checksum(),
                public_key: format!(
                    "0x{}",
                    hex::encode(k.verifying_key().to_encoded_point(true).as_bytes())
                ),
                proof: Some(proof.to_hex()),
            }
        };
        let good: Vec<AddressEntry> = (1..=40).map(|i| entry(i, u32::from(i), &fp)).collect();
        assert_eq!(check_entries(&fp, &good).unwrap().len(), 40);
        let other: WalletFingerprint = "0badf00d".parse().unwrap();
        let mut bad: Vec<AddressEntry> = (1..=40).map(|i| entry(i, u32::from(i), &fp)).collect();
        bad[33] = entry(34, 34, &other);
        let err = check_entries(&fp, &bad).unwrap_err().to_string();
        assert!(err.contains("entry 33 (index 34"), "{err}");
        assert!(err.contains("does not verify"), "{err}");
        bad[33].proof = None;
        let err = check_entries(&fp, &bad).unwrap_err().to_string();
        assert!(err.contains("has no proof of possession"), "{err}");
        let mut dup: Vec<AddressEntry> = (1..=3).map(|i| entry(i, u32::from(i), &fp)).collect();
        dup.push(entry(2, 2, &fp));
        let err = check_entries(&fp, &dup).unwrap_err().to_string();
        assert!(err.contains("is also entry 1"), "{err}");
    }
}
