"""Static reference data: geography (with resident-ID area codes), names, agencies, teams.

Kept as small tuples so borrowers/staff modules can index them with numpy arrays.
"""

from __future__ import annotations

import numpy as np

# (province, weight, [(city, 4-digit area-code prefix, city tier, weight), ...])
PROVINCES: tuple[tuple[str, float, tuple[tuple[str, int, int, float], ...]], ...] = (
    (
        "广东省",
        0.14,
        (
            ("广州市", 4401, 1, 0.35),
            ("深圳市", 4403, 1, 0.30),
            ("东莞市", 4419, 2, 0.2),
            ("佛山市", 4406, 2, 0.15),
        ),
    ),
    (
        "江苏省",
        0.09,
        (("南京市", 3201, 2, 0.4), ("苏州市", 3205, 2, 0.4), ("无锡市", 3202, 2, 0.2)),
    ),
    (
        "浙江省",
        0.08,
        (("杭州市", 3301, 2, 0.5), ("宁波市", 3302, 2, 0.3), ("温州市", 3303, 3, 0.2)),
    ),
    (
        "山东省",
        0.08,
        (("济南市", 3701, 2, 0.35), ("青岛市", 3702, 2, 0.4), ("临沂市", 3713, 3, 0.25)),
    ),
    (
        "河南省",
        0.08,
        (("郑州市", 4101, 2, 0.5), ("洛阳市", 4103, 3, 0.25), ("南阳市", 4113, 3, 0.25)),
    ),
    (
        "四川省",
        0.08,
        (("成都市", 5101, 2, 0.65), ("绵阳市", 5107, 3, 0.2), ("南充市", 5113, 3, 0.15)),
    ),
    (
        "湖北省",
        0.06,
        (("武汉市", 4201, 2, 0.65), ("宜昌市", 4205, 3, 0.2), ("襄阳市", 4206, 3, 0.15)),
    ),
    (
        "湖南省",
        0.06,
        (("长沙市", 4301, 2, 0.6), ("衡阳市", 4304, 3, 0.2), ("岳阳市", 4306, 3, 0.2)),
    ),
    (
        "河北省",
        0.06,
        (("石家庄市", 1301, 3, 0.45), ("保定市", 1306, 3, 0.3), ("唐山市", 1302, 3, 0.25)),
    ),
    (
        "福建省",
        0.05,
        (("福州市", 3501, 2, 0.4), ("厦门市", 3502, 2, 0.35), ("泉州市", 3505, 3, 0.25)),
    ),
    (
        "安徽省",
        0.05,
        (("合肥市", 3401, 2, 0.55), ("芜湖市", 3402, 3, 0.25), ("阜阳市", 3412, 3, 0.2)),
    ),
    ("北京市", 0.04, (("北京市", 1101, 1, 1.0),)),
    ("上海市", 0.04, (("上海市", 3101, 1, 1.0),)),
    (
        "广西壮族自治区",
        0.05,
        (("南宁市", 4501, 3, 0.5), ("柳州市", 4502, 3, 0.3), ("桂林市", 4503, 3, 0.2)),
    ),
    ("新疆维吾尔自治区", 0.04, (("乌鲁木齐市", 6501, 3, 0.7), ("喀什地区", 6531, 3, 0.3))),
)
XINJIANG = "新疆维吾尔自治区"
URUMQI_SHARE_IN_XINJIANG = 0.4  # many Xinjiang residents keep Beijing time
TIER_INCOME_FACTOR = np.array([0.0, 1.5, 1.05, 0.78])  # index by tier 1..3


def flat_cities() -> tuple[list[str], list[str], np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """Cities flattened: province names, city names, province index, area prefix, tier, weight."""
    prov_names, city_names, prov_idx, prefix, tier, weight = [], [], [], [], [], []
    for p, (pname, pw, cities) in enumerate(PROVINCES):
        prov_names.append(pname)
        for cname, code, t, cw in cities:
            city_names.append(cname)
            prov_idx.append(p)
            prefix.append(code)
            tier.append(t)
            weight.append(pw * cw)
    w = np.asarray(weight)
    return (
        prov_names,
        city_names,
        np.asarray(prov_idx),
        np.asarray(prefix),
        np.asarray(tier),
        w / w.sum(),
    )


SURNAMES = tuple(
    "王李张刘陈杨黄赵吴周徐孙马朱胡郭何高林罗郑梁谢宋唐许韩冯邓曹彭曾肖田董袁潘于蒋蔡余杜叶程苏魏吕丁任沈"
)
_SURNAME_W = [
    7.1,
    7.0,
    6.7,
    5.4,
    4.5,
    3.1,
    2.2,
    2.0,
    2.0,
    1.6,
    1.3,
    1.3,
    1.2,
    1.1,
    1.1,
    1.1,
    1.0,
    1.0,
    0.9,
    0.9,
]
SURNAME_WEIGHTS = np.asarray(
    _SURNAME_W + [0.8 - 0.01 * i for i in range(len(SURNAMES) - len(_SURNAME_W))]
)
SURNAME_WEIGHTS = SURNAME_WEIGHTS / SURNAME_WEIGHTS.sum()
GIVEN_CHARS = tuple(
    "伟芳娜敏静丽强磊军洋勇艳杰娟涛明超秀英霞平刚桂华飞玉建文辉红鹏宇浩俊帅婷雪琳晨欣子梓涵轩睿博佳怡嘉一思雨泽晓海志鑫颖倩龙阳"
)
MOBILE_PREFIXES = np.array(
    [
        130,
        131,
        132,
        133,
        135,
        136,
        137,
        138,
        139,
        150,
        151,
        152,
        155,
        156,
        157,
        158,
        159,
        166,
        176,
        177,
        180,
        181,
        182,
        183,
        186,
        187,
        188,
        189,
        191,
        199,
    ]
)

# Agencies: (id, name, commission, base monthly capacity per 100k loans, provinces ('' = all),
#            liquidation multiplier on the cure hazard (hidden: only the truth knows it))
AGENCIES = (
    ("AG01", "华信资产管理有限公司", 0.20, 900, "", 1.00),
    ("AG02", "鼎诚商务咨询有限公司", 0.25, 500, "广东省,广西壮族自治区,福建省", 1.30),
    ("AG03", "恒安信用管理有限公司", 0.18, 600, "江苏省,浙江省,上海市,安徽省", 0.85),
    ("AG04", "正源资产服务有限公司", 0.32, 450, "四川省,湖北省,湖南省,河南省", 1.45),
    ("AG05", "北方信达催收服务有限公司", 0.22, 450, "北京市,河北省,山东省,新疆维吾尔自治区", 0.75),
)
# Later drops: AG05 is deactivated, AG02 capacity is raised (fractions of the history window).
AGENCY_DEACTIVATE = ("AG05", 0.6)
AGENCY_CAPACITY_CHANGE = ("AG02", 0.4, 1.5)

# Collector teams: (team, role, head count, daily capacity range)
TEAMS = (
    ("early-1", "call", 10, (90, 150)),
    ("early-2", "call", 10, (90, 150)),
    ("mid-1", "call", 8, (60, 110)),
    ("mid-2", "call", 8, (60, 110)),
    ("field-south", "field", 5, (6, 12)),
    ("field-north", "field", 5, (6, 12)),
    ("legal", "legal", 4, (20, 40)),
)
COLLECTOR_DEACTIVATE_FRACTION = 0.5  # one early collector leaves halfway through the window
