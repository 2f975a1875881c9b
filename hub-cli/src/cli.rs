//! The command line, declared with clap.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// hub-cli: the online side of coldsign. Keeps orders, builds batches of
/// unsigned transactions for the cold signer, takes the signatures back,
/// broadcasts them and walks every order to a final state.
#[derive(Debug, Parser)]
#[command(
    name = "hub-cli",
    version = concat!(env!("CARGO_PKG_VERSION"), " (", env!("COLDSIGN_COMMIT"), ")"),
    after_help = "Examples:
  hub-cli migrate
  hub-cli chain add local --chain-id 31337 --rpc http://127.0.0.1:8545 --confirmations 2
  hub-cli address import addresses.json --chain local
  hub-cli order import orders.csv
  hub-cli batch create --chain local --all-pending --auto-build
  hub-cli batch export 1 --out /media/usb
  hub-cli batch upload 1 /media/usb/batch_1_20260131_signed.json
  hub-cli batch sync 1 --wait --timeout 600

Exit codes: 0 ok, 1 internal, 2 usage, 3 bad input, 4 not found, 5 conflict,
6 database, 7 node, 8 signature refused, 9 needs operator, 10 timeout."
)]
pub struct Cli {
    /// Database: a SQLite file path or a postgres:// URL [default: hub.db,
    /// or `database_url` of the configuration file].
    #[arg(long, global = true, env = "HUB_DATABASE_URL", hide_env_values = true)]
    pub(crate) db: Option<String>,
    /// Configuration file (TOML: `database_url`, `operator`, `rpc_timeout`)
    /// [default: ~/.config/coldsign/hub.toml when it exists]. Flags and
    /// environment variables override it.
    #[arg(long, global = true, env = "HUB_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,
    /// Seconds to wait for a node's answer before giving up on a request
    /// [default: 15, or `rpc_timeout` of the configuration file].
    #[arg(long, global = true, env = "HUB_RPC_TIMEOUT", value_name = "SECS")]
    pub(crate) rpc_timeout: Option<u64>,
    /// Print machine-readable JSON (`{"schema_version":1,"success":..,"data":..}`).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Operator name recorded with every state change (required by every
    /// command that changes state: this flag, HUB_OPERATOR, `operator` in the
    /// configuration file, or else the login name in USER).
    #[arg(long, global = true, env = "HUB_OPERATOR")]
    pub(crate) operator: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create or upgrade the database schema (a PostgreSQL database must
    /// exist first: `createdb`).
    #[command(after_help = "Examples:
  hub-cli migrate
  hub-cli --db postgres://hub@db.example/hub migrate")]
    Migrate,
    /// Chains and their nodes.
    #[command(subcommand)]
    Chain(ChainCmd),
    /// ERC-20 tokens.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Sending addresses.
    #[command(subcommand)]
    Address(AddressCmd),
    /// Withdrawal orders.
    #[command(subcommand)]
    Order(OrderCmd),
    /// Batches of cold-signed payments.
    #[command(subcommand)]
    Batch(BatchCmd),
    /// Run the hub as a service: the API for the front system, the batch
    /// supervisor and the callback dispatcher.
    #[command(after_help = "Examples:
  hub-cli serve
  hub-cli serve --listen 0.0.0.0:8080 --supervisor-interval 5
  HUB_DATABASE_URL=postgres://hub@db/hub hub-cli serve   # one of several processes

SIGTERM stops taking requests, finishes the current ones and exits.")]
    Serve(Serve),
    /// Deposits: the tenants' deposit addresses and what was paid to them.
    #[command(subcommand)]
    Deposit(DepositCmd),
    /// API keys for the front system.
    #[command(subcommand)]
    Apikey(ApikeyCmd),
    /// Callbacks to the front system.
    #[command(subcommand)]
    Callback(CallbackCmd),
    /// Print a shell completion script.
    #[command(after_help = "Examples:
  hub-cli completions bash > /etc/bash_completion.d/hub-cli
  hub-cli completions zsh > \"${fpath[1]}/_hub-cli\"
  hub-cli completions fish > ~/.config/fish/completions/hub-cli.fish")]
    Completions {
        /// The shell.
        shell: clap_complete::Shell,
    },
}

impl Cli {
    /// `--json` was given: results as the JSON envelope.
    pub fn json(&self) -> bool {
        self.json
    }

    /// The command is `serve`: the long-running service, which logs.
    pub fn is_serve(&self) -> bool {
        matches!(self.command, Command::Serve(_))
    }
}

impl Command {
    /// Whether the command only reads: it records no operator.
    pub(crate) fn is_read_only(&self) -> bool {
        match self {
            Self::Migrate | Self::Completions { .. } => true,
            Self::Serve(_) | Self::Apikey(_) | Self::Callback(_) => false,
            Self::Deposit(c) => matches!(c, DepositCmd::List { .. }),
            Self::Chain(c) => matches!(c, ChainCmd::List),
            Self::Token(c) => matches!(c, TokenCmd::List),
            Self::Address(c) => matches!(c, AddressCmd::List { .. }),
            Self::Order(c) => matches!(c, OrderCmd::List { .. } | OrderCmd::Show { .. }),
            Self::Batch(c) => matches!(c, BatchCmd::Show { .. } | BatchCmd::List),
        }
    }
}

/// `serve` options.
#[derive(Debug, Args)]
pub(crate) struct Serve {
    /// Address and port to listen on [default: 127.0.0.1:8080, or `listen`
    /// of the configuration file].
    #[arg(long, env = "HUB_LISTEN")]
    pub(crate) listen: Option<std::net::SocketAddr>,
    /// Seconds between the supervisor's rounds over the open batches.
    #[arg(long, default_value_t = 2)]
    pub(crate) supervisor_interval: u64,
    /// Attempts before a callback event is given up on (dead).
    #[arg(long, default_value_t = 12)]
    pub(crate) callback_attempts: u32,
    /// The largest request body, in MiB.
    #[arg(long, default_value_t = 64)]
    pub(crate) max_body_mib: usize,
}

/// `deposit` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum DepositCmd {
    /// Watch deposit addresses of a tenant (the hub never needs their keys).
    #[command(after_help = "Examples:
  hub-cli deposit watch --chain mainnet --tenant acme --reference user-17 0xB0B0b0B0B0B0B0b0B0B0B0b0b0b0b0B0b0b0B0B0")]
    Watch {
        /// Chain name.
        #[arg(long)]
        chain: String,
        /// The tenant the addresses belong to.
        #[arg(long)]
        tenant: String,
        /// The tenant's user or account reference for these addresses.
        #[arg(long)]
        reference: Option<String>,
        /// The addresses.
        #[arg(required = true)]
        addresses: Vec<String>,
    },
    /// List deposits found by the chain follower of `hub-cli serve`.
    #[command(after_help = "Examples:
  hub-cli deposit list
  hub-cli deposit list --chain mainnet --state CONFIRMED --since 2026-12-01T00:00:00Z
  hub-cli deposit list --address 0xB0B0b0B0B0B0B0b0B0B0B0b0b0b0b0B0b0b0B0B0 --json")]
    List {
        /// Only this chain.
        #[arg(long)]
        chain: Option<String>,
        /// Only to this address.
        #[arg(long)]
        address: Option<String>,
        /// Only in this state: SEEN, CONFIRMED or REORGED.
        #[arg(long)]
        state: Option<String>,
        /// Only recorded since this time: RFC 3339 with a zone, or a date
        /// (its midnight UTC).
        #[arg(long)]
        since: Option<String>,
    },
}

/// `apikey` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ApikeyCmd {
    /// Create an API key for a tenant; it is shown once.
    #[command(after_help = "Examples:
  hub-cli apikey create --tenant acme --scope orders:write,orders:read
  hub-cli apikey create --tenant acme --scope orders:read,batches:operate --key-operator acme-ops --json

Scopes: orders:write, orders:read, batches:operate, addresses:write.")]
    Create {
        /// The tenant (front system) the key acts for.
        #[arg(long)]
        tenant: String,
        /// Comma-separated scopes.
        #[arg(long)]
        scope: String,
        /// Operator name recorded with the key's changes [default: api:TENANT].
        #[arg(long)]
        key_operator: Option<String>,
    },
}

/// `callback` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum CallbackCmd {
    /// Set where a tenant's callbacks go and the secret that signs them.
    #[command(after_help = "Examples:
  openssl rand -hex 32 > acme.secret
  hub-cli callback set --tenant acme --url https://acme.example/coldsign --secret-file acme.secret")]
    Set {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// The receiver's URL.
        #[arg(long)]
        url: String,
        /// A file holding the secret (at least 16 bytes; never on the command line).
        #[arg(long)]
        secret_file: PathBuf,
    },
    /// Send a tenant's dead callback events again (or every event from one on).
    #[command(after_help = "Examples:
  hub-cli callback replay --tenant acme
  hub-cli callback replay --tenant acme --since-event 1200")]
    Replay {
        /// The tenant.
        #[arg(long)]
        tenant: String,
        /// Every event from this event id on, delivered or not.
        #[arg(long)]
        since_event: Option<i64>,
    },
}

/// `chain` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ChainCmd {
    /// Register a chain (the node must answer with the same chain id).
    #[command(after_help = "Examples:
  hub-cli chain add mainnet --chain-id 1 --rpc https://node.example --confirmations 12")]
    Add(ChainAdd),
    /// Correct a chain's node, witness, confirmations or fee settings. A
    /// new node must serve the same chain id; built transactions keep their
    /// fees (a rebuild uses the new settings).
    #[command(after_help = "Examples:
  hub-cli chain update mainnet --rpc https://other-node.example
  hub-cli chain update mainnet --confirmations 20 --max-fee-cap 200000000000
  hub-cli chain update mainnet --witness-rpc https://witness.example
  hub-cli chain update mainnet --no-witness")]
    Update(ChainUpdate),
    /// Remove a chain nothing refers to (no token, address, order or batch).
    #[command(after_help = "Examples:
  hub-cli chain remove sepolia")]
    Remove {
        /// The chain's name.
        name: String,
    },
    /// List chains.
    #[command(after_help = "Examples:
  hub-cli chain list
  hub-cli chain list --json")]
    List,
}

/// `chain update`: only what is given changes.
#[derive(Debug, Args)]
pub(crate) struct ChainUpdate {
    /// The chain's name.
    pub(crate) name: String,
    /// New JSON-RPC URL of the node.
    #[arg(long)]
    pub(crate) rpc: Option<String>,
    /// New witness node.
    #[arg(long, value_name = "URL", conflicts_with = "no_witness")]
    pub(crate) witness_rpc: Option<String>,
    /// Stop using a witness node.
    #[arg(long)]
    pub(crate) no_witness: bool,
    /// Blocks needed before a payment is final.
    #[arg(long)]
    pub(crate) confirmations: Option<u64>,
    /// Max fee = base fee x this / 100 + priority fee.
    #[arg(long)]
    pub(crate) base_fee_multiplier_pct: Option<u64>,
    /// Priority fee = suggestion x this / 100.
    #[arg(long)]
    pub(crate) priority_fee_multiplier_pct: Option<u64>,
    /// Cap on the max fee per gas, in wei (`none` removes it).
    #[arg(long)]
    pub(crate) max_fee_cap: Option<String>,
    /// Cap on the priority fee per gas, in wei (`none` removes it).
    #[arg(long)]
    pub(crate) priority_fee_cap: Option<String>,
    /// Gas limit = estimate x this / 100.
    #[arg(long)]
    pub(crate) gas_margin_pct: Option<u64>,
}

/// `chain add`.
#[derive(Debug, Args)]
pub(crate) struct ChainAdd {
    /// Name used by other commands.
    pub(crate) name: String,
    /// EIP-155 chain id.
    #[arg(long)]
    pub(crate) chain_id: u64,
    /// JSON-RPC URL of the node.
    #[arg(long)]
    pub(crate) rpc: String,
    /// Blocks needed before a payment is final.
    #[arg(long, default_value_t = 12)]
    pub(crate) confirmations: u64,
    /// Symbol of the native coin.
    #[arg(long, default_value = "ETH")]
    pub(crate) native_symbol: String,
    /// Decimals of the native coin.
    #[arg(long, default_value_t = 18)]
    pub(crate) native_decimals: u8,
    /// Max fee = base fee x this / 100 + priority fee.
    #[arg(long, default_value_t = 200)]
    pub(crate) base_fee_multiplier_pct: u64,
    /// Priority fee = suggestion x this / 100.
    #[arg(long, default_value_t = 100)]
    pub(crate) priority_fee_multiplier_pct: u64,
    /// Cap on the max fee per gas, in wei.
    #[arg(long)]
    pub(crate) max_fee_cap: Option<String>,
    /// Cap on the priority fee per gas, in wei.
    #[arg(long)]
    pub(crate) priority_fee_cap: Option<String>,
    /// Gas limit = estimate x this / 100.
    #[arg(long, default_value_t = 120)]
    pub(crate) gas_margin_pct: u64,
    /// A second, independent node of the same chain: an item is DISBURSED
    /// only once both nodes show the same receipt in the same canonical block.
    #[arg(long, value_name = "URL")]
    pub(crate) witness_rpc: Option<String>,
}

/// `token` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum TokenCmd {
    /// Register an ERC-20 token on a chain.
    #[command(after_help = "Examples:
  hub-cli token add --chain mainnet --symbol USDT --contract 0xdAC17F958D2ee523a2206206994597C13D831ec7 --decimals 6")]
    Add {
        /// Chain name.
        #[arg(long)]
        chain: String,
        /// Symbol used in orders.
        #[arg(long)]
        symbol: String,
        /// Contract address.
        #[arg(long)]
        contract: String,
        /// Decimals: checked against the contract's `decimals()`; read from
        /// it when omitted.
        #[arg(long)]
        decimals: Option<u8>,
    },
    /// Correct a token's contract or decimals (refused while an unfinished
    /// order uses it: its amounts are stored in base units).
    #[command(after_help = "Examples:
  hub-cli token update --chain mainnet --symbol USDT --decimals 6
  hub-cli token update --chain mainnet --symbol USDT --contract 0xdAC17F958D2ee523a2206206994597C13D831ec7")]
    Update {
        /// Chain name.
        #[arg(long)]
        chain: String,
        /// The token's symbol.
        #[arg(long)]
        symbol: String,
        /// New contract address.
        #[arg(long)]
        contract: Option<String>,
        /// New decimals (checked against the contract).
        #[arg(long)]
        decimals: Option<u8>,
    },
    /// Remove a token no order uses.
    #[command(after_help = "Examples:
  hub-cli token remove --chain mainnet --symbol USDT")]
    Remove {
        /// Chain name.
        #[arg(long)]
        chain: String,
        /// The token's symbol.
        #[arg(long)]
        symbol: String,
    },
    /// List tokens.
    #[command(after_help = "Examples:
  hub-cli token list
  hub-cli token list --json")]
    List,
}

/// `address` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum AddressCmd {
    /// Register addresses from `signer addresses --json` output.
    #[command(after_help = "Examples:
  hub-cli address import addresses.json --chain mainnet

The file: {\"addresses\":[{\"index\":0,\"path\":\"m/44'/60'/0'/0/0\",\"address\":\"0x…\",\"public_key\":\"0x02…\"}]}")]
    Import {
        /// The JSON file.
        file: PathBuf,
        /// Chain name.
        #[arg(long)]
        chain: String,
        /// Role of the addresses: `cold` (a signer export with proofs) or
        /// `deposit` (a signer export, or a JSON list of `{"address" |
        /// "public_key", "reference"}`: the hub never needs their keys).
        #[arg(long, default_value = "cold")]
        role: String,
        /// The tenant deposit addresses belong to (with `--role deposit`).
        #[arg(long)]
        tenant: Option<String>,
    },
    /// List addresses.
    #[command(after_help = "Examples:
  hub-cli address list
  hub-cli address list --chain mainnet --json
  hub-cli address list --chain mainnet --balances   # what each cold address holds")]
    List {
        /// Only this chain.
        #[arg(long)]
        chain: Option<String>,
        /// Ask the chain's node for each address's native and token balances.
        #[arg(long, requires = "chain")]
        balances: bool,
    },
}

/// `order` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum OrderCmd {
    /// Import orders from CSV: `order_id,chain,asset,from,to,amount`.
    #[command(after_help = "Examples:
  hub-cli order import orders.csv

The file is UTF-8 CSV (a byte order mark is fine; cells may be quoted and are
trimmed). The amount is a plain decimal in the asset's units (1.5 ETH, 20.25
USDT; no thousands separators). All lines or none: every bad line is reported
with its number, the header being line 1.")]
    Import {
        /// The CSV file, with a header line.
        file: PathBuf,
    },
    /// Add one order.
    #[command(after_help = "Examples:
  hub-cli order add --id w-1 --chain mainnet --asset ETH --from 0x… --to 0x… --amount 0.5")]
    Add {
        /// Order id.
        #[arg(long)]
        id: String,
        /// Chain name.
        #[arg(long)]
        chain: String,
        /// Asset: the native symbol or a registered token.
        #[arg(long)]
        asset: String,
        /// Sending address.
        #[arg(long)]
        from: String,
        /// Recipient.
        #[arg(long)]
        to: String,
        /// Amount in the asset's units.
        #[arg(long)]
        amount: String,
    },
    /// List orders (held ones show as `PENDING (held)`); the filters
    /// combine.
    #[command(after_help = "Examples:
  hub-cli order list
  hub-cli order list --state PENDING --chain mainnet
  hub-cli order list --state HELD
  hub-cli order list --since 2026-01-31T00:00:00Z
  hub-cli order list --batch 7 --state FAILED")]
    List {
        /// Only orders in this state: PENDING, HELD (the PENDING orders on
        /// hold), IN_BATCH, COMPLETED, FAILED.
        #[arg(long)]
        state: Option<String>,
        /// Only orders on this chain.
        #[arg(long, value_name = "NAME")]
        chain: Option<String>,
        /// Only orders created at or after this time: RFC 3339
        /// (2026-01-31T09:00:00Z, 2026-01-31T10:00:00+01:00) or a date
        /// (2026-01-31, midnight UTC).
        #[arg(long, value_name = "TIME")]
        since: Option<String>,
        /// Only orders that have an item in this batch.
        #[arg(long, value_name = "ID")]
        batch: Option<i64>,
    },
    /// What each cold address lacks to pay its pending orders, from the
    /// node's balances: plan the funding before a build.
    #[command(after_help = "Examples:
  hub-cli order plan --chain mainnet
  hub-cli order plan --chain mainnet --json

Fees are estimated at today's max fee per gas: 21,000 gas per native
payment, the chain's gas margin on 65,000 per token payment.")]
    Plan {
        /// Chain name.
        #[arg(long)]
        chain: String,
    },
    /// Show an order with its history.
    #[command(after_help = "Examples:
  hub-cli order show w-1")]
    Show {
        /// Order id.
        id: String,
    },
    /// Keep a PENDING order out of new batches until it is released: `batch
    /// create --all-pending` leaves it out and `--orders` refuses it.
    #[command(after_help = "Examples:
  hub-cli order hold w-1 --reason \"customer asked to wait\"
  hub-cli order release w-1")]
    Hold {
        /// Order id.
        id: String,
        /// Why, recorded in the order's history.
        #[arg(long)]
        reason: Option<String>,
    },
    /// Let a held order go in batches again.
    #[command(after_help = "Examples:
  hub-cli order release w-1
  hub-cli batch create --chain mainnet --all-pending --auto-build   # takes w-1 again")]
    Release {
        /// Order id.
        id: String,
    },
    /// Abandon a PENDING order. An order whose transaction already left the
    /// hub is bound to its nonce: its next batch carries its void (a 0-value
    /// transfer from the sender to itself at that nonce), and once the void
    /// is mined the order is FAILED and no signed version of it can be mined.
    #[command(after_help = "Examples:
  hub-cli order cancel w-1
  hub-cli batch create --chain mainnet --all-pending --auto-build   # carries the void of w-1")]
    Cancel {
        /// Order id.
        id: String,
    },
}

/// `batch` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum BatchCmd {
    /// Create a batch of pending orders (prints the batch id).
    #[command(after_help = "Examples:
  hub-cli batch create --chain mainnet --all-pending --auto-build
  hub-cli batch create --chain mainnet --orders w-1,w-2
  hub-cli batch create --chain mainnet --tenant acme --all-pending")]
    Create {
        /// Chain name.
        #[arg(long)]
        chain: String,
        /// Batch this tenant's orders (a front system's, sent through the
        /// service) instead of the desk's own: the batch is the tenant's,
        /// its key sees it and its callbacks report it.
        #[arg(long)]
        tenant: Option<String>,
        /// Order ids, comma-separated.
        #[arg(
            long,
            value_delimiter = ',',
            conflicts_with = "all_pending",
            required_unless_present = "all_pending"
        )]
        orders: Vec<String>,
        /// Every pending order on the chain from a cold address.
        #[arg(long)]
        all_pending: bool,
        /// Build right after creating.
        #[arg(long)]
        auto_build: bool,
    },
    /// Build the unsigned transactions.
    #[command(after_help = "Examples:
  hub-cli batch build 3
  hub-cli batch build 3 --force   # after export: keeps every nonce, voids the old file")]
    Build {
        /// Batch id.
        id: i64,
        /// Rebuild a batch whose unsigned file was already exported: every
        /// nonce is kept and the old file is void (its signed answer is
        /// refused at upload).
        #[arg(long)]
        force: bool,
    },
    /// Take orders out of a NEW or BLOCKED batch, back to pending.
    #[command(after_help = "Examples:
  hub-cli batch drop 3 w-17
  hub-cli batch drop 3 w-17 w-18 w-19
  hub-cli batch drop 3 --build-errors   # every BUILD_ERROR order")]
    #[command(group(clap::ArgGroup::new("which").required(true).args(["orders", "build_errors"])))]
    Drop {
        /// Batch id.
        id: i64,
        /// Order ids.
        orders: Vec<String>,
        /// Every order of the batch that is BUILD_ERROR.
        #[arg(long)]
        build_errors: bool,
    },
    /// Write the unsigned file `batch_<ID>_<YYYYMMDD>_unsigned.json`.
    #[command(after_help = "Examples:
  hub-cli batch export 3 --out /media/usb

The directory must exist (a USB stick that is not mounted is refused).")]
    Export {
        /// Batch id.
        id: i64,
        /// Directory to write to.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Verify a signed file and, unless --no-send, broadcast it.
    #[command(after_help = "Examples:
  hub-cli batch upload 3 /media/usb/batch_3_20261201_signed.json
  hub-cli batch upload 3 /media/usb/batch_3_20261201_signed.json --no-send")]
    Upload {
        /// Batch id.
        id: i64,
        /// The signed file.
        file: PathBuf,
        /// Only accept the file; send later with `batch send`.
        #[arg(long)]
        no_send: bool,
    },
    /// Broadcast the signed transactions waiting to go out.
    #[command(after_help = "Examples:
  hub-cli batch send 3")]
    Send {
        /// Batch id.
        id: i64,
    },
    /// Follow receipts and confirmations; detect failures and lingering.
    #[command(after_help = "Examples:
  hub-cli batch sync 3
  hub-cli batch sync 3 --wait --timeout 600
  hub-cli batch sync --all   # every open batch, e.g. from cron")]
    #[command(group(clap::ArgGroup::new("which").required(true).args(["id", "all"])))]
    Sync {
        /// Batch id.
        id: Option<i64>,
        /// Every batch that has been sent and is not CLOSED.
        #[arg(long)]
        all: bool,
        /// Loop until CLOSED or an operator is needed.
        #[arg(long)]
        wait: bool,
        /// Give up waiting after this many seconds.
        #[arg(long, default_value_t = 3600)]
        timeout: u64,
        /// Seconds between rounds when waiting.
        #[arg(long, default_value_t = 2)]
        interval: u64,
    },
    /// Re-examine LINGERING orders; the undetermined go to READY_TO_RESEND.
    #[command(after_help = "Examples:
  hub-cli batch check 3")]
    Check {
        /// Batch id.
        id: i64,
    },
    /// Resolve a BROADCAST_ERROR order.
    #[command(after_help = "Examples:
  hub-cli batch resolve 3 w-17 --on-chain
  hub-cli batch resolve 3 w-17 --on-chain --tx-hash 0x… --block 19000000
  hub-cli batch resolve 3 w-17 --resend
  hub-cli batch resolve 3 w-17 --rebuild")]
    #[command(group(clap::ArgGroup::new("how").required(true).args(["on_chain", "resend", "rebuild"])))]
    Resolve {
        /// Batch id.
        id: i64,
        /// Order id.
        order: String,
        /// The transaction did land.
        #[arg(long)]
        on_chain: bool,
        /// Hash of the landed transaction (default: the signed one's).
        #[arg(long, requires = "on_chain")]
        tx_hash: Option<String>,
        /// Block it landed in.
        #[arg(long, requires = "on_chain")]
        block: Option<u64>,
        /// The node was at fault: send again.
        #[arg(long)]
        resend: bool,
        /// Can never work as signed: fail it and return the order to pending.
        #[arg(long)]
        rebuild: bool,
    },
    /// Send every READY_TO_RESEND order again.
    #[command(after_help = "Examples:
  hub-cli batch resend 3")]
    Resend {
        /// Batch id.
        id: i64,
    },
    /// Cancel a batch that has no accepted signed file; its orders return to pending.
    #[command(after_help = "Examples:
  hub-cli batch cancel 3")]
    Cancel {
        /// Batch id.
        id: i64,
    },
    /// Show a batch and its orders.
    #[command(after_help = "Examples:
  hub-cli batch show 3
  hub-cli batch show 3 --state BUILD_ERROR
  hub-cli batch show 3 --json")]
    Show {
        /// Batch id.
        id: i64,
        /// Only the orders in this state (SELECTED, TX_BUILT, BUILD_ERROR, ...).
        #[arg(long)]
        state: Option<String>,
    },
    /// List batches.
    #[command(after_help = "Examples:
  hub-cli batch list
  hub-cli batch list --json")]
    List,
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    /// Every command, down to the leaves, has an "Examples:" block in its
    /// `--help`.
    #[test]
    fn every_command_has_examples() {
        fn walk(cmd: &clap::Command, path: &str, missing: &mut Vec<String>) {
            let path = format!("{path} {}", cmd.get_name());
            let leaf = cmd.get_subcommands().next().is_none();
            if leaf && cmd.get_name() != "help" {
                let help = cmd
                    .get_after_help()
                    .map(|h| h.to_string())
                    .unwrap_or_default();
                if !help.contains("Examples:") {
                    missing.push(path.clone());
                }
            }
            for sub in cmd.get_subcommands() {
                walk(sub, &path, missing);
            }
        }
        let mut missing = Vec::new();
        walk(&Cli::command(), "", &mut missing);
        assert!(missing.is_empty(), "commands without examples: {missing:?}");
    }
}
