"""dlf.models (week 3): CNNs built from readable blocks, a registry, summaries, weight loading.

from dlf.models import create_model, summary, load_pretrained
model = create_model("resnet34", num_classes=5, in_chans=6, pretrained="resnet34.pth")
print(summary(model, (1, 6, 224, 224)))
"""

from dlf.models.classifier import ClassifierBase
from dlf.models.densenet import DenseNet, densenet121, densenet161, densenet169, densenet201
from dlf.models.detection import FCOS, FCOSOutput, decode_detections
from dlf.models.efficientnet import (
    EfficientNet,
    efficientnet_b0,
    efficientnet_b1,
    efficientnet_b2,
    efficientnet_b3,
    efficientnet_b4,
)
from dlf.models.fpn import FPN
from dlf.models.layers import (
    SCSE,
    AdaptiveConcatPool2d,
    BasicBlock,
    Bottleneck,
    ConvNormAct,
    DropPath,
    GeM,
    SqueezeExcite,
    create_pool,
    init_weights_kaiming,
)
from dlf.models.lenet import LeNet, lenet
from dlf.models.registry import create_model, list_models, register_model
from dlf.models.resnet import (
    ResNet,
    resnet18,
    resnet18d,
    resnet34,
    resnet34d,
    resnet50,
    resnet50d,
    resnet101,
    resnet101d,
    resnet152,
    resnext50_32x4d,
    seresnext50_32x4d,
)
from dlf.models.seq1d import (
    CNN1d,
    GRU1d,
    LogisticRegression1d,
    MLP1d,
    ResNet1d,
    mnist1d_cnn,
    mnist1d_gru,
    mnist1d_logistic,
    mnist1d_mlp,
    mnist1d_resnet,
)
from dlf.models.summary import (
    ModelSummary,
    input_channels,
    min_input_size,
    summary,
    summary_main,
    takes_input,
    total_stride,
)
from dlf.models.unet import UNet
from dlf.models.vgg import VGG, vgg11, vgg16
from dlf.models.video import (
    AttentionPool,
    ContextGating,
    NeXtVLAD,
    VideoClassifier,
    video_attention,
    video_nextvlad,
)
from dlf.models.weights import LoadReport, adapt_input_conv, load_pretrained

__all__ = [
    "FCOS",
    "FPN",
    "SCSE",
    "VGG",
    "AdaptiveConcatPool2d",
    "AttentionPool",
    "BasicBlock",
    "Bottleneck",
    "CNN1d",
    "ClassifierBase",
    "ContextGating",
    "ConvNormAct",
    "DenseNet",
    "DropPath",
    "EfficientNet",
    "FCOSOutput",
    "GRU1d",
    "GeM",
    "LeNet",
    "LoadReport",
    "LogisticRegression1d",
    "MLP1d",
    "ModelSummary",
    "NeXtVLAD",
    "ResNet",
    "ResNet1d",
    "SqueezeExcite",
    "UNet",
    "VideoClassifier",
    "adapt_input_conv",
    "create_model",
    "create_pool",
    "decode_detections",
    "densenet121",
    "densenet161",
    "densenet169",
    "densenet201",
    "efficientnet_b0",
    "efficientnet_b1",
    "efficientnet_b2",
    "efficientnet_b3",
    "efficientnet_b4",
    "init_weights_kaiming",
    "input_channels",
    "lenet",
    "list_models",
    "load_pretrained",
    "min_input_size",
    "mnist1d_cnn",
    "mnist1d_gru",
    "mnist1d_logistic",
    "mnist1d_mlp",
    "mnist1d_resnet",
    "register_model",
    "resnet18",
    "resnet18d",
    "resnet34",
    "resnet34d",
    "resnet50",
    "resnet50d",
    "resnet101",
    "resnet101d",
    "resnet152",
    "resnext50_32x4d",
    "seresnext50_32x4d",
    "summary",
    "summary_main",
    "takes_input",
    "total_stride",
    "vgg11",
    "vgg16",
    "video_attention",
    "video_nextvlad",
]
