"""Week 2: from files on disk to fast, correct batches."""

from dlf.data.loaders import DataLoaders, DeviceLoader, to_device

__all__ = ["DataLoaders", "DeviceLoader", "to_device"]
