"""MovieLens-100K as click-style data, and a function that downloads it.

The directory GroupLens ships (ml-100k/) holds, among others:

    u.data    user id <tab> item id <tab> rating 1..5 <tab> unix time   (100,000 ratings)
    u.user    user id | age | gender | occupation | zip code
    u.item    item id | title | release date | video date | IMDb URL | 19 genre flags 0/1  (latin-1)
    u.genre   genre name | index                                         (optional here)
    u1.base, u1.test, ...  the same format as u.data: ready-made train/test splits

`MovieLensReader(path)` takes the directory (reads u.data) or one ratings
file inside it (e.g. ml-100k/u1.base), and gives each rating as one row:

    user, item, gender, occupation, zip (first 3 characters), hour, weekday : categorical
    age                                                                      : numeric
    genres                                                                   : multi-valued
    label = 1 if rating >= 4 else 0

A user id missing from u.user (or an item id missing from u.item) - a new
user at prediction time - is not an error: the id is kept as it is (the
encoder sends an id never seen in training to the field's OOV row) and its
side features are missing (age NaN; gender, occupation, zip ""; no genres).
Such rows are counted and reported in one warning per file.

hour and weekday are taken from the timestamp in UTC (weekday 0 = Monday);
unix time 0 was a Thursday, so weekday = (days since 1970-01-01 + 3) mod 7.

`download_movielens(dest)` fetches the official zip, checks its SHA-256 and
unpacks it; it is for users with internet access - the tests never call it.
"""
from __future__ import annotations

import hashlib
import shutil
import tempfile
import urllib.request
import zipfile
from pathlib import Path

import numpy as np

from ..errors import DataError
from .raw import BLOCK_BYTES, BlockReader, ColumnSpec, RawChunk, ReadStats, TokenLists, check_file

ML100K_URL = "https://files.grouplens.org/datasets/movielens/ml-100k.zip"
ML100K_SHA256 = "50d2a982c66986937beb9ffb3aa76efe955bf3d5c6b761f4e3a7cd717c6a3229"

GENRES = ("unknown", "Action", "Adventure", "Animation", "Children's", "Comedy", "Crime",
          "Documentary", "Drama", "Fantasy", "Film-Noir", "Horror", "Musical", "Mystery",
          "Romance", "Sci-Fi", "Thriller", "War", "Western")

COLUMNS = (ColumnSpec("user", "categorical"), ColumnSpec("item", "categorical"),
           ColumnSpec("age", "numeric"), ColumnSpec("gender", "categorical"),
           ColumnSpec("occupation", "categorical"), ColumnSpec("zip", "categorical"),
           ColumnSpec("genres", "multi"), ColumnSpec("hour", "categorical"),
           ColumnSpec("weekday", "categorical"))


def _read_table(path: Path, sep: str, min_cols: int, encoding: str) -> dict:
    """{first column: list of columns} of a small '|'-separated side file; DataError on bad rows."""
    p = Path(path)
    if not p.exists():
        raise DataError(f"MovieLens side file {p.name} not found beside the ratings file: pass the ml-100k "
                        f"directory, or a ratings file inside it (e.g. ml-100k/u1.base), so that u.user and "
                        f"u.item are in the same directory", p)
    p = check_file(p)
    try:
        data = p.read_bytes()
        text = data[3:].decode(encoding) if data.startswith(b"\xef\xbb\xbf") else data.decode(encoding)
    except UnicodeDecodeError as e:
        raise DataError(f"not {encoding} text ({e.reason})", p) from None
    rows = {}
    for no, line in enumerate(text.split("\n"), start=1):
        line = line.rstrip("\r")
        if not line.strip():
            continue
        cells = line.split(sep)
        if len(cells) < min_cols:
            raise DataError(f"expected at least {min_cols} '{sep}'-separated columns, got {len(cells)}",
                            p, no)
        key = cells[0].strip()
        if key in rows:
            raise DataError("id appears twice", p, no, 1, key)
        rows[key] = cells
    if not rows:
        raise DataError("empty file: no data rows", p)
    return rows


_NO_USER = (np.nan, "", "", "")    # side features of a user missing from u.user


class MovieLensReader(BlockReader):
    """ml-100k directory (or a ratings file inside it) -> RawChunks with the columns above."""

    format = "movielens"

    def __init__(self, path, *, skip_bad_rows: bool = False, block_bytes: int = BLOCK_BYTES):
        p = Path(path)
        if p.is_dir():
            self.directory, self.path = p, p / "u.data"
        else:
            self.directory, self.path = p.parent, p
        check_file(self.path)
        self.skip_bad_rows = bool(skip_bad_rows)
        self.block_bytes = int(block_bytes)
        self.columns = COLUMNS
        self.stats = ReadStats()
        self._users = None
        self._items = None

    def _load_side_files(self) -> None:
        users = _read_table(self.directory / "u.user", "|", 5, "utf-8")
        self._users = {}
        for uid, (_, age, gender, occupation, zipcode, *_) in users.items():
            try:
                age_v = float(age)
            except ValueError:
                raise DataError("age is not a number", self.directory / "u.user", None, ("age", 2),
                                age) from None
            self._users[uid] = (age_v, gender.strip(), occupation.strip(), zipcode.strip()[:3])
        items = _read_table(self.directory / "u.item", "|", 5 + len(GENRES), "latin-1")
        self._items = {}
        for iid, cells in items.items():
            flags = cells[5:5 + len(GENRES)]
            if any(f.strip() not in ("0", "1") for f in flags):
                raise DataError("genre flags must be 0 or 1", self.directory / "u.item", None,
                                "genre flags", "|".join(flags))
            self._items[iid] = [g for g, f in zip(GENRES, flags) if f.strip() == "1"]

    def _begin(self):
        if self._users is None:
            self._load_side_files()

    def _parse_block(self, block: bytes, line0: int, nonfinite) -> RawChunk:
        lines, users, items, ratings, times = [], [], [], [], []
        for line, (u, it, r, t) in self._parsed_rows(block, line0, self._parse_rating):
            lines.append(line)
            users.append(u)
            items.append(it)
            ratings.append(r)
            times.append(t)
        t = np.asarray(times, dtype=np.int64)
        hour = (t // 3600) % 24                      # UTC
        weekday = (t // 86400 + 3) % 7               # 1970-01-01 was a Thursday (Monday = 0)
        side_u = [self._users.get(u, _NO_USER) for u in users]
        columns = {
            "user": users,
            "item": items,
            "age": np.asarray([s[0] for s in side_u], dtype=np.float64),
            "gender": [s[1] for s in side_u],
            "occupation": [s[2] for s in side_u],
            "zip": [s[3] for s in side_u],
            "genres": TokenLists.from_lists([self._items.get(i, ()) for i in items]),
            "hour": [str(h) for h in hour.tolist()],
            "weekday": [str(w) for w in weekday.tolist()],
        }
        y = (np.asarray(ratings, dtype=np.int64) >= 4).astype(np.float32)
        return RawChunk(str(self.path), np.asarray(lines, dtype=np.int64), y, columns)

    def _parse_rating(self, text: str, line: int):
        cells = text.split("\t")
        if len(cells) != 4:
            raise DataError(f"expected 4 tab-separated columns (user, item, rating, time), "
                            f"got {len(cells)}", self.path, line)
        names = ("user", "item", "rating", "timestamp")
        ints = []
        for j, (name, c) in enumerate(zip(names, cells)):
            try:
                v = int(c.strip())
            except ValueError:
                raise DataError("not an integer", self.path, line, (name, j + 1), c) from None
            if not 0 <= v < 1 << 62:
                raise DataError("out of range", self.path, line, (name, j + 1), c)
            ints.append(v)
        u, it = cells[0].strip(), cells[1].strip()
        if u not in self._users:
            self.notes.add("rating(s) with a user id not in u.user: its age, gender, occupation and zip are "
                           "read as missing (an id unseen in training goes to its OOV row)", 1, line, f"user {u}")
        if it not in self._items:
            self.notes.add("rating(s) with an item id not in u.item: its genres are read as missing (an id "
                           "unseen in training goes to its OOV row)", 1, line, f"item {it}")
        if not 1 <= ints[2] <= 5:
            raise DataError("rating must be 1..5", self.path, line, ("rating", 3), cells[2])
        return u, it, ints[2], ints[3]


def download_movielens(dest, *, url: str = ML100K_URL, sha256: str = ML100K_SHA256,
                       timeout: float = 60.0) -> Path:
    """Download ml-100k.zip into `dest`, check its SHA-256, unpack it; return dest/"ml-100k".

    Does nothing but return the path if dest/ml-100k/u.data already exists.
    Raises DataError if the download fails or the checksum differs (the file
    is then deleted, never unpacked).
    """
    dest = Path(dest)
    target = dest / "ml-100k"
    if (target / "u.data").is_file():
        return target
    dest.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile(dir=dest, suffix=".zip.part", delete=False) as tmp:
        tmp_path = Path(tmp.name)
        digest = hashlib.sha256()
        try:
            with urllib.request.urlopen(url, timeout=timeout) as resp:
                while True:
                    buf = resp.read(1 << 16)
                    if not buf:
                        break
                    digest.update(buf)
                    tmp.write(buf)
        except OSError as e:                        # URLError, HTTPError and timeouts are OSErrors
            tmp_path.unlink(missing_ok=True)
            raise DataError(f"download failed: {e}", url) from None
    got = digest.hexdigest()
    if got != sha256:
        tmp_path.unlink(missing_ok=True)
        raise DataError(f"checksum mismatch: expected sha256 {sha256}, got {got}", url)
    try:
        with zipfile.ZipFile(tmp_path) as z:
            names = z.namelist()
            if any(n.startswith("/") or ".." in Path(n).parts for n in names):
                raise DataError("zip holds paths outside its folder", url)
            z.extractall(dest)
    except zipfile.BadZipFile as e:
        raise DataError(f"not a valid zip file: {e}", url) from None
    finally:
        tmp_path.unlink(missing_ok=True)
    if not (target / "u.data").is_file():
        shutil.rmtree(target, ignore_errors=True)
        raise DataError("the archive has no ml-100k/u.data", url)
    return target
