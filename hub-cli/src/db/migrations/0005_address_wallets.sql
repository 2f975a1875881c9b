-- coldsign hub schema, version 5: the wallet of every address.
--
-- `address import` verifies each address's proof of possession (a
-- signature by the address's own key naming the wallet fingerprint, the
-- path and the address) and records the wallet's BIP32 fingerprint. A
-- batch never mixes two wallets: `batch create` refuses one. Addresses
-- imported before this version have none until their file is imported
-- again (with proofs), and cannot go into a batch meanwhile.
ALTER TABLE addresses ADD COLUMN wallet_fingerprint TEXT;
