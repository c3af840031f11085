#!/usr/bin/env bash
# The demo: a sample city on the embedded default (files and SQLite, no servers),
# registered and crawled without copying any data, then the catalog it produced.
set -euo pipefail
cd "$(dirname "$0")/.."
root="$(pwd)/.demo"
city="$root/city"
export GUAJIE_HOME="$root/workspace"
guajie=".venv/bin/guajie"

rm -rf "$root"
mkdir -p "$root"
echo "== Generating the sample city (scale 1) in $city"
.venv/bin/python -m guajie.sample_sources generate --out "$city" --scale 1

echo
echo "== Registering departmental sources (目录台账)"
# OpenLineage events of every run go to a file in the workspace (settings kept by init).
mkdir -p "$GUAJIE_HOME"
printf 'openlineage:\n  transport: file\n  path: lineage/events.jsonl\n' > "$GUAJIE_HOME/guajie.yaml"
$guajie init
$guajie source add market "sqlite://$city/market.sqlite" \
  --department 市场监督管理局 --department-code 11350100MB0000001X \
  --contact "林晓 <linxiao@scjg.fz.gov.cn> 0591-87000001" --description "企业登记注册系统"
$guajie source add hrss "sqlite://$city/hrss.sqlite" \
  --department 人力资源和社会保障局 --description "社会保险征缴系统"
$guajie source add tax "file://$city/tax" --department 税务局 --description "纳税申报"
$guajie source add civil "sqlite://$city/civil.sqlite" \
  --department 民政局 --description "社会救助系统"
$guajie source add transport "file://$city/transport" --department 交通运输局 \
  --description "智慧停车平台"

echo
echo "== Crawling schemas and statistics (no data copied)"
$guajie crawl

echo
echo "== Describing and classifying (共享属性, 更新周期, 分级)"
$guajie catalog classify market.enterprise --title 企业登记信息 --update-cycle 每日 \
  --sharing 有条件共享 --sharing-condition "用于政务服务和监管，需经市场监管局审批" --open 不予开放
$guajie catalog tag market.enterprise 法人 政策直达
$guajie catalog classify civil.subsidy_recipient --title 社会救助对象 --update-cycle 每月 \
  --sharing 有条件共享 --sharing-condition "仅限社会救助相关场景" --grade 重要
$guajie catalog classify tax.filings --title 月度纳税申报 --update-cycle 每月 \
  --sharing 有条件共享 --sharing-condition "涉税信息依法共享"
$guajie catalog confirm civil.subsidy_recipient

echo
$guajie source list
echo
$guajie catalog list
echo
$guajie catalog show civil.subsidy_recipient
echo
echo "== Personal information found"
$guajie catalog sensitive
echo
echo "== 政策直达: one query across market regulation (SQLite), social security (SQLite)"
echo "   and tax (Parquet), answered at query time without copying any source"
$guajie explain -f sample_sources/scenarios/policy_direct.sql
echo
$guajie query -f sample_sources/scenarios/policy_direct.sql --max-rows 10
echo
echo "== 场景: each scenario reads only its data list (数据清单), under its approvals"
$guajie scenario apply -f sample_sources/scenarios/policy_direct.yaml
$guajie scenario apply -f sample_sources/scenarios/subsidy_check.yaml
$guajie scenario list
echo
echo "== Outside a scenario personal information is masked; a scenario sees what it was granted"
$guajie query "SELECT name, person_id, phone, bank_card FROM civil.subsidy_recipient" --max-rows 3
$guajie query --scenario policy_direct "SELECT legal_rep_id_number FROM market.enterprise" \
  || echo "   (refused, as it should be)"
echo
echo "== 反哺: scenario results go back into the shared pool, with their lineage"
$guajie scenario run policy_direct
$guajie scenario run subsidy_check
$guajie scenario apply -f sample_sources/scenarios/policy_report.yaml
$guajie scenario run policy_report
$guajie query "SELECT * FROM pool.policy_by_district ORDER BY tax_h1 DESC" --max-rows 5
echo
$guajie lineage show pool.policy_direct
echo
echo "== Impact: what a change to the enterprise registry's names would reach"
$guajie lineage impact market.enterprise.name
echo
echo "== Usage and 数据应用渗透率"
$guajie lineage usage --limit 10
echo
echo "== Where personal information flows"
$guajie lineage pii
echo
echo "== Audit: every query, allowed or refused, in an append-only log"
$guajie audit search --limit 6
$guajie audit verify
echo
$guajie report --html "$root/report.html"
echo "Governance report: $root/report.html (self-contained, works offline)"
echo "OpenLineage events: $GUAJIE_HOME/lineage/events.jsonl"
echo
echo "Workspace: $GUAJIE_HOME  (try: GUAJIE_HOME=$GUAJIE_HOME $guajie catalog search 企业)"
