#!/bin/sh
# Runs once, when the postgres container initializes an empty data directory.
# Creates the application's role, an ordinary LOGIN role (no SUPERUSER, no BYPASSRLS), and
# hands it the database: it runs the migrations, so it owns the tables and row-level security
# applies to every other role (see the README's "Row-level security").
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" \
    -v app_password="$APP_DB_PASSWORD" <<'SQL'
CREATE ROLE opside LOGIN PASSWORD :'app_password' NOSUPERUSER NOBYPASSRLS NOCREATEROLE;
CREATE DATABASE opside OWNER opside;
SQL
