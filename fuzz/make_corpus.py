#!/usr/bin/env python3
"""Writes the fuzzers' seed corpus: rosters as Excel and other tools export them.

Run from this folder: python3 make_corpus.py (the output is committed; this is only a record of
how it was made)."""
import os

out = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
os.makedirs(out, exist_ok=True)


def write(name, data):
    with open(os.path.join(out, name), "wb") as f:
        f.write(data)


# Excel "CSV (comma delimited)" on Japanese Windows: CP932, CRLF, no BOM.
write("excel-cp932-crlf.csv", (
    "所属,氏名,メールアドレス,備考\r\n"
    "情報学研究科,山田 太郎,Taro.Yamada@kyoto-u.ac.jp,\r\n"
    "理学研究科,京大 花子,hanako@kyoto-u.ac.jp,〜 波ダッシュ\r\n"
    "工学研究科,\"佐藤, 次郎\",jiro.sato@kyoto-u.ac.jp,\"引用 \"\"符\"\"\"\r\n"
    ",,,\r\n"
).encode("cp932"))

# Excel "Unicode text": UTF-16LE with BOM, tab separated, CRLF, quoted where needed.
write("excel-utf16le-bom.tsv", b"\xff\xfe" + (
    "Name\tE-mail\tDept\r\n"
    "\"A, B\"\ta@kyoto-u.ac.jp\tx\r\n"
    "\"multi\nline\"\tb@kyoto-u.ac.jp\ty\r\n"
    "山田 太郎\tc@kyoto-u.ac.jp\t\r\n"
    "😀 emoji\td+tag@kyoto-u.ac.jp\t\r\n"
).encode("utf-16-le"))

# UTF-16BE with BOM (rare, but Excel on a Mac can be told to).
write("utf16be-bom.tsv", b"\xfe\xff" + (
    "name\temail\r\nBig Endian\tbe@kyoto-u.ac.jp\r\n"
).encode("utf-16-be"))

# UTF-16LE without a BOM (some converters).
write("utf16le-nobom.csv", (
    "email,name\r\nnobom@kyoto-u.ac.jp,No BOM\r\n"
).encode("utf-16-le"))

# Excel "CSV UTF-8": BOM, CRLF, quoted fields with commas, quotes and a newline.
write("excel-utf8-bom.csv", b"\xef\xbb\xbf" + (
    "氏名,メールアドレス\r\n"
    "\"Yamada, Taro\",taro@kyoto-u.ac.jp\r\n"
    "\"He said \"\"hi\"\"\",said@kyoto-u.ac.jp\r\n"
    "\"line\r\nbreak\",lb@kyoto-u.ac.jp\r\n"
    "A & B <c> ]]> = [x] ; \\ %,markup@kyoto-u.ac.jp\r\n"
).encode("utf-8"))

# Trailing empty columns and rows, as Excel leaves them after deleting cells.
write("trailing-empty-columns.csv", (
    "email,name,,,\r\n"
    "a@kyoto-u.ac.jp,A,,,\r\n"
    ",,,,\r\n"
    "b@kyoto-u.ac.jp,,,,\r\n"
    ",,,,\r\n"
    ",,,,\r\n"
).encode("utf-8"))

# Excel's ="0123" cells (keeping leading zeros), and a formula-looking name.
write("excel-formula-cells.csv", (
    "社員番号,email,name\r\n"
    "=\"0123\",a@kyoto-u.ac.jp,=SUM(A1:A2)\r\n"
    "=\"0456\",b@kyoto-u.ac.jp,\"=HYPERLINK(\"\"http://x\"\")\"\r\n"
).encode("utf-8"))

# Japanese headers, LF only, full-width spaces around values.
write("japanese-headers-lf.csv", (
    "表示名,E-Mail\n"
    "\u3000山田\u3000太郎\u3000, TARO@KYOTO-U.AC.JP \n"
    "京大\u3000花子,hanako@kyoto-u.ac.jp\n"
).encode("utf-8"))

# Problems of every kind: reported with their lines.
write("problems.csv", (
    "name,email\n"
    "ok,ok@kyoto-u.ac.jp\n"
    "bad,not-an-address\n"
    "other,b@example.com\n"
    "dup,OK@KYOTO-U.AC.JP\n"
    "\"multi\nline\",c@kyoto-u.ac.jp\n"
    "slash,d/e@kyoto-u.ac.jp\n"
    "ctl\x01,e@kyoto-u.ac.jp\n"
).encode("utf-8"))

# A password column, which is refused.
write("password-column.csv", b"email,Password\r\na@kyoto-u.ac.jp,secret\r\n")

# Hostile names that must stay data in every format.
write("hostile-names.csv", (
    "email,name\n"
    "x1@kyoto-u.ac.jp,\"]]></string><key>IncomingPassword</key><string>x\"\n"
    "x2@kyoto-u.ac.jp,\"[General]\"\n"
    "x3@kyoto-u.ac.jp,\"\u202eevil\u202c name\"\n"
    "x4@kyoto-u.ac.jp,\"%PATH% 100%\"\n"
    "x5@kyoto-u.ac.jp,\"e\u0301\u0301\u0301 combining\"\n"
    "x6@kyoto-u.ac.jp,\"\"\"quoted\"\"\"\n"
    "x7@kyoto-u.ac.jp,\"<script>alert(1)</script>\"\n"
).encode("utf-8"))
