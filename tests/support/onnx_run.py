"""Runs exported models with ONNX Runtime. Each argument names a job MODEL.onnx:IN.safetensors:OUT.safetensors:
the inputs are fed by name, the outputs are written by name, and the model's metadata_props and
its input and output element types go to OUT.json. Usage: onnx_run.py JOB..."""
import json
import sys

import numpy as np
import onnxruntime
from safetensors.numpy import load_file, save_file

options = onnxruntime.SessionOptions()
options.log_severity_level = 3
for job in sys.argv[1:]:
    model, inputs, outputs = job.split(":")
    session = onnxruntime.InferenceSession(model, options, providers=["CPUExecutionProvider"])
    feeds = load_file(inputs)
    names = [o.name for o in session.get_outputs()]
    results = session.run(names, feeds)
    save_file({n: np.ascontiguousarray(r) for n, r in zip(names, results)}, outputs)
    meta = session.get_modelmeta()
    with open(outputs[: -len(".safetensors")] + ".json", "w") as f:
        json.dump({"metadata": meta.custom_metadata_map,
                   "inputs": {i.name: i.type for i in session.get_inputs()},
                   "outputs": {o.name: o.type for o in session.get_outputs()}}, f)
