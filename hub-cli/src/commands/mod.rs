//! The commands, one module per concept.

mod batch;
mod build;
pub(crate) mod deposits;
pub(crate) mod orders;
mod send;
mod setup;
pub(crate) mod sync;
pub(crate) mod upload;

use crate::{
    cli::{BatchCmd, Command},
    db::Db,
    error::{HubError, Result},
    model::{Actor, Chain},
    output::Output,
    rpc::Rpc,
};

/// What every command works with.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// The database.
    pub(crate) db: Db,
    /// Where to print.
    pub(crate) out: Output,
    /// Who is acting.
    pub(crate) actor: Actor,
    /// The front system acting through the service, if any: it sees and
    /// changes only its own orders and batches. `None` is the desk (the
    /// CLI), which sees everything.
    pub(crate) tenant: Option<String>,
}

/// A client for the chain's node, after checking that the node's
/// `eth_chainId` is the configured one.
pub(crate) fn connect(chain: &Chain) -> Result<Rpc> {
    connect_url(&chain.rpc_url, chain)
}

/// The chain's witness node, if one is configured, checked like [`connect`].
pub(crate) fn connect_witness(chain: &Chain) -> Result<Option<Rpc>> {
    chain
        .witness_rpc_url
        .as_deref()
        .map(|url| connect_url(url, chain))
        .transpose()
}

/// A client for the node at `url`, after checking that it serves `chain`.
pub(crate) fn connect_url(url: &str, chain: &Chain) -> Result<Rpc> {
    let rpc = Rpc::new(url);
    let id = rpc.chain_id()?;
    if id != chain.chain_id {
        return Err(HubError::Node(format!(
            "the node at {} reports chain id {id}, but chain {:?} is configured with chain id {}: \
             refusing to work against the wrong chain; give the chain the right node with \
             `hub-cli chain update {} --rpc URL`",
            rpc.display_url(),
            chain.name,
            chain.chain_id,
            chain.name
        )));
    }
    Ok(rpc)
}

/// Runs a command other than `migrate`.
pub(crate) fn run(ctx: &mut Ctx, command: Command) -> Result<()> {
    match command {
        Command::Migrate | Command::Completions { .. } | Command::Serve(_) => {
            Err(HubError::Internal("run by main".to_owned()))
        }
        Command::Deposit(crate::cli::DepositCmd::Watch {
            chain,
            tenant,
            reference,
            addresses,
        }) => deposits::watch_command(ctx, &chain, &tenant, &addresses, reference),
        Command::Deposit(crate::cli::DepositCmd::List {
            chain,
            address,
            state,
            since,
        }) => deposits::list_command(
            ctx,
            &deposits::DepositFilter {
                chain,
                address,
                state,
                since,
                id: None,
            },
        ),
        Command::Apikey(crate::cli::ApikeyCmd::Create {
            tenant,
            scope,
            key_operator,
        }) => {
            let operator = key_operator.unwrap_or_else(|| format!("api:{tenant}"));
            let key = crate::serve::auth::create(&mut ctx.db, &tenant, &scope, &operator)?;
            ctx.out.result(
                serde_json::json!({"key": key, "tenant": tenant, "scopes": scope, "operator": operator}),
                &format!("{key}\n(shown once: store it in the front system's secret store; the hub keeps only its hash)"),
            );
            Ok(())
        }
        Command::Callback(crate::cli::CallbackCmd::Set {
            tenant,
            url,
            secret_file,
        }) => {
            let secret = std::fs::read_to_string(&secret_file).map_err(|e| {
                HubError::Input(format!("cannot read {}: {e}", secret_file.display()))
            })?;
            crate::serve::callbacks::set(&mut ctx.db, &tenant, &url, secret.trim())?;
            ctx.out.result(
                serde_json::json!({"tenant": tenant, "url": url}),
                &format!("callbacks of {tenant} go to {url}"),
            );
            Ok(())
        }
        Command::Callback(crate::cli::CallbackCmd::Replay {
            tenant,
            since_event,
        }) => {
            let n = crate::serve::callbacks::replay(&mut ctx.db, &tenant, since_event)?;
            ctx.out.result(
                serde_json::json!({"tenant": tenant, "queued": n}),
                &format!("{n} callback event(s) of {tenant} queued again"),
            );
            Ok(())
        }
        Command::Chain(c) => setup::chain(ctx, c),
        Command::Token(c) => setup::token(ctx, c),
        Command::Address(c) => setup::address(ctx, c),
        Command::Order(c) => orders::run(ctx, c),
        Command::Batch(c) => match c {
            BatchCmd::Create {
                chain,
                tenant,
                orders,
                all_pending,
                auto_build,
            } => match tenant {
                // The desk acting for a tenant (`--tenant`; the API never
                // passes one): the command runs as the service runs it with
                // that tenant's key.
                Some(t) => {
                    crate::serve::auth::check_tenant(&t)?;
                    let desk = ctx.tenant.replace(t);
                    let outcome =
                        batch::create(ctx, &chain, &orders, all_pending, auto_build, true);
                    ctx.tenant = desk;
                    outcome
                }
                None => {
                    let desk = ctx.tenant.is_none();
                    batch::create(ctx, &chain, &orders, all_pending, auto_build, desk)
                }
            },
            BatchCmd::Build { id, force } => build::build(ctx, id, force),
            BatchCmd::Drop {
                id,
                orders,
                build_errors,
            } => batch::drop_orders(ctx, id, &orders, build_errors),
            BatchCmd::Export { id, out } => batch::export(ctx, id, &out),
            BatchCmd::Upload { id, file, no_send } => upload::upload(ctx, id, &file, no_send),
            BatchCmd::Send { id } => send::send(ctx, id, false),
            BatchCmd::Resend { id } => send::send(ctx, id, true),
            BatchCmd::Sync {
                id: Some(id),
                wait,
                timeout,
                interval,
                ..
            } => sync::sync(ctx, id, wait, timeout, interval),
            BatchCmd::Sync { id: None, .. } => sync::sync_all(ctx),
            BatchCmd::Check { id } => sync::check(ctx, id),
            BatchCmd::Resolve {
                id,
                order,
                on_chain,
                tx_hash,
                block,
                resend,
                rebuild,
            } => {
                let how = if on_chain {
                    sync::Resolution::OnChain { tx_hash, block }
                } else if resend {
                    sync::Resolution::Resend
                } else if rebuild {
                    sync::Resolution::Rebuild
                } else {
                    return Err(HubError::Usage(
                        "say how: --on-chain, --resend or --rebuild".to_owned(),
                    ));
                };
                sync::resolve(ctx, id, &order, how)
            }
            BatchCmd::Cancel { id } => batch::cancel(ctx, id),
            BatchCmd::Show { id, state } => batch::show(ctx, id, state.as_deref()),
            BatchCmd::List => batch::list(ctx),
        },
    }
}
