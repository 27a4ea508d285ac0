-- The same 5-step funnel in DuckDB SQL, as funnel does it: validate, drop exact duplicates, sessionize (30 min),
-- ordered greedy steps within the session, step counts and median transition times.
WITH raw AS (
    SELECT DISTINCT * FROM read_parquet('PATH')
    WHERE user_id IS NOT NULL AND CAST(user_id AS VARCHAR) <> '' AND event IS NOT NULL AND timestamp IS NOT NULL
),
gaps AS (
    SELECT user_id, timestamp AS ts, event,
           CASE WHEN lag(timestamp) OVER w IS NULL
                  OR timestamp - lag(timestamp) OVER w > INTERVAL 30 MINUTE THEN 1 ELSE 0 END AS new
    FROM raw WINDOW w AS (PARTITION BY user_id ORDER BY timestamp)
),
numbered AS (
    SELECT user_id, ts, event,
           sum(new) OVER (PARTITION BY user_id ORDER BY ts ROWS UNBOUNDED PRECEDING) AS sid
    FROM gaps
),
s AS (
    SELECT * FROM numbered
    WHERE event IN ('add_to_cart', 'begin_checkout', 'add_shipping_info', 'add_payment_info', 'purchase')
),
p1 AS (SELECT user_id, sid, min(ts) AS t1 FROM s WHERE event = 'add_to_cart' GROUP BY ALL),
p2 AS (SELECT p.*, (SELECT min(ts) FROM s WHERE s.user_id = p.user_id AND s.sid = p.sid
                    AND s.event = 'begin_checkout' AND s.ts >= p.t1) AS t2 FROM p1 p),
p3 AS (SELECT p.*, (SELECT min(ts) FROM s WHERE s.user_id = p.user_id AND s.sid = p.sid
                    AND s.event = 'add_shipping_info' AND s.ts >= p.t2) AS t3 FROM p2 p),
p4 AS (SELECT p.*, (SELECT min(ts) FROM s WHERE s.user_id = p.user_id AND s.sid = p.sid
                    AND s.event = 'add_payment_info' AND s.ts >= p.t3) AS t4 FROM p3 p),
p5 AS (SELECT p.*, (SELECT min(ts) FROM s WHERE s.user_id = p.user_id AND s.sid = p.sid
                    AND s.event = 'purchase' AND s.ts >= p.t4) AS t5 FROM p4 p)
SELECT 'steps', count(t1), median(epoch(t2) - epoch(t1)) FROM p5 UNION ALL
SELECT 'steps', count(t2), median(epoch(t3) - epoch(t2)) FROM p5 UNION ALL
SELECT 'steps', count(t3), median(epoch(t4) - epoch(t3)) FROM p5 UNION ALL
SELECT 'steps', count(t4), median(epoch(t5) - epoch(t4)) FROM p5 UNION ALL
SELECT 'steps', count(t5), median(epoch(t5) - epoch(t1)) FROM p5;
