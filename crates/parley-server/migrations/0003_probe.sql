-- Where the writer proves, after a storage error, that writes work again.
CREATE TABLE parley_probe (at TEXT NOT NULL);
