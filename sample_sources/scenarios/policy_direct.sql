-- 政策直达: enterprises eligible for a job-stabilisation subsidy — active in the registry,
-- 10 to 300 insured employees in June 2024, more than 50,000 yuan of tax in H1 2024.
SELECT e.credit_code, e.name, e.district, s.headcount, t.tax_h1
FROM market.enterprise AS e
JOIN hrss.social_insurance_monthly AS s
  ON s.credit_code = e.credit_code AND s.month = DATE '2024-06-01'
JOIN (
  SELECT credit_code, sum(total_tax) AS tax_h1
  FROM tax.filings
  WHERE month BETWEEN '2024-01' AND '2024-06'
  GROUP BY credit_code
) AS t ON t.credit_code = e.credit_code
WHERE e.status IN ('存续', '在业')
  AND s.headcount BETWEEN 10 AND 300
  AND t.tax_h1 > 50000
ORDER BY t.tax_h1 DESC, e.credit_code
