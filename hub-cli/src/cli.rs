//! The command line, declared with clap.

use clap::{Args, Parser, Subcommand};
use std::path::PathBuf;

/// hub-cli: the online side of coldsign. Keeps orders, builds batches of
/// unsigned transactions for the cold signer, takes the signatures back,
/// broadcasts them and walks every order to a final state.
#[derive(Debug, Parser)]
#[command(
    name = "hub-cli",
    version,
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
pub(crate) struct Cli {
    /// Database: a SQLite file path or a postgres:// URL.
    #[arg(
        long,
        global = true,
        env = "HUB_DATABASE_URL",
        hide_env_values = true,
        default_value = "hub.db"
    )]
    pub(crate) db: String,
    /// Print machine-readable JSON (`{"schema_version":1,"success":..,"data":..}`).
    #[arg(long, global = true)]
    pub(crate) json: bool,
    /// Operator name recorded with every state change.
    #[arg(long, global = true, env = "HUB_OPERATOR")]
    pub(crate) operator: Option<String>,
    /// The command.
    #[command(subcommand)]
    pub(crate) command: Command,
}

/// The commands.
#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Create or upgrade the database schema.
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
}

/// `chain` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum ChainCmd {
    /// Register a chain (the node must answer with the same chain id).
    #[command(after_help = "Examples:
  hub-cli chain add mainnet --chain-id 1 --rpc https://node.example --confirmations 12")]
    Add(ChainAdd),
    /// List chains.
    List,
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
        /// Decimals.
        #[arg(long)]
        decimals: u8,
    },
    /// List tokens.
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
        /// Role of the addresses.
        #[arg(long, default_value = "cold")]
        role: String,
    },
    /// List addresses.
    List {
        /// Only this chain.
        #[arg(long)]
        chain: Option<String>,
    },
}

/// `order` subcommands.
#[derive(Debug, Subcommand)]
pub(crate) enum OrderCmd {
    /// Import orders from CSV: `order_id,chain,asset,from,to,amount`.
    #[command(after_help = "Examples:
  hub-cli order import orders.csv

The amount is a decimal string in the asset's units (1.5 ETH, 20.25 USDT).")]
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
    /// List orders.
    List {
        /// Only orders in this state (PENDING, IN_BATCH, COMPLETED, FAILED).
        #[arg(long)]
        state: Option<String>,
    },
    /// Show an order with its history.
    Show {
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
  hub-cli batch create --chain mainnet --orders w-1,w-2")]
    Create {
        /// Chain name.
        #[arg(long)]
        chain: String,
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
    Build {
        /// Batch id.
        id: i64,
        /// Rebuild a batch whose unsigned file was already exported: every
        /// nonce is kept and the old file is void (its signed answer is
        /// refused at upload).
        #[arg(long)]
        force: bool,
    },
    /// Take an order out of a NEW or BLOCKED batch, back to pending.
    Drop {
        /// Batch id.
        id: i64,
        /// Order id.
        order: String,
    },
    /// Write the unsigned file `batch_<ID>_<YYYYMMDD>_unsigned.json`.
    Export {
        /// Batch id.
        id: i64,
        /// Directory to write to.
        #[arg(long, default_value = ".")]
        out: PathBuf,
    },
    /// Verify a signed file and, unless --no-send, broadcast it.
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
    Send {
        /// Batch id.
        id: i64,
    },
    /// Follow receipts and confirmations; detect failures and lingering.
    Sync {
        /// Batch id.
        id: i64,
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
    Resend {
        /// Batch id.
        id: i64,
    },
    /// Cancel a batch that has no accepted signed file; its orders return to pending.
    Cancel {
        /// Batch id.
        id: i64,
    },
    /// Show a batch and its orders.
    Show {
        /// Batch id.
        id: i64,
    },
    /// List batches.
    List,
}
