-- Guest accounts (`register?kind=guest`): restricted until upgraded to a
-- full account, which clears the flag.
-- Keep in step with ../sqlite/0010_guests.sql.
ALTER TABLE users ADD COLUMN is_guest BIGINT NOT NULL DEFAULT 0;
