#!/usr/bin/env python3
"""Keras peer of `dltrain bench step`: the same model and batch on synthetic data, the training
step as the tutorial's custom loop writes it (a tf.function around GradientTape, loss, gradients,
apply_gradients), with TensorFlow's threads set to the machine's cores. Prints the median
samples/s over repeats."""
import argparse
import os
import sys
import time

import keras
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from keras_models import MODELS  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("model", choices=sorted(MODELS))
    p.add_argument("--size", type=int, required=True)
    p.add_argument("--batch", type=int, required=True)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--warmup", type=int, default=5)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--threads", type=int, default=os.cpu_count())
    args = p.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.random.set_seed(0)
    build, channels, classes, optimizer = MODELS[args.model]
    model = build(args.size)
    opt = optimizer()
    loss_fn = tf.keras.losses.SparseCategoricalCrossentropy()
    x = tf.random.normal((args.batch, args.size, args.size, channels))
    y = tf.random.uniform((args.batch,), 0, classes, dtype=tf.int64)

    @tf.function
    def train_step(images, labels):
        with tf.GradientTape() as tape:
            loss = loss_fn(labels, model(images, training=True))
        gradients = tape.gradient(loss, model.trainable_variables)
        opt.apply_gradients(zip(gradients, model.trainable_variables))
        return loss

    for _ in range(args.warmup):
        float(train_step(x, y))
    rates = []
    for _ in range(args.repeats):
        start = time.perf_counter()
        for _ in range(args.steps):
            float(train_step(x, y))
        rates.append(args.batch * args.steps / (time.perf_counter() - start))
    rates.sort()
    print("tensorflow %s keras %s: %.1f samples/s" % (tf.__version__, keras.__version__, rates[len(rates) // 2]))


if __name__ == "__main__":
    main()
