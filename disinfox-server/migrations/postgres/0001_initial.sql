-- PostgreSQL schema (to be written: the same tables as migrations/sqlite, in one file).
SELECT 1;
