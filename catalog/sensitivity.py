"""Suggest whether a column holds personal information (个人信息), and which kind.

A crawl sees thousands of columns; stewards cannot read them all, so the detector proposes
a :class:`~guajie.catalog.models.PIKind` per column and the steward confirms or overrides it.
Evidence comes from three places, weakest first:

* **the column name and description**, matched token by token (snake_case, camelCase,
  Chinese keywords and the pinyin initials government systems use, e.g. ``sfzh`` 身份证号,
  ``lxdh`` 联系电话). Whole tokens are compared, never substrings, so ``status`` is not
  ``tel`` and ``district_code`` is not an address. The *last* keyword is the head noun:
  ``contact_phone`` and 联系人电话 are phones, ``id_card_address`` is an address. A keyword
  followed by an attribute word (``phone_type``, ``birth_rate``, 车牌颜色) names a property
  of the data, not the data, so it is no evidence at all.
* **the column type**: a date or timestamp column named like a birthday is a birth date
  without looking at values; a number can be a phone, ID or card number but never a name.
* **a bounded sample of values** (at most the first :data:`MAX_SAMPLES`), checked with the
  check-digit rules in :mod:`guajie.catalog.checkdigits`, so a random 18-digit number is not
  mistaken for an ID number and a long numeric key is not mistaken for a bank card.

How the evidence combines, and the confidence it earns:

========================================================  ==========
name (or description) only, no usable sample               0.6
ambiguous name only (a bare ``name``: person or company?)  0.3
name and ≥ 80 % of the sampled values agree                0.95
ambiguous name confirmed by ≥ 80 % of the values           0.9
name and 50-80 % of the values agree (dirty data)          0.75
values only (≥ 80 % match, at least 5 values; names 10)    0.65-0.9
name contradicted (≥ 5 values, under half of them fit)     0.3
ambiguous name contradicted                                no result
========================================================  ==========

A contradicted explicit name still yields a 0.3 suggestion rather than nothing: a column
someone deliberately called ``phone`` deserves a look even when its sample disagrees (the
reason says so), while a bare ``name`` full of company names is simply not personal data.
When the values clearly show another kind (a ``phone`` column full of ID numbers), the
values win. Callers that record suggestions automatically may want to drop those below 0.5.

Samples are evidence, never data: they are read once, only counts survive the call, and
reasons are built from counts and this module's own keywords, never from a value.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sized
from dataclasses import dataclass
from decimal import Decimal
from functools import lru_cache
from itertools import islice
from typing import Final

from .checkdigits import (
    is_email,
    is_mobile_number,
    is_valid_bank_card,
    is_valid_credit_code,
    is_valid_id_number,
)
from .models import PIKind

__all__ = ["MAX_SAMPLES", "Suggestion", "suggest_sensitivity"]

#: Values examined per column; more would cost time without changing a ratio much.
MAX_SAMPLES: Final = 200


@dataclass(frozen=True, slots=True)
class Suggestion:
    """A proposed sensitivity, for a steward to confirm or override.

    ``reason`` explains the evidence in counts and keywords and never quotes a sampled
    value, so it is safe to store and show; ``confidence`` is in ``[0, 1]`` (see the module
    documentation for what each band means).
    """

    kind: PIKind
    reason: str
    confidence: float


# --------------------------------------------------------------------------------------
# Name and description hints
# --------------------------------------------------------------------------------------

_STRONG: Final = 2  # the name says what the column holds
_WEAK: Final = 1  # the name fits, but also fits non-personal data (a bare ``name``)
_NEG: Final = 0  # the name says it is *not* this kind (kind None: not personal at all)
_NEUTRAL: Final = -1  # the name describes a property (``phone_type``): let values decide


@dataclass(frozen=True, slots=True)
class _Hint:
    kind: PIKind | None
    strength: int
    keyword: str  # always one of this module's keywords, never text from a column or value


_K = PIKind
_VOCAB: dict[str, _Hint] = {}


def _words(kind: PIKind | None, strength: int, *words: str) -> None:
    for word in words:
        _VOCAB[word] = _Hint(kind, strength, word)


# Keys with "_" are token sequences; compact spellings (``idcard``) are listed too because
# all-lowercase names without separators are common.
_words(
    _K.NAME,
    _STRONG,
    "xm",
    "lxr",
    "lxrxm",
    "fddbr",
    "fddbrxm",
    "fzr",
    "fzrxm",
    "realname",
    "truename",
    "firstname",
    "lastname",
    "surname",
    "givenname",
    "familyname",
    "contactname",
    "姓名",
    "名字",
    "联系人",
    "法定代表人",
    "法人代表",
    "负责人",
    "申请人",
    "户主",
    "经办人",
    "当事人",
    "监护人",
    "持卡人",
    "车主",
    "驾驶人",
    "驾驶员",
    "业主",
    "投诉人",
    "举报人",
)
_words(_K.NAME, _WEAK, "fullname", "username", "nickname")
_words(_K.NAME, _NEG, "mc", "名称", "简称", "全称")
_words(
    _K.ID_NUMBER,
    _STRONG,
    "sfz",
    "sfzh",
    "sfzhm",
    "sfzjhm",
    "gmsfhm",
    "zjhm",
    "zjh",
    "idcard",
    "idcardno",
    "idno",
    "idnumber",
    "idnum",
    "citizenid",
    "id_card",
    "id_no",
    "id_num",
    "id_number",
    "id_card_no",
    "id_card_num",
    "id_card_number",
    "identity_card",
    "identity_no",
    "identity_number",
    "citizen_id",
    "national_id",
    "resident_id",
    "身份证",
    "身份证号",
    "身份证号码",
    "证件号码",
    "证件号",
    "公民身份号码",
    "身份号码",
)
_words(_K.ID_NUMBER, _WEAK, "cert_no", "cert_number", "certificate_no", "certificate_number")
_words(
    _K.PHONE,
    _STRONG,
    "phone",
    "phones",
    "mobile",
    "tel",
    "telephone",
    "cellphone",
    "mobilephone",
    "phoneno",
    "phonenum",
    "phonenumber",
    "telno",
    "mobileno",
    "mobilenum",
    "msisdn",
    "contactphone",
    "contacttel",
    "cell_phone",
    "contact_number",
    "sjhm",
    "sjh",
    "lxdh",
    "dh",
    "yddh",
    "gddh",
    "bgdh",
    "手机",
    "手机号",
    "手机号码",
    "电话",
    "电话号码",
    "联系电话",
    "移动电话",
    "固定电话",
)
_words(_K.PHONE, _WEAK, "contact_info", "contact_way", "contact_no", "lxfs", "联系方式")
_words(
    _K.ADDRESS,
    _STRONG,
    "dz",
    "jzdz",
    "hjdz",
    "jtdz",
    "txdz",
    "lxdz",
    "xzz",
    "hjszd",
    "residence",
    "domicile",
    "homeaddress",
    "homeaddr",
    "住址",
    "住所",
    "居住地",
    "户籍地",
    "户籍所在地",
    "现住址",
    "家庭住址",
    "通讯地址",
    "联系地址",
    "详细地址",
    "居住地址",
    "户籍地址",
)
_words(
    _K.ADDRESS,
    _NEG,
    "ipaddr",
    "ipaddress",
    "macaddr",
    "macaddress",
    "qydz",
    "dwdz",
    "gsdz",
    "jgdz",
    "zcdz",
    "jydz",
    "bgdz",
    "注册地址",
    "经营地址",
    "办公地址",
    "单位地址",
    "企业地址",
    "公司地址",
    "注册地",
    "经营场所",
)
_words(
    _K.BANK_CARD,
    _STRONG,
    "yhkh",
    "yhzh",
    "bankcard",
    "bankcardno",
    "cardno",
    "cardnum",
    "cardnumber",
    "accountno",
    "bank_card",
    "card_no",
    "card_num",
    "card_number",
    "account_no",
    "account_number",
    "acct_no",
    "bank_account",
    "银行卡",
    "银行卡号",
    "卡号",
    "银行账号",
    "银行账户",
)
_words(
    _K.EMAIL,
    _STRONG,
    "email",
    "emails",
    "mail",
    "mailbox",
    "emailaddr",
    "emailaddress",
    "mailaddress",
    "e_mail",
    "dzyx",
    "邮箱",
    "电子邮箱",
    "电子邮件",
    "邮件地址",
)
_words(
    _K.PLATE_NUMBER,
    _STRONG,
    "plate",
    "plateno",
    "platenumber",
    "licenseplate",
    "cph",
    "cphm",
    "hphm",
    "car_no",
    "car_number",
    "vehicle_no",
    "vehicle_number",
    "车牌",
    "车牌号",
    "车牌号码",
    "号牌号码",
    "号牌",
)
_words(
    _K.BIRTH_DATE,
    _STRONG,
    "birth",
    "birthday",
    "birthdate",
    "dob",
    "born",
    "dateofbirth",
    "date_of_birth",
    "csrq",
    "csny",
    "出生日期",
    "出生年月",
    "出生年月日",
    "生日",
    "出生时间",
    "出生",
)
_words(
    _K.BIRTH_DATE,
    _NEG,
    "birthplace",
    "birth_place",
    "place_of_birth",
    "出生地",
    "出生地点",
    "出生率",
    "出生人数",
    "出生人口",
)
# Enterprise identifiers: named as such, the column is not personal whatever it holds.
_words(
    None,
    _NEG,
    "uscc",
    "tyshxydm",
    "shxydm",
    "xydm",
    "credit_code",
    "org_code",
    "organization_code",
    "organisation_code",
    "business_license",
    "统一社会信用代码",
    "社会信用代码",
    "信用代码",
    "组织机构代码",
    "营业执照号",
    "营业执照",
)

# Heads whose meaning depends on the word before them.
_NAME_HEADS: Final = frozenset({"name", "names", "nm"})
_ADDRESS_HEADS: Final = frozenset({"address", "addresses", "addr", "地址"})

# ``X_name`` is a person's name for these X ...
_PERSON: Final = frozenset(
    {
        "person",
        "personal",
        "real",
        "true",
        "rep",
        "representative",
        "contact",
        "applicant",
        "owner",
        "holder",
        "patient",
        "driver",
        "user",
        "customer",
        "cust",
        "client",
        "staff",
        "employee",
        "emp",
        "resident",
        "citizen",
        "student",
        "teacher",
        "doctor",
        "nurse",
        "householder",
        "member",
        "first",
        "last",
        "given",
        "family",
        "sur",
        "middle",
        "guardian",
        "parent",
        "father",
        "mother",
        "spouse",
        "child",
        "victim",
        "suspect",
        "party",
        "handler",
        "operator",
        "officer",
        "reporter",
        "complainant",
        "visitor",
        "worker",
        "principal",
        "manager",
        "leader",
        "inspector",
        "recipient",
        "receiver",
        "sender",
        "consignee",
        "buyer",
        "seller",
        "tenant",
        "landlord",
        "insured",
        "beneficiary",
        "payee",
        "payer",
        "auditor",
        "approver",
        "reviewer",
        "signer",
        "agent",
        "lawyer",
        "witness",
        "volunteer",
        "farmer",
        "veteran",
        "home",
        "household",
        "legal_person",
        "cardholder",
        "linkman",
    }
)
# ... and an organisation's, a place's or a thing's for these (also anywhere before it).
_ORG: Final = frozenset(
    {
        "company",
        "enterprise",
        "ent",
        "corp",
        "corporate",
        "firm",
        "org",
        "organization",
        "organisation",
        "unit",
        "dept",
        "department",
        "office",
        "registered",
        "reg",
        "business",
        "biz",
        "shop",
        "store",
        "merchant",
        "factory",
        "branch",
        "headquarters",
        "hq",
        "school",
        "hospital",
        "bank",
        "station",
        "project",
        "building",
        "lot",
        "product",
        "goods",
        "item",
        "district",
        "region",
        "area",
        "city",
        "province",
        "county",
        "town",
        "township",
        "street",
        "road",
        "community",
        "village",
        "industry",
        "file",
        "table",
        "column",
        "field",
        "schema",
        "database",
        "db",
        "host",
        "server",
        "app",
        "application",
        "event",
        "dataset",
        "resource",
        "category",
        "type",
        "class",
        "course",
        "model",
        "device",
        "tag",
        "label",
        "park",
        "place",
        "poi",
        "scenic",
        "route",
        "line",
        "stop",
        "facility",
        "market",
        "service",
        "policy",
        "task",
        "job",
        "report",
        "document",
        "doc",
        "case",
        "brand",
        "team",
        "group",
        "grid",
        "site",
        "system",
        "module",
        "menu",
        "role",
        "supplier",
        "vendor",
        "short",
        "企业",
        "公司",
        "单位",
        "机构",
        "注册",
        "经营",
        "办公",
        "门店",
        "商户",
        "场所",
        "项目",
        "部门",
    }
)
# ``ip_address`` and friends are not where anyone lives.
_NETWORK: Final = frozenset(
    {
        "ip",
        "ipv4",
        "ipv6",
        "mac",
        "web",
        "url",
        "server",
        "host",
        "net",
        "network",
        "socket",
        "memory",
        "mem",
        "wallet",
        "bluetooth",
        "wifi",
        "node",
        "gateway",
        "proxy",
        "link",
    }
)
_EMAILISH: Final = frozenset({"email", "mail", "e_mail", "邮箱", "邮件", "电子邮箱"})

# After the head noun these turn "the data" into "a property of the data".
_ATTRS: Final = frozenset(
    {
        "type",
        "types",
        "kind",
        "category",
        "class",
        "color",
        "colour",
        "status",
        "state",
        "flag",
        "count",
        "cnt",
        "total",
        "sum",
        "rate",
        "ratio",
        "pct",
        "percent",
        "verified",
        "verify",
        "valid",
        "validity",
        "validated",
        "len",
        "length",
        "format",
        "fmt",
        "date",
        "time",
        "dt",
        "ts",
        "year",
        "month",
        "day",
        "expiry",
        "expire",
        "expires",
        "issue",
        "issued",
        "issuer",
        "authority",
        "province",
        "city",
        "area",
        "region",
        "source",
        "src",
        "id",
        "code",
        "key",
        "level",
        "grade",
        "score",
        "prefix",
        "update",
        "updated",
        "modified",
        "changed",
        "place",
        "类型",
        "颜色",
        "种类",
        "状态",
        "数量",
        "个数",
        "归属地",
        "有效期",
        "签发",
        "编码",
        "代码",
        "标志",
        "标识",
    }
)
# ... except that a birth *date* may well be spelled ``birth_dt`` or ``birth_day``.
_DATE_ATTRS: Final = frozenset({"date", "time", "dt", "ts", "year", "month", "day"})
_PREFIX_NEUTRAL: Final = frozenset(
    {"is", "has", "whether", "if", "allow", "enable", "need", "needs", "是否"}
)
_STOP: Final = frozenset(
    {
        "s",
        "the",
        "a",
        "an",
        "of",
        "for",
        "and",
        "or",
        "its",
        "his",
        "her",
        "their",
        "number",
        "no",
        "num",
    }
)

_MULTI_FIRST: Final = frozenset(k.split("_", 1)[0] for k in _VOCAB if "_" in k)

# Pinyin initials carry no vowels; a vowel-less token ending in a pinyin keyword is a
# compound such as ``fzrsjhm`` (负责人手机号码) or ``qymc`` (企业名称).
_PINYIN_KEYS: Final = tuple(
    sorted(
        (k for k in _VOCAB if k.isascii() and k.isalpha() and not set(k) & set("aeiou")),
        key=len,
        reverse=True,
    )
)
_PINYIN_TOKEN_RE: Final = re.compile(r"[b-df-hj-np-tv-z]{3,12}")

# Compact English compounds (``contactphone``, ``companyname``) split into known words.
_COMPACT_HEADS: Final = ("name", "phone", "address", "addr", "mobile", "email", "plate")
_COMPACT_PREFIXES: Final = _PERSON | _ORG | _NETWORK | frozenset({"e", "cell", "bank"})

_CJK: Final = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_TOKEN_RE: Final = re.compile(rf"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+|[{_CJK}]+")
_ASCII_TOKEN_RE: Final = re.compile(r"[A-Z]+(?=[A-Z][a-z])|[A-Z]?[a-z]+|[A-Z]+")
_CN_WORDS: Final = sorted(
    {w for w in (*_VOCAB, *_ORG, *_ATTRS, *_PREFIX_NEUTRAL, *_EMAILISH, "地址") if not w.isascii()},
    key=len,
    reverse=True,
)
_CN_RE: Final = re.compile("|".join(map(re.escape, _CN_WORDS)))

_NEUTRAL_HINT: Final = _Hint(None, _NEUTRAL, "")
_DESCRIPTION_CHARS: Final = 200


def _tokens(text: str) -> list[str]:
    """Lowercased word tokens; Chinese runs contribute only the keywords found in them."""
    if text.isascii():
        pieces = _ASCII_TOKEN_RE.findall(text)
        return [p.lower() for p in pieces]
    out: list[str] = []
    for piece in _TOKEN_RE.findall(text):
        if piece.isascii():
            out.append(piece.lower())
        else:
            out.extend(_CN_RE.findall(piece))
    return out


def _split_compact(token: str) -> list[str] | None:
    if len(token) > 5 and token.endswith(_COMPACT_HEADS):
        for head in _COMPACT_HEADS:
            if token.endswith(head) and token[: -len(head)] in _COMPACT_PREFIXES:
                return [token[: -len(head)], head]
    return None


def _previous(tokens: list[str], i: int) -> str | None:
    j = i - 1
    while j >= 0 and tokens[j] in _STOP:
        j -= 1
    return tokens[j] if j >= 0 else None


def _name_head(tokens: list[str], i: int, after_pi: bool, description: bool) -> _Hint:
    """``name`` is a person's name only when something says whose name it is.

    Column names put the owner first (``legal_rep_name``); prose may put it after
    ("Name of the applicant"), so descriptions also look a few words ahead.
    """
    word = tokens[i]
    later = tokens[i + 1 : i + 7] if description else []
    if _previous(tokens, i) in _PERSON or after_pi or any(t in _PERSON for t in later):
        return _Hint(_K.NAME, _STRONG, word)  # legal_rep_name, id_card_name
    if any(t in _ORG for t in tokens[:i]) or any(t in _ORG for t in later):
        return _Hint(_K.NAME, _NEG, word)  # company_name, org_short_name
    return _Hint(_K.NAME, _WEAK, word)


def _address_head(tokens: list[str], i: int, description: bool) -> _Hint:
    """``address`` is where someone lives unless it is a network, mail or company address."""
    word = tokens[i]
    prev = _previous(tokens, i)
    if prev in _NETWORK:
        return _Hint(_K.ADDRESS, _NEG, word)
    if prev in _EMAILISH:
        return _Hint(_K.EMAIL, _STRONG, f"{prev}_{word}" if prev.isascii() else prev + word)
    later = tokens[i + 1 : i + 7] if description else []
    if prev in _PERSON or any(t in _PERSON for t in later):
        return _Hint(_K.ADDRESS, _STRONG, word)
    if any(t in _ORG for t in tokens[:i]) or any(t in _ORG for t in later):
        return _Hint(_K.ADDRESS, _NEG, word)  # registered_address, 企业地址
    return _Hint(_K.ADDRESS, _STRONG, word)


def _hint(text: str, description: bool) -> _Hint | None:
    """The head keyword of a column name or description, or None when nothing matches."""
    tokens = _tokens(text)
    if not tokens:
        return None
    if tokens[0] in _PREFIX_NEUTRAL or (not description and "是否" in tokens):
        return _NEUTRAL_HINT
    expanded: list[str] = []
    for tok in tokens:
        parts = None if tok in _VOCAB else _split_compact(tok)
        if parts:
            expanded.extend(parts)
        else:
            expanded.append(tok)
    tokens = expanded

    hit: _Hint | None = None
    hit_end = -1
    attr_after = False
    n = len(tokens)
    i = 0
    while i < n:
        tok = tokens[i]
        found: _Hint | None = None
        width = 1
        if tok in _MULTI_FIRST:
            for w in (3, 2):
                if i + w <= n:
                    found = _VOCAB.get("_".join(tokens[i : i + w]))
                    if found is not None:
                        width = w
                        break
        if found is None:
            found = _VOCAB.get(tok)
        if found is None:
            if tok in _NAME_HEADS:
                after_pi = hit is not None and hit_end == i - 1 and hit.strength == _STRONG
                found = _name_head(tokens, i, after_pi, description)
            elif tok in _ADDRESS_HEADS:
                found = _address_head(tokens, i, description)
            elif _PINYIN_TOKEN_RE.fullmatch(tok) and tok.endswith(_PINYIN_KEYS):
                found = next(_VOCAB[k] for k in _PINYIN_KEYS if tok.endswith(k))
        if found is not None:
            hit, hit_end, attr_after = found, i + width - 1, False
            i += width
            continue
        if (
            hit is not None
            and tok in _ATTRS
            and (not description or i == hit_end + 1)
            and not (hit.kind is _K.BIRTH_DATE and tok in _DATE_ATTRS)
        ):
            attr_after = True
        i += 1
    if hit is not None and attr_after:
        return _NEUTRAL_HINT
    return hit


@lru_cache(maxsize=16384)
def _name_hint(name: str) -> _Hint | None:
    # Cached: the same column names (id, name, status, ...) recur across every source.
    return _hint(name, description=False)


@lru_cache(maxsize=4096)
def _description_hint(description: str) -> _Hint | None:
    return _hint(description, description=True)


# --------------------------------------------------------------------------------------
# Value evidence
# --------------------------------------------------------------------------------------

_KINDS: Final = tuple(PIKind)
_BIT: Final = {k: 1 << i for i, k in enumerate(_KINDS)}
_ID, _PH, _AD, _BC, _EM, _PL, _NM, _BD = (
    _BIT[_K.ID_NUMBER],
    _BIT[_K.PHONE],
    _BIT[_K.ADDRESS],
    _BIT[_K.BANK_CARD],
    _BIT[_K.EMAIL],
    _BIT[_K.PLATE_NUMBER],
    _BIT[_K.NAME],
    _BIT[_K.BIRTH_DATE],
)

# About 130 of the most common surnames (they cover roughly 90 % of the population) and the
# compound surnames still in use. A short list keeps words like 明天 or 全部 from passing.
_SURNAMES: Final = (
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程"
    "苏魏吕丁任沈姚卢姜崔钟谭陆汪范金石廖贾夏韦付傅方白邹孟熊秦邱江尹薛闫段雷侯龙史陶黎贺顾毛"
    "郝龚邵万钱严覃武戴莫孔向汤常温康施文牛樊葛邢安齐易乔伍庞颜倪庄聂章鲁岳翟殷詹申欧耿关兰焦"
    "俞左柳甘祝包宁尚符舒阮柯纪梅童凌毕单季裴霍涂苗谷盛曲翁冉骆蓝游辛靳管柴鲍喻祁蒲房滕屈饶赖池"
)
_COMPOUND_SURNAMES: Final = (
    "欧阳",
    "司马",
    "上官",
    "诸葛",
    "东方",
    "皇甫",
    "尉迟",
    "公孙",
    "慕容",
    "长孙",
    "宇文",
    "司徒",
    "夏侯",
    "轩辕",
    "令狐",
    "端木",
    "独孤",
    "南宫",
    "呼延",
    "闻人",
)
_CN_NAME_RE: Final = re.compile(
    rf"(?:{'|'.join(_COMPOUND_SURNAMES)})[{_CJK}]{{1,2}}|[{_SURNAMES}][{_CJK}]{{1,3}}"
)
_CN_SHORT_RE: Final = re.compile(rf"[{_CJK}]{{2,4}}")
_CN_MASKED_NAME_RE: Final = re.compile(
    rf"[{_CJK}][*＊]{{1,3}}|[{_CJK}][*＊][{_CJK}]|[*＊][{_CJK}]{{1,2}}"
)
_MINORITY_NAME_RE: Final = re.compile(rf"[{_CJK}]{{1,8}}[·•][{_CJK}]{{1,8}}")
_EN_NAME_RE: Final = re.compile(r"[A-Z][a-z]+(?: [A-Z][a-z'-]+){1,3}")
# Endings of organisations and places, which 2-4 character strings can also be.
_NOT_PERSON_END: Final = (
    *"局委厅处所院校店厂站队部办馆司区县市省镇乡村街路组室",
    "中心",
    "公司",
    "银行",
    "医院",
    "学校",
    "集团",
    "协会",
    "超市",
    "诊所",
    "药房",
    "酒店",
)
_ORG_WORDS_RE: Final = re.compile(
    "公司|中心|委员会|协会|学校|医院|银行|合作社|集团|事务所|研究院|研究所|管理处|办事处|政府"
    "|超市|酒店|宾馆|诊所|药房|工作室|经营部|门市部|商行|俱乐部|基金会"
)
_PROVINCES: Final = "京津沪渝冀豫云辽黑湘皖鲁新苏浙赣鄂桂甘晋蒙陕吉闽贵粤青藏川宁琼"
_PLATE_RE: Final = re.compile(
    rf"[{_PROVINCES}][A-HJ-NP-Z](?:[A-HJ-NP-Z0-9]{{4}}[A-HJ-NP-Z0-9挂学警港澳]"
    r"|[DF][A-HJ-NP-Z0-9]\d{4}|\d{5}[DF])"
)
_ADDRESS_MARK_RE: Final = re.compile("[省市区县镇乡村路街道巷弄号栋幢楼室组]")
_DIGIT_RE: Final = re.compile("[0-9０-９]")
_DATE_RE: Final = re.compile(
    r"(?:18|19|20)\d{2}(?:[-/.年](?:0?[1-9]|1[0-2])(?:[-/.月](?:0?[1-9]|[12]\d|3[01])日?)?"
    r"|(?:0[1-9]|1[0-2])(?:0[1-9]|[12]\d|3[01])?)(?:[ T].*)?"
)
_ID_SHAPE_RE: Final = re.compile(r"\d{17}[\dXx]|\d{15}")
_LANDLINE_RE: Final = re.compile(r"0\d{9,11}|[2-9]\d{6,7}|[48]00\d{7}")
_MASKED_DIGITS_RE: Final = re.compile(r"[\dXx]*\*+[\dXx*]*")
_MASKED_EMAIL_RE: Final = re.compile(r"[^@\s]*\*[^@\s]*@[^@\s]+\.[A-Za-z]{2,}")
_PHONE_JUNK: Final = str.maketrans("", "", " -()")
_NUMERIC_TAIL_RE: Final = re.compile(r"(\d+)\.0*")
_MAX_VALUE_LEN: Final = 120  # longer text is prose, not a single identifier


def _classify(s: str) -> tuple[int, int]:
    """(strict, lenient) kind bits of one value.

    *Strict* evidence can stand on its own (check digits, exact formats); *lenient* evidence
    only corroborates a name (landlines, masked values like ``138****5678``, 15-digit IDs,
    dates, names with uncommon surnames).
    """
    if len(s) > _MAX_VALUE_LEN:
        return 0, 0
    if s.isascii():
        if "@" in s:
            if is_email(s):
                return _EM, _EM
            return (0, _EM) if _MASKED_EMAIL_RE.fullmatch(s) else (0, 0)
        t = s.translate(_PHONE_JUNK)
        digits = t[1:] if t[:1] == "+" else t
        if digits.isdigit():
            size = len(digits)
            if size in (11, 13) and is_mobile_number(t):
                return _PH, _PH
            if size == 18 and is_valid_id_number(t):
                return _ID, _ID
            if 16 <= size <= 19:
                if size == 18 and is_valid_credit_code(t):
                    return 0, 0  # an enterprise's code that happens to be all digits
                if is_valid_bank_card(t):
                    return _BC, _BC
                return (0, _ID) if size == 18 and _ID_SHAPE_RE.fullmatch(t) else (0, 0)
            if size == 15:
                return 0, _ID
            if size in (6, 8) and _DATE_RE.fullmatch(t):
                return 0, _BD
            if _LANDLINE_RE.fullmatch(t):
                return 0, _PH
            return 0, 0
        if len(t) == 18 and t[-1] in "Xx":
            return (_ID, _ID) if is_valid_id_number(t) else (0, _ID)
        if "*" in t and _MASKED_DIGITS_RE.fullmatch(t):
            size = len(t)
            if size == 11:
                return 0, _PH
            lenient = (_ID if size in (15, 18) else 0) | (_BC if 16 <= size <= 19 else 0)
            return 0, lenient
        if s[:1].isdigit() and _DATE_RE.fullmatch(s):
            return 0, _BD
        if _EN_NAME_RE.fullmatch(s):
            return 0, _NM
        return 0, 0

    compact = s.replace("·", "").replace(" ", "")
    if 7 <= len(compact) <= 8 and _PLATE_RE.fullmatch(compact):
        return _PL, _PL
    if len(s) <= 4:
        if _CN_SHORT_RE.fullmatch(s) and not s.endswith(_NOT_PERSON_END):
            return (_NM, _NM) if _CN_NAME_RE.fullmatch(s) else (0, _NM)
        return (0, _NM) if _CN_MASKED_NAME_RE.fullmatch(s) else (0, 0)
    if ("·" in s or "•" in s) and _MINORITY_NAME_RE.fullmatch(s):
        return 0, _NM
    if s[:1].isdigit() and _DATE_RE.fullmatch(s):
        return 0, _BD
    if len(s) >= 6 and not _ORG_WORDS_RE.search(s):
        marks = _ADDRESS_MARK_RE.findall(s)
        if len(marks) >= 2:
            return (_AD, _AD) if _DIGIT_RE.search(s) else (0, _AD)
    return 0, 0


def _as_text(value: object, numeric: bool) -> str | None:
    """A sampled value as stripped text, or None when it is empty or cannot be evidence."""
    if value is None or isinstance(value, bool):
        return None
    if isinstance(value, str):
        text = value
    elif isinstance(value, int):
        if value.bit_length() > 128:  # no identifier is that long; str() could be slow
            return None
        text = str(value)
    elif isinstance(value, float):
        if value != value or value in (float("inf"), float("-inf")):
            return None
        text = str(int(value)) if value.is_integer() and abs(value) < 1e20 else repr(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            return None
        text = str(int(value)) if value == value.to_integral_value() else str(value)
    elif isinstance(value, bytes | bytearray | memoryview):
        text = bytes(value[: _MAX_VALUE_LEN * 4]).decode("utf-8", "replace")
    elif hasattr(value, "as_py"):  # a pyarrow scalar
        return _as_text(value.as_py(), numeric)
    else:
        text = str(value)
    text = text.strip()
    if numeric and "." in text:  # "13812345678.0" from a float column written as text
        m = _NUMERIC_TAIL_RE.fullmatch(text)
        if m:
            text = m.group(1)
    return text or None


class _Evidence:
    """Counts of sampled values per kind; holds no value once :meth:`scan` returns."""

    __slots__ = ("lenient", "n", "name_distinct", "strict")

    def __init__(self) -> None:
        self.n = 0
        self.strict = dict.fromkeys(_KINDS, 0)
        self.lenient = dict.fromkeys(_KINDS, 0)
        self.name_distinct = 0

    @classmethod
    def scan(cls, samples: Iterable[object], numeric: bool, stop_early: bool) -> _Evidence:
        ev = cls()
        # One counter per (strict, lenient) outcome; a column shows only a handful of them.
        outcomes: dict[tuple[int, int], int] = {}
        strict_counts: dict[int, int] = {}
        # Hashes, not the values, to tell 500 people from one person repeated.
        names: set[int] = set()
        total = min(len(samples), MAX_SAMPLES) if isinstance(samples, Sized) else None
        best = n = 0
        for seen, value in enumerate(islice(samples, MAX_SAMPLES), 1):
            try:
                text = _as_text(value, numeric)
            except Exception:  # a value that cannot be read as text is no evidence
                text = None
            if text is not None:
                n += 1
                outcome = _classify(text)
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
                strict = outcome[0]
                if strict:
                    count = strict_counts[strict] = strict_counts.get(strict, 0) + 1
                    best = max(best, count)
                    if strict & _NM:
                        names.add(hash(text))
            # With no name to corroborate, stop once no kind can reach the value-only ratio.
            if stop_early and total is not None and seen % 20 == 0:
                left = total - seen
                if best + left < _VALUE_RATIO * (n + left):
                    break
        ev.n, ev.name_distinct = n, len(names)
        for (strict, lenient), count in outcomes.items():
            if lenient:
                for kind, bit in _BIT.items():
                    if lenient & bit:
                        ev.lenient[kind] += count
                        if strict & bit:
                            ev.strict[kind] += count
        return ev

    def best_value_only(self, allowed: frozenset[PIKind]) -> tuple[PIKind, int] | None:
        """The kind the values show on their own, if they show one clearly."""
        choice: tuple[PIKind, int] | None = None
        for kind in allowed:
            count = self.strict[kind]
            if self.n < _MIN_VALUES.get(kind, _MIN_VALUES_DEFAULT):
                continue
            if count < _VALUE_RATIO * self.n:
                continue
            # Personal names are mostly distinct; a category like 高风险 repeats.
            if kind is _K.NAME and self.name_distinct * 2 < count:
                continue
            if choice is None or count > choice[1]:
                choice = (kind, count)
        return choice


_VALUE_RATIO: Final = 0.8
_PARTIAL_RATIO: Final = 0.5
_MIN_VALUES_DEFAULT: Final = 5
_MIN_VALUES: Final = {_K.NAME: 10, _K.ADDRESS: 10}
_MIN_TO_CONTRADICT: Final = 5
# Value-only confidence at a 100 % match; the more a format proves, the higher.
_VALUE_BASE: Final = {
    _K.ID_NUMBER: 0.9,
    _K.BANK_CARD: 0.85,
    _K.EMAIL: 0.85,
    _K.PHONE: 0.8,
    _K.PLATE_NUMBER: 0.8,
    _K.NAME: 0.7,
    _K.ADDRESS: 0.7,
}
_STRICT_WORDS: Final = {
    _K.ID_NUMBER: "are valid 18-digit ID numbers (check digit)",
    _K.PHONE: "are mobile phone numbers",
    _K.BANK_CARD: "are 16-19 digit card numbers passing the Luhn check",
    _K.EMAIL: "are email addresses",
    _K.PLATE_NUMBER: "are Chinese vehicle plate numbers",
    _K.NAME: "look like Chinese personal names (common surname, 2-4 characters)",
    _K.ADDRESS: "look like street addresses (place markers and a number)",
    _K.BIRTH_DATE: "are dates",
}
_LENIENT_WORDS: Final = {
    _K.ID_NUMBER: "look like ID numbers (18 or 15 digits, or masked)",
    _K.PHONE: "look like phone numbers (mobile, landline or masked)",
    _K.BANK_CARD: "look like bank card numbers (Luhn-valid or masked)",
    _K.EMAIL: "look like email addresses",
    _K.PLATE_NUMBER: "are Chinese vehicle plate numbers",
    _K.NAME: "look like personal names",
    _K.ADDRESS: "look like addresses",
    _K.BIRTH_DATE: "look like dates",
}
_VALUE_KINDS: Final = frozenset(_VALUE_BASE)
_NUMERIC_KINDS: Final = frozenset({_K.ID_NUMBER, _K.PHONE, _K.BANK_CARD, _K.BIRTH_DATE})
_NUMERIC_VALUE_KINDS: Final = _VALUE_KINDS & _NUMERIC_KINDS
_NUMERIC_PREFIXES: Final = ("int", "uint", "decimal", "double", "float", "halffloat")


def _says(source: str, hint: _Hint) -> str:
    verb = "matches" if source == "column name" else "mentions"
    ambiguous = " (ambiguous)" if hint.strength == _WEAK else ""
    return f"{source} {verb} {hint.keyword!r}{ambiguous}"


def _value_only(
    ev: _Evidence, kind: PIKind, count: int, hint: _Hint | None, source: str
) -> Suggestion:
    ratio = count / ev.n
    confidence = round(_VALUE_BASE[kind] - 0.25 * (1 - ratio), 2)
    reason = f"{count} of {ev.n} sampled values {_STRICT_WORDS[kind]}"
    if hint is not None and hint.strength >= _WEAK and hint.kind is not kind:
        reason += f"; the {source} suggested {hint.kind}"
    return Suggestion(kind, reason, confidence)


def suggest_sensitivity(
    name: str,
    *,
    arrow_type: str = "string",
    description: str | None = None,
    samples: Iterable[object] | None = None,
) -> Suggestion | None:
    """Suggest the kind of personal information a column holds, or None.

    ``samples`` may be any iterable (a generator is fine); at most the first
    :data:`MAX_SAMPLES` items are read, ``None`` and blank values are skipped, and nothing
    about them outlives the call except counts. See the module documentation for the rules.
    """
    atype = arrow_type.lower()
    if atype.startswith(("bool", "null")):
        return None

    hint = _name_hint(name)
    source = "column name"
    if (hint is None or hint.strength == _WEAK) and description:
        # Descriptions are prose: the first sentence-sized part says what the column is.
        from_description = _description_hint(description[:_DESCRIPTION_CHARS])
        if from_description is not None and (hint is None or from_description.strength != _WEAK):
            hint, source = from_description, "description"

    if atype.startswith(("date", "timestamp")):
        # Only a birth date can be a date; no value is needed to say so.
        if hint is not None and hint.kind is _K.BIRTH_DATE and hint.strength >= _WEAK:
            return Suggestion(
                _K.BIRTH_DATE, f"{_says(source, hint)} and the column type is a date", 0.9
            )
        return None

    numeric = atype.startswith(_NUMERIC_PREFIXES)
    allowed = _NUMERIC_VALUE_KINDS if numeric else _VALUE_KINDS
    if hint is not None:
        if hint.strength == _NEG:
            if hint.kind is None:
                return None
            allowed = allowed - {hint.kind}
        elif numeric and hint.kind not in _NUMERIC_KINDS:
            hint = None  # a number cannot be a name, an address, an email or a plate

    positive = hint is not None and hint.strength >= _WEAK
    ev = _Evidence.scan(samples, numeric, stop_early=not positive) if samples is not None else None

    if not positive:
        if ev is None or ev.n == 0:
            return None
        best = ev.best_value_only(allowed)
        return _value_only(ev, best[0], best[1], hint, source) if best else None

    assert hint is not None and hint.kind is not None
    kind, strong = hint.kind, hint.strength == _STRONG
    said = _says(source, hint)
    if ev is None or ev.n == 0:
        if ev is not None:
            said += "; every sampled value is empty"
        elif not strong:
            said += "; no sampled values to confirm it"
        return Suggestion(kind, said, 0.6 if strong else 0.3)

    # An ambiguous name must be confirmed by strict evidence (鼓楼 is two characters too).
    counts, words = (ev.lenient, _LENIENT_WORDS) if strong else (ev.strict, _STRICT_WORDS)
    agreeing = counts[kind]
    if ev.strict[kind] >= _VALUE_RATIO * ev.n:  # report the stronger reading when it holds
        agreeing, words = ev.strict[kind], _STRICT_WORDS
    if agreeing >= _VALUE_RATIO * ev.n:
        return Suggestion(
            kind,
            f"{said} and {agreeing} of {ev.n} sampled values {words[kind]}",
            0.95 if strong else 0.9,
        )
    best = ev.best_value_only(allowed - {kind})
    if best is not None:
        return _value_only(ev, best[0], best[1], hint, source)
    if agreeing >= _PARTIAL_RATIO * ev.n:
        return Suggestion(
            kind,
            f"{said} and {agreeing} of {ev.n} sampled values {words[kind]}",
            0.75 if strong else 0.5,
        )
    if ev.n < _MIN_TO_CONTRADICT:
        few = f"; too few non-empty sampled values ({ev.n}) to judge"
        return Suggestion(kind, f"{said}{few}", 0.6 if strong else 0.3)
    if not strong:
        return None
    return Suggestion(
        kind, f"{said} but only {agreeing} of {ev.n} sampled values {words[kind]}", 0.3
    )
