"""The .tflite file as data: read and write models and their ``Model.metadata``
entries (``model_file``), view a subgraph's operators and tensors (``graph``),
build small models op by op (``builder``, for tests, benchmarks and the demo)
and cut operators out into a standalone model (``extract``).

Light: numpy and the flatbuffer bindings that ship with ``ai_edge_litert``;
neither PyTorch nor TensorFlow is imported.
"""
