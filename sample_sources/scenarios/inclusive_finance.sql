-- 普惠金融: a credit profile per active enterprise for banks — tax credit rating, months in
-- social-insurance arrears, and average headcount over the last year.
SELECT e.credit_code, e.industry, e.registered_capital,
       max(t.credit_rating) AS best_rating,
       count(DISTINCT CASE WHEN s.arrears THEN s.month END) AS months_in_arrears,
       avg(s.headcount) AS avg_headcount
FROM market.enterprise AS e
LEFT JOIN hrss.social_insurance_monthly AS s
  ON s.credit_code = e.credit_code AND s.month >= DATE '2023-07-01'
LEFT JOIN tax.filings AS t
  ON t.credit_code = e.credit_code AND t.month >= '2024-01'
WHERE e.status IN ('存续', '在业') AND e.registered_capital >= 500
GROUP BY e.credit_code, e.industry, e.registered_capital
ORDER BY e.credit_code
