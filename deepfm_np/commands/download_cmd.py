"""`python -m deepfm_np download`: fetch MovieLens-100K (checksum-verified) for `train --format movielens`."""
from __future__ import annotations

from .options import add_json_option, write_json


def add_parser(sub):
    from ..data.movielens import ML100K_SHA256, ML100K_URL
    p = sub.add_parser(
        "download", help="download MovieLens-100K (about 5 MB) and check its SHA-256",
        description=f"Downloads {ML100K_URL}, checks its SHA-256 ({ML100K_SHA256}), and unpacks it into "
                    "DEST/ml-100k. Then: python -m deepfm_np train --format movielens --train DEST/ml-100k/u1.base "
                    "--test DEST/ml-100k/u1.test --model deepfm --out ml.npz. Nothing is downloaded if "
                    "DEST/ml-100k/u.data already exists. (The Criteo data cannot be downloaded automatically: "
                    "its terms require accepting them on Criteo's site.)")
    p.add_argument("--dest", default="data", help="folder to unpack into (default: data)")
    add_json_option(p, "the result")
    p.set_defaults(run=run)


def run(args):
    from ..data import download_movielens
    path = download_movielens(args.dest)
    print(f"MovieLens-100K is in {path}")
    if args.json_path:
        write_json(args.json_path, {"dataset": "ml-100k", "path": str(path)})
    return 0
