//! Exactly once, path 2: a hub that lost its memory (a restored database
//! backup) exports an order the signer already signed, at another nonce of
//! the same sender. The signer's own ledger refuses it, naming the earlier
//! batch: nothing is signed, nothing is paid twice.

use crate::world::World;
use coldsign_e2e::Backend;
use serde_json::json;

/// The signer's exit code when its ledger refuses a batch.
const LEDGER_REFUSED: i32 = 10;

pub fn a_restored_hub_cannot_get_an_order_signed_twice(backend: Backend) {
    let w = World::standard(backend, 1);
    let cold = w.cold_addresses();
    let to = crate::world::recipient(1);
    w.import_orders(&[("R-1", "ETH", cold[1], to, "7")]);
    let batch = w.create_batch();
    // The backup the hub will be restored from: before the export.
    let backup = w.db.url.clone() + ".backup";
    let sqlite = backend == Backend::Sqlite;
    if sqlite {
        std::fs::copy(&w.db.url, &backup).expect("back up the hub database");
    }
    w.export_and_sign();
    assert!(w.signed_file().exists());

    // Meanwhile another transaction of the sender consumes nonce 0, so a
    // hub without its bindings builds R-1 at nonce 1.
    w.anvil
        .rpc("anvil_impersonateAccount", json!([cold[1].to_string()]));
    let h = w.anvil.rpc(
        "eth_sendTransaction",
        json!([{"from": cold[1].to_string(), "to": cold[1].to_string(), "value": "0x0"}]),
    );
    w.anvil.wait_receipt(&h);
    std::fs::remove_file(w.signed_file()).expect("the operator clears the stick");

    if sqlite {
        // The hub loses its memory: the database is restored from the backup.
        std::fs::copy(&backup, &w.db.url).expect("restore the backup");
        for ext in ["-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{ext}", w.db.url));
        }
    } else {
        // A compromised hub forgets the binding by hand.
        w.db.execute(
            "DELETE FROM batch_files; DELETE FROM tx_versions; DELETE FROM nonce_bindings",
        );
    }
    w.set("BATCH", &batch);
    w.run("hub-cli batch build <BATCH> --force");
    assert_eq!(
        w.item(&batch, "R-1")["nonce"],
        1,
        "the forgetful hub moved the order to another nonce"
    );
    w.export();
    let out = w.run_input(
        "signer --sign <USB>/batch_<BATCH>_<DATE>_unsigned.json --password-file <PASSWORD_FILE>",
        &format!("{batch}\n"),
        LEDGER_REFUSED,
    );
    let said = format!("{}{}", out.stdout, out.stderr);
    assert!(said.contains("R-1"), "the refusal names the order: {said}");
    assert!(
        said.contains(&format!("batch {batch}")),
        "and the earlier batch: {said}"
    );
    assert!(!w.signed_file().exists(), "nothing was signed");
    w.anvil.mine(1);
    assert_eq!(w.anvil.balance(to), 0);
    assert_eq!(
        w.anvil.nonce(cold[1]),
        1,
        "only the other transaction exists"
    );
}
