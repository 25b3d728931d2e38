#!/usr/bin/env python3
"""Keras peer of `dltrain bench step`: the same model and batch on synthetic data, the training
step as the tutorial's custom loop writes it (a tf.function around GradientTape, loss, gradients,
apply_gradients), with TensorFlow's threads set to the machine's cores. Prints the median
samples/s over repeats."""
import os
import sys

import keras
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from common import median_rate, step_arguments  # noqa: E402
from keras_models import MODELS  # noqa: E402


def main():
    args = step_arguments(MODELS)
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

    rate = median_rate(lambda: float(train_step(x, y)), args)
    print("tensorflow %s keras %s: %.1f samples/s" % (tf.__version__, keras.__version__, rate))


if __name__ == "__main__":
    main()
