"""`python -m deepfm_np export`: write a saved model as an ONNX graph, preprocessing included (extra `onnx`)."""
from __future__ import annotations

import os

from . import CommandError


def add_parser(sub):
    p = sub.add_parser(
        "export", help="write a saved model as an ONNX graph (with its preprocessing: raw columns in)",
        description="Writes --onnx, an ONNX graph (ai.onnx opset 21, ai.onnx.ml opset 3) that computes the "
                    "model's click probability. --inputs raw (default; criteo and csv formats): one input per "
                    "raw column named as the reader names it (categorical: string [N], '' = missing; numeric: "
                    "float32 [N], NaN = missing; multi-valued: the cell as a string [N]), with the fitted "
                    "vocabularies, OOV rows and numeric bucketing inside the graph. --inputs encoded (every "
                    "format): the model alone, on idx int64 [N, S] and val float32 [N, S] as the encoder "
                    "writes them. Output: probability float32 [N]. Needs `pip install deepfm_np[onnx]`.")
    p.add_argument("--model", required=True, metavar="MODEL", help="model file written by `train`")
    p.add_argument("--onnx", required=True, metavar="FILE", help="ONNX file to write")
    p.add_argument("--inputs", choices=("raw", "encoded"), default="raw",
                   help="raw columns with the preprocessing inside (default), or encoded idx/val")
    p.set_defaults(run=run)


def _describe(value_info) -> str:
    """'idx int64 [N, 39]' for one graph input or output."""
    from onnx import TensorProto, helper
    t = value_info.type.tensor_type
    dims = ", ".join(d.dim_param or str(d.dim_value) for d in t.shape.dim)
    dtype = "string" if t.elem_type == TensorProto.STRING else helper.tensor_dtype_to_np_dtype(t.elem_type).name
    return f"{value_info.name} {dtype} [{dims}]"


def run(args):
    try:
        import onnx
    except ModuleNotFoundError:
        raise CommandError("export needs the onnx package: pip install onnx (or deepfm_np[onnx])") from None
    from ..export import to_onnx
    from ..export.onnx_graph import ML_OPSET, OPSET, ExportError
    from ..model_file import load_model

    saved = load_model(args.model)
    try:
        proto = to_onnx(saved, inputs=args.inputs)
    except ExportError as e:
        raise CommandError(f"cannot export {args.model}: {e}") from None
    tmp = args.onnx + ".part"
    try:
        onnx.save(proto, tmp)
        os.replace(tmp, args.onnx)                   # never a half-written graph
    except OSError as e:
        raise CommandError(f"cannot write {args.onnx}: {e.strerror or e}") from None
    g = proto.graph
    print(f"wrote {args.onnx}: {saved.meta['model']['name']}, {args.inputs} inputs, "
          f"ai.onnx opset {OPSET}, ai.onnx.ml opset {ML_OPSET}, {os.path.getsize(args.onnx):,} bytes")
    print(f"inputs ({len(g.input)}): " + ", ".join(_describe(v) for v in g.input))
    print("outputs: " + ", ".join(_describe(v) for v in g.output))
    return 0
