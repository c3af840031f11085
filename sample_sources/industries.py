"""国民经济行业分类 (GB/T 4754-2017) sections with the economics the departments derive from.

Each section carries a typical firm size, revenue per employee, wage and tax burden, so that
social insurance and tax figures of one enterprise are consistent with each other and with
its industry (a software firm pays more per head than a restaurant, a trader has more
revenue per head than either).
"""

from __future__ import annotations

from dataclasses import dataclass

from .sampling import Weighted


@dataclass(frozen=True)
class Industry:
    code: str  # GB/T 4754 section letter
    name: str
    weight: float  # share of registered enterprises
    phrases: tuple[str, ...]  # 行业表述 used in company names
    employees_median: float
    revenue_per_head: float  # yuan per employee per month
    wage: float  # average monthly wage, yuan (social insurance base before capping)
    vat_burden: float  # VAT paid as share of revenue for general taxpayers
    margin: float  # profit as share of revenue


# code, name, weight, median employees, revenue per head, wage, VAT burden, margin
_ROWS = (
    ("A", "农、林、牧、渔业", 2.0, 6, 25_000, 4_800, 0.010, 0.06),
    ("B", "采矿业", 0.3, 15, 60_000, 6_500, 0.040, 0.12),
    ("C", "制造业", 10.0, 18, 55_000, 6_200, 0.030, 0.07),
    ("D", "电力、热力、燃气及水生产和供应业", 0.5, 25, 120_000, 9_500, 0.040, 0.10),
    ("E", "建筑业", 7.0, 12, 45_000, 6_800, 0.025, 0.06),
    ("F", "批发和零售业", 30.0, 4, 110_000, 5_600, 0.012, 0.03),
    ("G", "交通运输、仓储和邮政业", 3.0, 10, 40_000, 6_300, 0.020, 0.05),
    ("H", "住宿和餐饮业", 5.0, 8, 18_000, 4_600, 0.020, 0.06),
    ("I", "信息传输、软件和信息技术服务业", 8.0, 9, 35_000, 11_500, 0.030, 0.12),
    ("J", "金融业", 1.0, 8, 80_000, 14_000, 0.050, 0.25),
    ("K", "房地产业", 3.0, 10, 70_000, 6_500, 0.050, 0.10),
    ("L", "租赁和商务服务业", 15.0, 4, 30_000, 6_000, 0.030, 0.10),
    ("M", "科学研究和技术服务业", 7.0, 6, 30_000, 9_000, 0.030, 0.12),
    ("N", "水利、环境和公共设施管理业", 0.8, 15, 25_000, 5_200, 0.020, 0.06),
    ("O", "居民服务、修理和其他服务业", 3.0, 5, 15_000, 4_500, 0.020, 0.07),
    ("P", "教育", 1.5, 8, 15_000, 6_000, 0.020, 0.08),
    ("Q", "卫生和社会工作", 1.0, 12, 22_000, 7_500, 0.010, 0.08),
    ("R", "文化、体育和娱乐业", 2.0, 5, 20_000, 6_500, 0.030, 0.08),
)
# 行业表述 that company names of each section use, space-separated.
_PHRASES = {
    "A": "农业发展 生态农业 茶业 水产养殖 果蔬种植 林业开发",
    "B": "矿业 石材开采",
    "C": "机械制造 电子科技 食品 服装 鞋业 新材料 五金制品 纺织 包装材料 精密机械 电机",
    "D": "能源 燃气 新能源科技 水务",
    "E": "建筑工程 建设工程 装饰工程 市政工程 园林绿化工程 钢结构工程",
    "F": "贸易 商贸 进出口贸易 百货 医药 建材 电子商务 食品贸易 汽车销售 茶叶",
    "G": "物流 供应链管理 运输 货运代理 仓储",
    "H": "餐饮管理 酒店管理 餐饮 食品连锁",
    "I": "信息技术 网络科技 软件 数据科技 智能科技 云计算",
    "J": "投资管理 融资担保 资产管理 典当 小额贷款",
    "K": "房地产开发 置业 物业管理 房地产营销策划",
    "L": "企业管理咨询 商务咨询 人力资源 广告 会展服务 停车场管理 企业管理 知识产权代理",
    "M": "检测技术 工程设计 生物科技 环保科技 技术服务",
    "N": "环境工程 环卫服务 园林管理",
    "O": "家政服务 汽车维修 保洁服务 美容美发",
    "P": "教育咨询 培训 文化教育",
    "Q": "医疗管理 健康管理 养老服务 门诊部",
    "R": "文化传媒 影视 体育发展 文化艺术",
}

INDUSTRIES: tuple[Industry, ...] = tuple(
    Industry(code, name, weight, tuple(_PHRASES[code].split()), *economics)
    for code, name, weight, *economics in _ROWS
)
INDUSTRY_MIX: Weighted[Industry] = Weighted(INDUSTRIES, [i.weight for i in INDUSTRIES])
INDUSTRY_BY_CODE: dict[str, Industry] = {i.code: i for i in INDUSTRIES}
