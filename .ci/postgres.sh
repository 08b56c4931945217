#!/usr/bin/env bash
# Start the installed PostgreSQL server on loopback for the distributed-tuning tests, and
# print the URL of an empty database for them.
set -euo pipefail
version=$(ls /etc/postgresql | sort -n | tail -n 1)
pg_ctlcluster "$version" main start >&2 || pg_ctlcluster "$version" main status >&2
for _ in $(seq 30); do
    su postgres -c "pg_isready -q" && break
    sleep 1
done
su postgres -c "psql -q -tc \"SELECT 1 FROM pg_roles WHERE rolname='hexsim'\" | grep -q 1 \
    || psql -q -c \"CREATE ROLE hexsim LOGIN PASSWORD 'hexsim'\"" >&2
su postgres -c "psql -q -c 'DROP DATABASE IF EXISTS hexsim_test'" >&2
su postgres -c "psql -q -c 'CREATE DATABASE hexsim_test OWNER hexsim'" >&2
echo "postgresql://hexsim:hexsim@127.0.0.1:5432/hexsim_test"
