-- 智慧停车: parking demand per district — visits, average stay and fees, with the district's
-- population from the market-regulation dimension.
SELECT d.name AS district, d.population,
       count(*) AS visits,
       avg(date_diff('minute', ev.entered_at, ev.exited_at)) AS avg_stay_minutes,
       sum(ev.fee) AS fees
FROM transport.parking_events AS ev
JOIN transport.parking_lots AS l ON l.lot_id = ev.lot_id
JOIN market.district AS d ON CAST(d.district_code AS BIGINT) = CAST(l.district_code AS BIGINT)
WHERE ev.exited_at IS NOT NULL
GROUP BY d.name, d.population
ORDER BY visits DESC, district
