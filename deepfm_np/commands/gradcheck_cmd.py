"""`python -m deepfm_np gradcheck`: every layer's and every model's gradient against finite differences."""
from __future__ import annotations

from ..gradcheck.core import THRESHOLD


def add_parser(sub):
    p = sub.add_parser(
        "gradcheck", help="check every backward pass against centered finite differences (float64)",
        description="Checks each layer's backward and each model's full gradient (every parameter; sampled "
                    "coordinates of big tables, including rows hit more than once in the batch, numeric and "
                    f"multi-valued fields) against centered finite differences in float64. A check passes "
                    f"when its max relative error is below {THRESHOLD:g} (a correct backward gives ~1e-8 or "
                    "less). Exits 1 if any check fails.")
    p.add_argument("--models", default=None,
                   help="comma-separated model names to check (default: all registered models)")
    p.add_argument("--seed", type=int, default=0, help="seed of the random test problem (default 0)")
    p.set_defaults(run=run)


def run(args):
    from ..gradcheck.suite import all_checks
    from ..models.registry import model_names
    names = args.models.split(",") if args.models else None
    if names:
        unknown = [n for n in names if n not in model_names()]
        if unknown:
            from . import CommandError
            raise CommandError(f"unknown model(s) {', '.join(unknown)}; valid: {', '.join(model_names())}")
    results = all_checks(names, args.seed)
    width = max(len(r.name) for r in results)
    print(f"{'check':<{width}}  {'max rel err':>11}  {'coords':>6}  result")
    for r in results:
        print(f"{r.name:<{width}}  {r.max_rel_error:>11.2e}  {r.n_coords:>6}  {'pass' if r.passed else 'FAIL'}")
    failed = [r for r in results if not r.passed]
    if failed:
        print(f"\n{len(failed)} of {len(results)} checks FAIL (threshold {THRESHOLD:g})")
    else:
        print(f"\nall {len(results)} checks pass (threshold {THRESHOLD:g})")
    return 1 if failed else 0
