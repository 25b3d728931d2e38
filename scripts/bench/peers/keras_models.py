"""The benchmark models in Keras (TensorFlow backend, channels-last as Keras runs on CPU), layer
for layer as dltrain's specs build them: specs/fashion_mnist.yaml and specs/miniresnet.yaml
(the tutorial's MiniResNet, written as the tutorial writes it)."""
import keras
from keras import layers


def residual(x, filters, stride, bias, bn):
    shortcut = x
    y = layers.Conv2D(filters, 3, strides=stride, padding="same", use_bias=bias)(x)
    y = layers.BatchNormalization(**bn)(y)
    y = layers.ReLU()(y)
    y = layers.Conv2D(filters, 3, padding="same", use_bias=bias)(y)
    y = layers.BatchNormalization(**bn)(y)
    if stride != 1 or x.shape[-1] != filters:
        shortcut = layers.Conv2D(filters, 1, strides=stride, padding="same", use_bias=bias)(x)
    return layers.ReLU()(layers.Add()([y, shortcut]))


def fashion_cnn(size=28):
    bn = {"momentum": 0.9, "epsilon": 1e-5}  # PyTorch's defaults, as the spec's batch_norm
    inputs = keras.Input((size, size, 1), name="image")
    x = layers.Conv2D(16, 3, padding="same", use_bias=False)(inputs)
    x = layers.ReLU()(layers.BatchNormalization(**bn)(x))
    for filters, stride in [(16, 1), (32, 2), (64, 2)]:
        x = residual(x, filters, stride, False, bn)
    x = layers.GlobalAveragePooling2D()(x)
    x = layers.Dropout(0.1)(x)
    return keras.Model(inputs, layers.Dense(10, activation="softmax")(x))


def miniresnet(size=224, classes=1000):
    bn = {"momentum": 0.99, "epsilon": 1e-3}  # Keras' defaults, as the tutorial
    inputs = keras.Input((size, size, 3), name="image")
    x = layers.Conv2D(64, 7, strides=2, padding="same")(inputs)
    x = layers.ReLU()(layers.BatchNormalization(**bn)(x))
    x = layers.MaxPooling2D(3, strides=2, padding="same")(x)
    for filters, stride in [(64, 1), (128, 2), (256, 2)]:
        x = residual(x, filters, stride, True, bn)
    x = layers.GlobalAveragePooling2D()(x)
    return keras.Model(inputs, layers.Dense(classes, activation="softmax")(x))


# name -> (builder, channels, classes, optimizer) as the specs configure them
MODELS = {
    "fashion_cnn": (fashion_cnn, 1, 10, lambda: keras.optimizers.AdamW(3e-3, weight_decay=5e-4)),
    "miniresnet": (miniresnet, 3, 1000, lambda: keras.optimizers.Adam(1e-3)),
}
