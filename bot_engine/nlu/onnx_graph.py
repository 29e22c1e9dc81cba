"""The BERT-style sentence encoder as an ONNX graph, built from the safetensors weights.

No PyTorch export is needed: the graph is written node by node with standard ONNX operators
(opset 17), so onnxruntime can run it. It computes exactly what `dense.NumpyForward` computes:
embeddings, then per layer self-attention and a GELU feed-forward, each with a residual and
layer norm. Inputs: `input_ids` [batch, tokens], `positions` [tokens], `mask_bias`
[batch, 1, 1, tokens] (0 for real tokens, -1e9 for padding). Output: `hidden`.
"""

import logging
import tempfile
from pathlib import Path

import numpy as np


def build_encoder_graph(weights: dict, heads: int, layers: int, eps: float) -> bytes:
    """Serialised ONNX model for the encoder whose weights are `weights`."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    builder = _GraphBuilder(weights, numpy_helper)
    hidden = weights["embeddings.word_embeddings.weight"].shape[1]
    size = hidden // heads
    builder.constant("heads_shape", np.array([0, 0, heads, size], np.int64))
    builder.constant("hidden_shape", np.array([0, 0, hidden], np.int64))
    builder.constant("scale", np.array(1 / np.sqrt(size), np.float32))
    builder.constant("half", np.array(0.5, np.float32))
    builder.constant("one", np.array(1.0, np.float32))
    builder.constant("inv_sqrt2", np.array(1 / np.sqrt(2.0), np.float32))
    token_type = weights["embeddings.token_type_embeddings.weight"][0]
    x = builder.op(
        "Add",
        builder.op("Gather", builder.weight("embeddings.word_embeddings.weight"), "input_ids"),
        builder.op("Gather", builder.weight("embeddings.position_embeddings.weight"), "positions"),
    )
    x = builder.op("Add", x, builder.constant("token_type", token_type))
    x = builder.layer_norm(x, "embeddings.LayerNorm", eps)
    for n in range(layers):
        x = _encoder_layer(builder, x, f"encoder.layer.{n}", eps)
    builder.nodes[-1].output[0] = "hidden"
    graph = helper.make_graph(
        builder.nodes,
        "sentence_encoder",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, ["batch", "tokens"]),
            helper.make_tensor_value_info("positions", TensorProto.INT64, ["tokens"]),
            helper.make_tensor_value_info(
                "mask_bias", TensorProto.FLOAT, ["batch", 1, 1, "tokens"]
            ),
        ],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["batch", "tokens", hidden])],
        builder.initializers,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    onnx.checker.check_model(model)
    return model.SerializeToString()


def quantized_graph(model: bytes) -> bytes:
    """The same graph with int8 weights for its matrix products (onnxruntime's dynamic
    quantisation: activations are quantised per call)."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # it advises pre-processing on the root logger at every call
    try:
        with tempfile.TemporaryDirectory() as directory:
            source, target = Path(directory) / "float.onnx", Path(directory) / "int8.onnx"
            source.write_bytes(model)
            quantize_dynamic(str(source), str(target), weight_type=QuantType.QInt8)
            return target.read_bytes()
    finally:
        root.setLevel(level)


def _encoder_layer(builder: "_GraphBuilder", x: str, prefix: str, eps: float) -> str:
    def heads(tensor: str, perm: list[int]) -> str:
        return builder.op("Transpose", builder.op("Reshape", tensor, "heads_shape"), perm=perm)

    attention = f"{prefix}.attention"
    query = heads(
        builder.op("Mul", builder.dense(x, f"{attention}.self.query"), "scale"), [0, 2, 1, 3]
    )
    key = heads(builder.dense(x, f"{attention}.self.key"), [0, 2, 3, 1])
    value = heads(builder.dense(x, f"{attention}.self.value"), [0, 2, 1, 3])
    scores = builder.op("Add", builder.op("MatMul", query, key), "mask_bias")
    weights = builder.op("Softmax", scores, axis=-1)
    context = builder.op("Transpose", builder.op("MatMul", weights, value), perm=[0, 2, 1, 3])
    context = builder.op("Reshape", context, "hidden_shape")
    attended = builder.op("Add", x, builder.dense(context, f"{attention}.output.dense"))
    x = builder.layer_norm(attended, f"{attention}.output.LayerNorm", eps)
    inner = builder.dense(x, f"{prefix}.intermediate.dense")
    gelu_gate = builder.op("Add", "one", builder.op("Erf", builder.op("Mul", inner, "inv_sqrt2")))
    gelu = builder.op("Mul", builder.op("Mul", inner, "half"), gelu_gate)  # exact GELU, as BERT
    output = builder.op("Add", x, builder.dense(gelu, f"{prefix}.output.dense"))
    return builder.layer_norm(output, f"{prefix}.output.LayerNorm", eps)


class _GraphBuilder:
    def __init__(self, weights: dict, numpy_helper):
        self.weights = weights
        self.numpy_helper = numpy_helper
        self.nodes: list = []
        self.initializers: list = []
        self._count = 0

    def constant(self, name: str, array: np.ndarray) -> str:
        self.initializers.append(self.numpy_helper.from_array(np.ascontiguousarray(array), name))
        return name

    def weight(self, name: str, transpose: bool = False) -> str:
        array = self.weights[name]
        key = f"{name}.T" if transpose else name
        return self.constant(key, array.T if transpose else array)

    def op(self, kind: str, *inputs: str, **attributes) -> str:
        from onnx import helper

        self._count += 1
        output = f"t{self._count}"
        self.nodes.append(helper.make_node(kind, list(inputs), [output], **attributes))
        return output

    def dense(self, x: str, prefix: str) -> str:
        product = self.op("MatMul", x, self.weight(f"{prefix}.weight", transpose=True))
        return self.op("Add", product, self.weight(f"{prefix}.bias"))

    def layer_norm(self, x: str, prefix: str, eps: float) -> str:
        return self.op(
            "LayerNormalization",
            x,
            self.weight(f"{prefix}.weight"),
            self.weight(f"{prefix}.bias"),
            axis=-1,
            epsilon=eps,
        )
