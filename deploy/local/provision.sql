-- Provisions the local database: one database `benefit`, and per service one login role and
-- one schema owned by that role. A service's role can use its own schema and nothing else, so a
-- service cannot read or write another service's tables even by mistake.
--
-- Run by deploy/local/lib.sh (provision) with psql as the superuser, connected to the
-- `postgres` database. Safe to run any number of times: every statement either checks first or
-- restates the desired state.
--
-- The passwords equal the role names: local development and CI only. Production roles and
-- their secrets are managed outside this repository.

\set ON_ERROR_STOP on
SET client_min_messages = warning;

-- CREATE DATABASE cannot run inside a DO block or a transaction, hence \gexec.
SELECT 'CREATE DATABASE benefit'
WHERE NOT EXISTS (SELECT FROM pg_database WHERE datname = 'benefit')
\gexec

-- Nobody connects to the database unless granted below, and nobody uses the public schema:
-- services keep every object in their own schema.
REVOKE ALL ON DATABASE benefit FROM PUBLIC;

\connect benefit

SET client_min_messages = warning;

REVOKE ALL ON SCHEMA public FROM PUBLIC;

DO $provision$
DECLARE
    -- The only list of services in this file.
    svc text;
BEGIN
    FOREACH svc IN ARRAY ARRAY['eligibility', 'checkin', 'payroll', 'transfer'] LOOP
        IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = svc) THEN
            EXECUTE format('CREATE ROLE %I LOGIN', svc);
        END IF;
        -- Restated every run so an old role left with other attributes is brought back in line.
        EXECUTE format(
            'ALTER ROLE %I LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS '
            'PASSWORD %L',
            svc, svc);
        EXECUTE format('ALTER ROLE %I SET search_path = %I', svc, svc);

        -- TEMPORARY only allows session-private temporary tables, which other roles cannot see.
        EXECUTE format('GRANT CONNECT, TEMPORARY ON DATABASE benefit TO %I', svc);

        EXECUTE format('CREATE SCHEMA IF NOT EXISTS %I AUTHORIZATION %I', svc, svc);
        EXECUTE format('ALTER SCHEMA %I OWNER TO %I', svc, svc);
        -- No grants across services: only the owner (and the superuser) may use the schema.
        EXECUTE format('REVOKE ALL ON SCHEMA %I FROM PUBLIC', svc);
    END LOOP;
END
$provision$;
