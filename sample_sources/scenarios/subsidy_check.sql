-- 民政核查: subsidy recipients who are the legal representative of an active enterprise with
-- a large registered capital — candidates for re-checking their eligibility.
SELECT r.district_code, r.subsidy_type, e.name AS enterprise, e.registered_capital
FROM civil.subsidy_recipient AS r
JOIN market.enterprise AS e ON e.legal_rep_id_number = r.person_id
WHERE e.status IN ('存续', '在业') AND e.registered_capital > 100
ORDER BY e.registered_capital DESC, enterprise
