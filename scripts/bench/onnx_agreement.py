#!/usr/bin/env python3
"""How closely ONNX Runtime's run of an exported model agrees with dltrain's own inference, on
every image of a CSV manifest: `dltrain predict --top-k K` (all K classes) against ONNX Runtime on
the same files, fed the uint8 pixels (an export made with --with-preprocessing). Prints the
largest probability difference, the top-1 agreement and both accuracies.
Usage: onnx_agreement.py MODEL.onnx PREDICTIONS.csv MANIFEST.csv OUTPUT   (OUTPUT: the output name)
Needs onnxruntime, numpy and PIL (the test venv has them)."""
import csv
import json
import os
import sys

import numpy as np
import onnxruntime
from PIL import Image

model, predictions, manifest, output = sys.argv[1:5]
session = onnxruntime.InferenceSession(model, providers=["CPUExecutionProvider"])
meta = session.get_modelmeta().custom_metadata_map
classes = json.loads(meta["output.%s.classes" % output])
image_input = session.get_inputs()[0].name
mode = "L" if meta["input.%s.pixel_format" % image_input] == "L" else "RGB"

with open(manifest) as f:
    rows = list(csv.DictReader(f))
root = os.path.dirname(manifest)
with open(predictions) as f:
    predicted = {r["input"]: r for r in csv.DictReader(f)}

largest, agree, right_onnx, right_dltrain = 0.0, 0, 0, 0
batch = 500
for start in range(0, len(rows), batch):
    chunk = rows[start:start + batch]
    pixels = np.stack([np.asarray(Image.open(os.path.join(root, r["image"])).convert(mode), dtype=np.uint8)
                       for r in chunk])
    if pixels.ndim == 3:
        pixels = pixels[:, None]
    else:
        pixels = pixels.transpose(0, 3, 1, 2)
    probabilities = session.run([output], {image_input: pixels})[0]
    for r, p in zip(chunk, probabilities):
        mine = predicted[os.path.join(root, r["image"])]
        theirs = np.zeros(len(classes))
        for k in range(1, len(classes) + 1):
            theirs[classes.index(mine["%s.top%d" % (output, k)])] = float(mine["%s.p%d" % (output, k)])
        largest = max(largest, float(np.abs(theirs - p).max()))
        agree += int(theirs.argmax() == p.argmax())
        right_onnx += int(classes[p.argmax()] == r["label"])
        right_dltrain += int(classes[theirs.argmax()] == r["label"])
n = len(rows)
print("%d images: largest probability difference %.2e (dltrain predict prints 6 digits), top-1 agreement %d/%d, "
      "accuracy ONNX Runtime %.4f, dltrain %.4f" % (n, largest, agree, n, right_onnx / n, right_dltrain / n))
