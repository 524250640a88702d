-- A user's history is two ranges of the ledger: what is filed under them (the user whose account a
-- transfer debits, or whom a grant credits) and the pays others made them. The two indexes by
-- account side put four ranges per user (user:<id> and escrow:<id> on each side) and two entries
-- per transfer; their leaf pages were most of what a job's settlement wrote. The expressions are
-- TRANSFER_PARTY and TRANSFER_PAYEE in schema.ts, spelt the same.
CREATE INDEX `transfers_party` ON `transfers` ((CASE WHEN from_account = 'mint' THEN substr(to_account, instr(to_account, ':') + 1) ELSE substr(from_account, instr(from_account, ':') + 1) END), `seq`);--> statement-breakpoint
CREATE INDEX `transfers_payee` ON `transfers` (substr(to_account, instr(to_account, ':') + 1), `seq`) WHERE kind = 'pay';--> statement-breakpoint
DROP INDEX `transfers_from`;--> statement-breakpoint
DROP INDEX `transfers_to`;
