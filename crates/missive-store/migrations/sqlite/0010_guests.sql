-- Guest accounts (`register?kind=guest`): restricted until upgraded to a
-- full account, which clears the flag.
-- Keep in step with ../postgres/0010_guests.sql.
ALTER TABLE users ADD COLUMN is_guest INTEGER NOT NULL DEFAULT 0;
