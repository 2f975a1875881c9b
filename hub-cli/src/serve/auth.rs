//! API keys: `Authorization: Bearer <key>`. Only the key's SHA-256 is
//! stored; the key itself is shown once, when it is created.

use crate::{
    clock::now_rfc3339,
    db::Db,
    error::{HubError, Result},
};
use sha2::{Digest, Sha256};

/// What a key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    /// Submit orders.
    OrdersWrite,
    /// Read orders (and the batches that carry them).
    OrdersRead,
    /// Run the operator's batch actions.
    BatchesOperate,
    /// Register addresses.
    AddressesWrite,
}

impl Scope {
    /// Every scope, with its name.
    pub(crate) const ALL: [(Scope, &'static str); 4] = [
        (Scope::OrdersWrite, "orders:write"),
        (Scope::OrdersRead, "orders:read"),
        (Scope::BatchesOperate, "batches:operate"),
        (Scope::AddressesWrite, "addresses:write"),
    ];

    /// The scope's name.
    pub(crate) fn name(self) -> &'static str {
        Self::ALL
            .iter()
            .find(|(s, _)| *s == self)
            .map_or("?", |(_, n)| n)
    }

    fn parse(name: &str) -> Option<Self> {
        Self::ALL.iter().find(|(_, n)| *n == name).map(|(s, _)| *s)
    }
}

/// Who a request acts for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Principal {
    /// The tenant.
    pub(crate) tenant: String,
    /// Its scopes.
    pub(crate) scopes: Vec<Scope>,
    /// The operator name recorded with its changes.
    pub(crate) operator: String,
}

impl Principal {
    /// `Ok` if the key has `scope`.
    pub(crate) fn require(&self, scope: Scope) -> std::result::Result<(), String> {
        if self.scopes.contains(&scope) {
            Ok(())
        } else {
            Err(format!("this API key lacks the scope {}", scope.name()))
        }
    }
}

fn hash(key: &str) -> String {
    coldsign_core::hex_data::encode(Sha256::digest(key.as_bytes()))
}

/// A tenant name: 1-64 of `A-Z a-z 0-9 . - _`.
pub(crate) fn check_tenant(tenant: &str) -> Result<()> {
    let ok = !tenant.is_empty()
        && tenant.len() <= 64
        && tenant
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(HubError::Input(format!(
            "tenant {tenant:?} must be 1-64 characters of A-Z, a-z, 0-9, '.', '-', '_'"
        )))
    }
}

/// Creates a key for `tenant` with `scopes` (comma-separated names);
/// returns the key, to be shown once.
pub(crate) fn create(db: &mut Db, tenant: &str, scopes: &str, operator: &str) -> Result<String> {
    check_tenant(tenant)?;
    let mut names = Vec::new();
    for name in scopes.split(',').map(str::trim).filter(|n| !n.is_empty()) {
        let scope = Scope::parse(name).ok_or_else(|| {
            HubError::Input(format!(
                "unknown scope {name:?}: one of {}",
                Scope::ALL
                    .iter()
                    .map(|(_, n)| *n)
                    .collect::<Vec<_>>()
                    .join(", ")
            ))
        })?;
        names.push(scope.name());
    }
    if names.is_empty() {
        return Err(HubError::Input("give at least one --scope".to_owned()));
    }
    let mut bytes = [0u8; 32];
    rand_core::RngCore::fill_bytes(&mut rand_core::OsRng, &mut bytes);
    let key = format!("csk_{}", hex_of(&bytes));
    crate::store::service::insert_api_key(
        db,
        &hash(&key),
        &key[..12],
        tenant,
        &names.join(","),
        operator,
        &now_rfc3339(),
    )?;
    Ok(key)
}

fn hex_of(bytes: &[u8]) -> String {
    coldsign_core::hex_data::encode(bytes)
        .trim_start_matches("0x")
        .to_owned()
}

/// The principal of an `Authorization` header value, or why not.
pub(crate) fn authenticate(
    db: &mut Db,
    header: Option<&str>,
) -> Result<std::result::Result<Principal, String>> {
    let Some(value) = header else {
        return Ok(Err("missing Authorization: Bearer <API key>".to_owned()));
    };
    let Some(key) = value.strip_prefix("Bearer ").map(str::trim) else {
        return Ok(Err(
            "the Authorization header must be `Bearer <API key>`".to_owned()
        ));
    };
    let Some((tenant, scopes, operator)) = crate::store::service::active_api_key(db, &hash(key))?
    else {
        return Ok(Err("unknown or revoked API key".to_owned()));
    };
    let scopes = scopes.split(',').filter_map(Scope::parse).collect();
    Ok(Ok(Principal {
        tenant,
        scopes,
        operator,
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_and_tenants() {
        for (s, n) in Scope::ALL {
            assert_eq!(Scope::parse(n), Some(s));
        }
        assert!(check_tenant("acme-exchange_1").is_ok());
        assert!(check_tenant("").is_err());
        assert!(check_tenant("a b").is_err());
        assert_ne!(hash("csk_a"), hash("csk_b"));
    }
}
