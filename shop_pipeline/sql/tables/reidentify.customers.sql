-- reidentify.customers: the encrypted lookup from a pseudonym back to the shop's customer id, for the
-- one place the shop must act on a real id (`shop-pipeline export-scores`, reidentify.py). Written at
-- ingestion with a pseudonym key only; erased with the customer by `forget` and the retention purge.
CREATE TABLE IF NOT EXISTS reidentify.customers (
    customer_id VARCHAR NOT NULL,       -- the pseudonym, as every other table names the customer
    sealed_id BLOB NOT NULL,            -- the clear id, AES-256-GCM under a key derived from the pseudonym key
                                        -- (12-byte nonce, then ciphertext and tag; the pseudonym is bound as associated data)
    added_at TIMESTAMP NOT NULL,        -- when its first file was ingested (UTC)
    PRIMARY KEY (customer_id)
);
