-- `updated_at` is the version the back office's edit forms and the API's ETags compare: it must
-- change on every real change of a row. `current_timestamp` is the start of the transaction, which
-- can equal (two transactions starting in the same microsecond) or precede (a writer that waited
-- for a row lock) the value a previous writer stored, so a stale form could match again and
-- overwrite a newer change. Now the new value is the wall clock, and always at least one
-- microsecond later than the old one.
CREATE OR REPLACE FUNCTION diesel_set_updated_at() RETURNS trigger AS $$
BEGIN
    IF (
        NEW IS DISTINCT FROM OLD AND
        NEW.updated_at IS NOT DISTINCT FROM OLD.updated_at
    ) THEN
        NEW.updated_at := GREATEST(clock_timestamp(), OLD.updated_at + interval '1 microsecond');
    END IF;
    RETURN NEW;
END;
$$ LANGUAGE plpgsql;
