-- A user's history is two ranges of the ledger, as on SQLite (its migration 0013 says why): what is
-- filed under them and the pays others made them. The expressions are TRANSFER_PARTY and
-- TRANSFER_PAYEE in schema.ts, spelt the same. Built first, the old ones dropped last.
CREATE INDEX "transfers_party" ON "transfers" ((CASE WHEN from_account = 'mint' THEN substr(to_account, strpos(to_account, ':') + 1) ELSE substr(from_account, strpos(from_account, ':') + 1) END), "seq");--> statement-breakpoint
CREATE INDEX "transfers_payee" ON "transfers" (substr(to_account, strpos(to_account, ':') + 1), "seq") WHERE kind = 'pay';--> statement-breakpoint
DROP INDEX "transfers_from";--> statement-breakpoint
DROP INDEX "transfers_to";
