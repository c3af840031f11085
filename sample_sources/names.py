"""Chinese person names, company names and street addresses for the sample city.

Surname weights follow the 福州 pattern (陈 and 林 dominate, "陈林半天下"), so name-based
profiling and fuzzy matching behave as on real data. Company names follow the registered
name structure 行政区划 + 字号 + 行业表述 + 组织形式 (e.g. 福州闽江云图科技有限公司).
"""

from __future__ import annotations

from random import Random

from .geography import CITY_NAME, District
from .sampling import Weighted, chance, pick

# Surname and relative frequency in 福州.
_SURNAME_TABLE = (
    "陈:12 林:11 黄:6 张:5 吴:4 郑:4 王:4 李:4 刘:3 杨:2.5 何:2 郭:2 周:1.8 许:1.8 江:1.5 "
    "叶:1.5 游:1 邱:1 曾:1.2 詹:0.8 魏:1 薛:0.8 卓:0.6 潘:1 高:1 翁:0.8 蔡:1.2 池:0.5 "
    "庄:0.8 罗:1 苏:1 谢:1.2 方:1 朱:1 徐:1 施:0.6 赖:0.6 俞:0.5 孙:0.8 马:0.6 胡:0.8 "
    "欧阳:0.2 萨:0.1 官:0.2 阮:0.4 严:0.5 肖:0.6 程:0.5"
)
SURNAMES: Weighted[str] = Weighted.of(
    [(name, float(weight)) for name, weight in (e.split(":") for e in _SURNAME_TABLE.split())]
)

_MALE_CHARS = (
    "伟强磊军勇杰涛明超斌辉鹏华建国平志文榕峰晨宇浩俊鑫凯翔宏彬海坤锋波亮健铭"
    "涵航毅晖宁清德福忠恒钦闽杭泽霖炜煌铨诚"
)
_FEMALE_CHARS = (
    "芳娜敏静丽燕艳娟霞玲婷雪琳颖慧萍红梅莉丹洁欣怡佳雯琴秀英兰凤晶倩珊瑶蓉菁婧璐蕾岚薇琦惠榕清莹瑜"
)


def person_name(rng: Random, male: bool) -> str:
    """A two- or three-character (rarely four, with a compound surname) Chinese name."""
    chars = _MALE_CHARS if male else _FEMALE_CHARS
    given = pick(rng, chars)
    if rng.random() < 0.72:
        given += pick(rng, chars)
    return SURNAMES.pick(rng) + given


_BRAND_CHARS = (
    "华鑫源恒达信瑞丰盛泰祥宏远天海成康福嘉安创新兴辰星云图博智联锐宇通合和益晟昊"
    "鼎骏弘润誉协力众鸿凯腾旭阳明光美佳优品尚臻德懋茂隆昌顺富元金宝钰耀峰帆航翔飞"
    "越科捷迅融汇聚方正道诚朗泽森禾田艺匠谷岚溪榕闽江湾屿睿哲思维赢策纳百川启"
)
_LOCAL_WORDS = ("闽江", "榕城", "闽都", "海峡", "鼓山", "三坊", "福瑞", "左海", "闽侯", "乌山")


def company_name(rng: Random, district: District, phrases: tuple[str, ...], big: bool) -> str:
    """A registered enterprise name; bigger firms more often carry a provincial prefix."""
    brand = pick(rng, _BRAND_CHARS) + pick(rng, _BRAND_CHARS)
    if chance(rng, 0.2):
        brand = pick(rng, _LOCAL_WORDS) + brand
    phrase = pick(rng, phrases)
    if big and chance(rng, 0.3):
        form = pick(rng, ("股份有限公司", "集团有限公司", "股份有限公司"))
    else:
        form = "有限责任公司" if chance(rng, 0.1) else "有限公司"
    r = rng.random()
    if r < (0.35 if big else 0.15):
        return f"福建{brand}{phrase}{form}"
    if r < 0.5:
        return f"{CITY_NAME}{district.name}{brand}{phrase}{form}"
    if r < 0.6:
        return f"{brand}（福州）{phrase}{form}"
    return f"福州{brand}{phrase}{form}"


def street_address(rng: Random, district: District) -> str:
    """A door-plate address: 福州市仓山区首山路88号."""
    return f"{CITY_NAME}{district.name}{pick(rng, district.roads)}{1 + int(rng.random() * 399)}号"


def home_address(rng: Random, district: District) -> str:
    """A residential address down to the flat: 福州市鼓楼区五四路88号3栋502室."""
    building = 1 + int(rng.random() * 18)
    floor = 1 + int(rng.random() * 26)
    room = floor * 100 + 1 + int(rng.random() * 4)
    return f"{street_address(rng, district)}{building}栋{room}室"
