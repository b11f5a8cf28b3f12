-- Run once by the postgres image on an empty data volume (docker-entrypoint-initdb.d), as the
-- POSTGRES_USER: the DuckLake warehouse's catalog gets its own database next to Dagster's, owned
-- by the same role (ENERGY_WAREHOUSE_URL in compose.yaml names it).
CREATE DATABASE energy_lake;
