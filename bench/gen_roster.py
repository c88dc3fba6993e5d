#!/usr/bin/env python3
"""Deterministic synthetic roster for the mailconf benchmark.

Writes a UTF-8 CSV (header `氏名,メールアドレス,所属`) of N people at kyoto-u.ac.jp:
mostly Japanese names in kanji and romanised names, plus a share of hostile names that
every output format must escape (`&`, `<`, `"`, `]]>`, `=`, `[`, emoji, full-width space).

Addresses are unique and in mailconf's safe set (ASCII letters, digits, `.`, `_`, `-`, `+`);
names never hold control characters. Same seed and N -> byte-identical file.

Usage: gen_roster.py N OUT.csv [--seed S]
"""

import argparse
import csv
import random

DOMAIN = "kyoto-u.ac.jp"

# (kanji, romanisation) pairs.
SURNAMES = [
    ("佐藤", "sato"), ("鈴木", "suzuki"), ("高橋", "takahashi"), ("田中", "tanaka"),
    ("伊藤", "ito"), ("渡辺", "watanabe"), ("山本", "yamamoto"), ("中村", "nakamura"),
    ("小林", "kobayashi"), ("加藤", "kato"), ("吉田", "yoshida"), ("山田", "yamada"),
    ("佐々木", "sasaki"), ("山口", "yamaguchi"), ("松本", "matsumoto"), ("井上", "inoue"),
    ("木村", "kimura"), ("林", "hayashi"), ("斎藤", "saito"), ("清水", "shimizu"),
    ("山崎", "yamazaki"), ("森", "mori"), ("池田", "ikeda"), ("橋本", "hashimoto"),
    ("阿部", "abe"), ("石川", "ishikawa"), ("京大", "kyodai"), ("長谷川", "hasegawa"),
]
GIVEN = [
    ("太郎", "taro"), ("花子", "hanako"), ("一郎", "ichiro"), ("美咲", "misaki"),
    ("翔太", "shota"), ("陽菜", "hina"), ("大輔", "daisuke"), ("さくら", "sakura"),
    ("健太", "kenta"), ("結衣", "yui"), ("拓也", "takuya"), ("愛", "ai"),
    ("直樹", "naoki"), ("優子", "yuko"), ("翼", "tsubasa"), ("由美", "yumi"),
    ("誠", "makoto"), ("彩", "aya"), ("悠斗", "yuto"), ("千尋", "chihiro"),
]
DEPARTMENTS = ["情報学研究科", "工学研究科", "理学研究科", "医学研究科", "文学研究科", "本部"]

# Names that stress escaping: XML/HTML/plist markup, CSV/INI/registry syntax, emoji.
HOSTILE = [
    "Tom & Jerry",
    "<script>alert(1)</script>",
    'Dr. "Quote" O\'Brien',
    "end ]]> of CDATA",
    "key=value; [section]",
    "山田 🎓 太郎",
    "🍣🍺 Sushi & Beer 🍺🍣",
    "[Lab] 研究室 <管理者>",
    "a=b&c=d",
    "\u3000全角　スペース\u3000",
    "Ünïcödé Çàfé — ‘quotes’",
    # One '%' only: a name with text between two '%' signs is refused for Outlook's PRF (it may
    # expand it as a variable), and the benchmark measures rosters that bundle in full.
    "100% ${HOME} $(id) EMAILADDRESS",
]


def person(rng: random.Random, i: int) -> tuple[str, str, str]:
    """Name, address and department of person number i (addresses unique by i)."""
    sur_k, sur_r = rng.choice(SURNAMES)
    giv_k, giv_r = rng.choice(GIVEN)
    kind = rng.random()
    if kind < 0.55:
        name = f"{sur_k} {giv_k}"                       # 山田 太郎
    elif kind < 0.60:
        name = f"{sur_k}\u3000{giv_k}"                  # full-width space, as typed in Excel
    elif kind < 0.85:
        name = f"{giv_r.capitalize()} {sur_r.upper()}"  # Taro YAMADA
    elif kind < 0.95:
        name = rng.choice(HOSTILE)
    else:
        name = ""                                       # no name: the address is shown
    sep = rng.choice([".", "_", "-"])
    # A base-36 tag of i keeps addresses unique; some use +tags and capitals (lower-cased by mailconf).
    tag = to36(i)
    local = f"{giv_r}{sep}{sur_r}.{tag}"
    if rng.random() < 0.05:
        local += "+mail"
    if rng.random() < 0.05:
        local = local.capitalize()
    return name, f"{local}@{DOMAIN}", rng.choice(DEPARTMENTS)


def to36(n: int) -> str:
    digits = "0123456789abcdefghijklmnopqrstuvwxyz"
    out = ""
    while True:
        n, r = divmod(n, 36)
        out = digits[r] + out
        if n == 0:
            return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("n", type=int)
    ap.add_argument("out")
    ap.add_argument("--seed", type=int, default=20261127)
    args = ap.parse_args()
    rng = random.Random(args.seed)
    with open(args.out, "w", encoding="utf-8", newline="") as f:
        w = csv.writer(f, lineterminator="\r\n")
        w.writerow(["氏名", "メールアドレス", "所属"])
        for i in range(args.n):
            w.writerow(person(rng, i))


if __name__ == "__main__":
    main()
