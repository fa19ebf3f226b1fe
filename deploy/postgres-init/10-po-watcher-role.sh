#!/bin/sh
# Run once by the postgres image, as its superuser, when the data volume is first created
# (compose mounts this folder at /docker-entrypoint-initdb.d). It makes po-watcher's own role
# (no superuser, cannot create databases or roles) and a database that role owns: owning it, the
# role may create its tables in the public schema, and nothing else in the cluster.
#
# The role's password is read from the db-password secret, never from the environment.
set -eu
role="${PO_WATCHER_DB_USER:-po_watcher}"
database="${PO_WATCHER_DB_NAME:-po_watcher}"
password_file="${PO_WATCHER_DB_PASSWORD_FILE:-/run/secrets/db-password}"
if [ ! -s "$password_file" ]; then
  echo "10-po-watcher-role.sh: $password_file is missing or empty" >&2
  exit 1
fi
password="$(cat "$password_file")"
psql -v ON_ERROR_STOP=1 --no-psqlrc --username "${POSTGRES_USER:-postgres}" --dbname postgres \
  --set=role="$role" --set=database="$database" --set=password="$password" <<'SQL'
CREATE ROLE :"role" LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE PASSWORD :'password';
CREATE DATABASE :"database" OWNER :"role";
REVOKE ALL ON DATABASE :"database" FROM PUBLIC;
GRANT CONNECT, TEMPORARY ON DATABASE :"database" TO :"role";
SQL
echo "10-po-watcher-role.sh: role $role and database $database created"
