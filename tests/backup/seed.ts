/**
 * A few thousand rows and the object kinds a dump must carry: sequences, foreign keys, indexes, a view,
 * an enum, a function and trigger, a generated column, comments, a second schema, NULLs, bytea, jsonb
 * and non-ASCII text. Expects the alembic fixture's tables (users, orders) to exist.
 */
export const SEED_SQL = `
INSERT INTO users (email, created_at)
  SELECT 'user' || i || '@example.com', timestamptz '2026-01-01' + i * interval '1 minute' FROM generate_series(1, 3000) i;
INSERT INTO orders (user_id, total_cents, status)
  SELECT 1 + (i % 3000), i * 7 % 10000, CASE WHEN i % 3 = 0 THEN 'paid' ELSE 'new' END FROM generate_series(1, 5000) i;
CREATE INDEX orders_status_idx ON orders (status);
CREATE TYPE mood AS ENUM ('sad', 'ok', 'happy');
CREATE SCHEMA audit;
CREATE TABLE audit.events (
  id bigserial PRIMARY KEY,
  mood mood,
  payload jsonb,
  blob bytea,
  note text,
  total_euros numeric GENERATED ALWAYS AS (coalesce((payload->>'cents')::numeric, 0) / 100) STORED
);
COMMENT ON TABLE audit.events IS 'événements: non-ASCII survives';
INSERT INTO audit.events (mood, payload, blob, note)
  SELECT (ARRAY['sad','ok','happy'])[1 + i % 3]::mood, jsonb_build_object('cents', i, 'tags', jsonb_build_array('a', i)),
         decode(md5(i::text), 'hex'), CASE WHEN i % 10 = 0 THEN NULL ELSE 'note ' || i || ' ñ' END
    FROM generate_series(1, 2000) i;
CREATE FUNCTION audit.touch() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN NEW.note := coalesce(NEW.note, 'touched'); RETURN NEW; END $$;
CREATE TRIGGER events_touch BEFORE INSERT ON audit.events FOR EACH ROW EXECUTE FUNCTION audit.touch();
CREATE VIEW paid_orders AS SELECT o.id, u.email, o.total_cents FROM orders o JOIN users u ON u.id = o.user_id WHERE o.status = 'paid';
ANALYZE;
`;
