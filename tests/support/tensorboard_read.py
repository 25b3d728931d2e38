"""Reads a run folder's TensorBoard event files with TensorBoard's own EventAccumulator and
prints what it found as JSON: {"scalars": {tag: [[step, value], ...]}, "text": {tag: str},
"hparams": {name: value}}. Usage: tensorboard_read.py RUN_DIR"""
import json
import sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator
from tensorboard.plugins.hparams import plugin_data_pb2

accumulator = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0, "tensors": 0})
accumulator.Reload()
tags = accumulator.Tags()
scalars = {tag: [[e.step, e.value] for e in accumulator.Scalars(tag)] for tag in tags["scalars"]}
text = {tag: accumulator.Tensors(tag)[0].tensor_proto.string_val[0].decode()
        for tag in accumulator.PluginTagToContent("text")}
hparams = {}
content = accumulator.PluginTagToContent("hparams")
if "_hparams_/session_start_info" in content:
    data = plugin_data_pb2.HParamsPluginData.FromString(content["_hparams_/session_start_info"])
    for name, value in data.session_start_info.hparams.items():
        hparams[name] = getattr(value, value.WhichOneof("kind"))
print(json.dumps({"scalars": scalars, "text": text, "hparams": hparams}))
