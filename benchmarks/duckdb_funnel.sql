-- The funnel a user writes in DuckDB: sessions (30 min) by window functions, 5 ordered
-- steps within the session, step counts and medians. benchmarks/run.py puts the source in
-- place of the upper-case word after the first FROM: the Parquet file itself (plain: no
-- de-duplication, no validation), or a validated SELECT DISTINCT over it (funnel's work).
WITH gaps AS (
    SELECT user_id, timestamp AS ts, event,
           CASE WHEN lag(timestamp) OVER w IS NULL
                  OR timestamp - lag(timestamp) OVER w > INTERVAL 30 MINUTE THEN 1 ELSE 0 END AS new
    FROM EVENTS WINDOW w AS (PARTITION BY user_id ORDER BY timestamp)
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
