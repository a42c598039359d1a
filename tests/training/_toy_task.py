"""A tiny regression task for testing the trainer without any real data."""

import torch
from torch import nn

from wavescope.training import tasks


class _Mean(tasks.Meter):
    def __init__(self):
        self.total, self.n = 0.0, 0

    def update(self, output, target, loss):
        self.total += loss * len(target)
        self.n += len(target)

    def compute(self):
        return {"loss": self.total / max(self.n, 1)}


class _Linear(nn.Module):
    def __init__(self, dropout=0.2):
        super().__init__()
        self.lin = nn.Linear(3, 1)
        self.drop = nn.Dropout(dropout)  # uses the global RNG: resuming must restore it

    def forward(self, x, return_hidden=False):
        out = self.lin(self.drop(x)).squeeze(-1)
        return (out, x[:, None, :, None]) if return_hidden else out


@tasks.register_task
class ToyRegression(tasks.Task):
    """y = x @ w + noise, for testing the trainer without any real task."""

    name = "_toy_regression"

    def datasets(self, root):
        gen = torch.Generator().manual_seed(123)
        x = torch.randn(100, 3, generator=gen)
        y = x @ torch.tensor([1.0, -2.0, 0.5]) + 0.1 * torch.randn(100, generator=gen)
        ds = torch.utils.data.TensorDataset
        return {"train": ds(x[:60], y[:60]), "val": ds(x[60:80], y[60:80]),
                "test": ds(x[80:], y[80:])}

    def build_model(self):
        return _Linear(self.config.task_kwargs.get("dropout", 0.2))

    def loss(self, output, target):
        return nn.functional.mse_loss(output, target)

    def meter(self):
        return _Mean()
