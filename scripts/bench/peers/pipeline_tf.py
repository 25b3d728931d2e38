"""tf.data peer of the pipeline benchmark: the tutorial's pipeline (../shared/seed) —
read_file -> decode_jpeg -> resize 224 -> /255 -> random_flip_left_right -> random_brightness
0.2 -> random_contrast 0.8..1.2 -> batch 64 -> prefetch — with num_parallel_calls equal to the
other peers' workers and TensorFlow's thread pools sized to the machine. Prints images/s of
the second epoch (the first traces the functions and warms caches)."""
import argparse
import glob
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import tensorflow as tf  # noqa: E402


def main():
    p = argparse.ArgumentParser()
    p.add_argument("root")
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--batch", type=int, default=64)
    args = p.parse_args()
    tf.config.threading.set_intra_op_parallelism_threads(args.workers)
    tf.config.threading.set_inter_op_parallelism_threads(args.workers)
    classes = sorted(d for d in os.listdir(args.root) if os.path.isdir(os.path.join(args.root, d)))
    files, labels = [], []
    for k, c in enumerate(classes):
        for f in sorted(glob.glob(os.path.join(args.root, c, "*.jpg"))):
            files.append(f)
            labels.append(k)

    def parse_image(filename, label):
        image = tf.io.read_file(filename)
        image = tf.image.decode_jpeg(image, channels=3)
        image = tf.image.resize(image, [224, 224])
        image = tf.cast(image, tf.float32) / 255.0
        return image, label

    def augment(image, label):
        image = tf.image.random_flip_left_right(image)
        image = tf.image.random_brightness(image, max_delta=0.2)
        image = tf.image.random_contrast(image, lower=0.8, upper=1.2)
        return image, label

    ds = (tf.data.Dataset.from_tensor_slices((files, labels))
          .shuffle(buffer_size=10000)
          .map(parse_image, num_parallel_calls=args.workers)
          .map(augment, num_parallel_calls=args.workers)
          .batch(args.batch)
          .prefetch(tf.data.AUTOTUNE))
    rates = []
    for epoch in range(2):
        start = time.perf_counter()
        count = 0
        for images, _ in ds:
            count += int(images.shape[0])
        rates.append(count / (time.perf_counter() - start))
    print("tensorflow %s: %.1f images/s" % (tf.__version__, rates[-1]))


if __name__ == "__main__":
    main()
