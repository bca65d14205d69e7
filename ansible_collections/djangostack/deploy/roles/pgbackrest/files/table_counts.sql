-- Every user table of the current database and its row count, as one JSON object
-- {"schema.table": rows}: what verify_backup.yml compares between the live primary and a
-- restore of the backup. One statement, so one snapshot.
SELECT coalesce(json_object_agg(format('%I.%I', schemaname, relname), rows ORDER BY schemaname, relname), '{}') AS counts
  FROM (
    SELECT schemaname, relname,
           (xpath('/row/n/text()', query_to_xml(format('SELECT count(*) AS n FROM %I.%I', schemaname, relname),
                                                false, true, '')))[1]::text::bigint AS rows
      FROM pg_stat_user_tables
  ) AS counted
