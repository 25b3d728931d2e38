#!/usr/bin/env python3
"""Keras peer of one `dltrain fit specs/fashion_mnist.yaml` epoch, written as the tutorial
(../shared/seed) writes it: a tf.data pipeline from the image files (read, decode, augment in
parallel with AUTOTUNE, shuffle, batch, prefetch) and model.fit with validation_data. Same
model, augmentation (flip, 2-pixel padded random crop, [0, 1]), batch, AdamW and cosine
schedule. Prints the validation accuracy; time the whole command from outside."""
import argparse
import os
import sys

import keras
import tensorflow as tf

sys.path.insert(0, os.path.dirname(__file__))
from keras_models import fashion_cnn  # noqa: E402

AUTOTUNE = tf.data.AUTOTUNE


def files(folder):
    classes = sorted(os.listdir(folder))
    paths, labels = [], []
    for k, name in enumerate(classes):
        for f in sorted(os.listdir(os.path.join(folder, name))):
            paths.append(os.path.join(folder, name, f))
            labels.append(k)
    return paths, labels


def parse_image(filename, label):
    image = tf.io.decode_png(tf.io.read_file(filename), channels=1)
    return tf.cast(image, tf.float32) / 255.0, label


def augment(image, label):
    image = tf.image.random_flip_left_right(image)
    image = tf.image.random_crop(tf.image.resize_with_crop_or_pad(image, 32, 32), (28, 28, 1))
    return image, label


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root", help="the folder holding train/ and test/ (scripts/prepare-fashion-mnist.py)")
    p.add_argument("--threads", type=int, default=os.cpu_count())
    p.add_argument("--epochs", type=int, default=1)
    args = p.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.threads)
    tf.config.threading.set_inter_op_parallelism_threads(args.threads)
    tf.random.set_seed(1)
    train_paths, train_labels = files(os.path.join(args.root, "train"))
    test_paths, test_labels = files(os.path.join(args.root, "test"))
    train = (tf.data.Dataset.from_tensor_slices((train_paths, train_labels)).shuffle(len(train_paths))
             .map(parse_image, num_parallel_calls=AUTOTUNE).map(augment, num_parallel_calls=AUTOTUNE)
             .batch(128).prefetch(AUTOTUNE))
    test = (tf.data.Dataset.from_tensor_slices((test_paths, test_labels)).map(parse_image, num_parallel_calls=AUTOTUNE)
            .batch(512).prefetch(AUTOTUNE))
    steps = args.epochs * -(-len(train_paths) // 128)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, steps - int(0.3 * steps / args.epochs), warmup_target=3e-3,
                                                      warmup_steps=int(0.3 * steps / args.epochs))
    model = fashion_cnn()
    model.compile(optimizer=keras.optimizers.AdamW(schedule, weight_decay=5e-4),
                  loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    history = model.fit(train, validation_data=test, epochs=args.epochs, verbose=0)
    print("tensorflow %s keras %s: val accuracy %.4f" % (tf.__version__, keras.__version__,
                                                        history.history["val_accuracy"][-1]))


if __name__ == "__main__":
    main()
