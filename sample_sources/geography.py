"""The one city every department of the sample describes: 福州市 and its 13 county-level units.

District codes are the real GB/T 2260 codes, so a district code generated here joins
across all departments and can be checked against public lists. Populations are rounded
approximations used only as realistic attribute values and sampling weights.
"""

from __future__ import annotations

from dataclasses import dataclass

CITY_NAME = "福州市"
CITY_CODE = "350100"
PROVINCE_NAME = "福建省"


@dataclass(frozen=True)
class District:
    """A county-level unit with what the generators need to place things in it."""

    code: str
    name: str
    population: int
    enterprise_weight: float  # share of registered enterprises
    recipient_weight: float  # share of social-assistance recipients
    lot_weight: float  # share of public parking lots
    rate_tier: int  # 1 = city centre parking prices, 3 = county town prices
    lat: float
    lon: float
    roads: tuple[str, ...]
    landmarks: tuple[str, ...]


# code, name, population, enterprise / recipient / lot weights, parking rate tier, lat, lon
_ROWS = (
    ("350102", "鼓楼区", 907_000, 16, 8, 18, 1, 26.0823, 119.2965),
    ("350103", "台江区", 507_000, 10, 5, 12, 1, 26.0529, 119.3145),
    ("350104", "仓山区", 1_203_000, 14, 11, 14, 2, 26.0468, 119.2733),
    ("350105", "马尾区", 262_000, 6, 3, 5, 2, 25.9891, 119.4555),
    ("350111", "晋安区", 997_000, 12, 10, 12, 2, 26.0818, 119.3284),
    ("350112", "长乐区", 753_000, 7, 8, 6, 2, 25.9623, 119.5232),
    ("350121", "闽侯县", 1_006_000, 9, 11, 7, 2, 26.1502, 119.1312),
    ("350122", "连江县", 586_000, 4, 9, 3, 3, 26.1974, 119.5397),
    ("350123", "罗源县", 214_000, 2, 5, 2, 3, 26.4897, 119.5490),
    ("350124", "闽清县", 234_000, 2, 5, 2, 3, 26.2216, 118.8636),
    ("350125", "永泰县", 259_000, 2, 6, 2, 3, 25.8664, 118.9324),
    ("350128", "平潭县", 386_000, 4, 6, 4, 2, 25.4990, 119.7900),
    ("350181", "福清市", 1_390_000, 12, 13, 10, 2, 25.7210, 119.3840),
)
# Main roads (for door-plate addresses) and landmarks (for parking lot names), space-separated.
_ROADS = {
    "350102": "五四路 杨桥中路 东街 湖东路 古田路 北大路 西二环中路 铜盘路 乌山路 白马北路",
    "350103": "八一七中路 工业路 宝龙街 江滨中大道 上海路 学军路 广达路 新港路 群众路",
    "350104": "首山路 建新南路 金山大道 则徐大道 南江滨西大道 上三路 福湾路 浦上大道",
    "350105": "罗星路 江滨东大道 儒江西路 快安大道 君竹路 沿山西路",
    "350111": "福新中路 长乐北路 岳峰路 连江北路 鼓山大道 福马路 象园路 塔头路 秀峰路",
    "350112": "吴航路 郑和路 和平街 首占大道 航城路 郑和西路",
    "350121": "学府南路 高新大道 溪源宫路 甘洪路 乌龙江南大道 上街大道",
    "350122": "丹凤东路 滨江路 玉泉路 东湖路 贵安路",
    "350123": "凤山路 罗川大道 南门路 北环路",
    "350124": "梅城路 台山路 解放大街 滨江路",
    "350125": "城峰路 青云路 解放路 樟城大道",
    "350128": "中山大道 西航路 坛南湾大道 麒麟路",
    "350181": "清昌大道 一拂路 福唐路 融城路 龙江路 清荣大道",
}
_LANDMARKS = {
    "350102": "东街口 三坊七巷 五一广场 西湖公园 屏山 温泉公园 省立医院 华林",
    "350103": "万象城 中亭街 上下杭 宝龙城市广场 达明路 台江步行街 茶亭公园",
    "350104": "万达广场 烟台山 金山公园 福建师大 福州南站 海峡奥体中心 三叉街",
    "350105": "马尾船政 东江滨公园 亭江 快安 马尾万达",
    "350111": "福州火车站 王庄 五四北 鼓山 东二环泰禾 宦溪 岳峰",
    "350112": "长乐国际机场 吴航 滨海新城 长乐万星 下沙海滨",
    "350121": "大学城 上街 甘蔗 青口 南通",
    "350122": "凤城 琯头 贵安温泉 敖江",
    "350123": "凤山 罗川 碧里",
    "350124": "梅城 白岩山 梅溪",
    "350125": "樟城 青云山 嵩口",
    "350128": "海坛古城 龙凤头 坛南湾 平潭港区",
    "350181": "融城 福清万达 玉屏 龙田 江阴港",
}

DISTRICTS: tuple[District, ...] = tuple(
    District(*row, roads=tuple(_ROADS[row[0]].split()), landmarks=tuple(_LANDMARKS[row[0]].split()))
    for row in _ROWS
)
DISTRICT_BY_CODE: dict[str, District] = {d.code: d for d in DISTRICTS}

# Birth-registration areas of people living in 福州 but born elsewhere in 福建省.
OTHER_FUJIAN_AREAS: tuple[str, ...] = ("350322", "350521", "350583", "350628", "350721", "350921")
