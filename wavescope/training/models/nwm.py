"""The Neural Wave Machine for images (Jacobs et al. 2025).

A damped, locally coupled oscillator field over the image grid. Encoders read the image once
and set, per pixel and channel, a natural frequency ω ≥ 0, a damping α ≥ 0 and the initial
position y₀ (velocity z₀ = 0). The field then runs freely for T symplectic-Euler steps::

    z ← z + dt · ( tanh(W ⋆ y) − ω ⊙ y − α ⊙ z )
    y ← y + dt · z

where W ⋆ is a C→C 3×3 convolution with circular padding (the grid is a torus), initialised
to the discrete Laplacian on each channel. The T recorded positions (y₀ excluded) go through
a readout over time and a per-pixel head.

Memory
------
Autograd would keep about five tensors of the state's size for every step. Here the roll-out
is one autograd function with a hand-written backward pass (the adjoint of the update): the
forward keeps the recorded positions (the output itself), the velocity every ``segment``
steps and, optionally, the tanh terms; the backward recomputes each segment's velocities
(and tanh terms, one convolution per step, when they were not kept) from its start, then
runs the adjoint through it in reverse. The result is the same either way, to the last
bit: the recomputation repeats the forward's operations. The coupling's weight gradient is
taken once per block of steps rather than once per step.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from ._encoders import conv_encoder
from .readouts import make_head, make_readout, readout_head

__all__ = ["NeuralWaveMachine", "laplacian_kernel", "wave_rollout"]


def laplacian_kernel(channels: int) -> torch.Tensor:
    """A (C, C, 3, 3) coupling kernel: the 5-point Laplacian on each channel, zero across."""
    lap = torch.tensor([[0.0, 1.0, 0.0], [1.0, -4.0, 1.0], [0.0, 1.0, 0.0]])
    kernel = torch.zeros(channels, channels, 3, 3)
    for c in range(channels):
        kernel[c, c] = lap
    return kernel


def _coupling(y: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """W ⋆ y: a 3×3 convolution with circular padding."""
    return F.conv2d(F.pad(y, (1, 1, 1, 1), mode="circular"), weight)


def _coupling_adjoint(g: torch.Tensor, weight: torch.Tensor) -> torch.Tensor:
    """The adjoint of :func:`_coupling`: circular correlation with the flipped, transposed
    kernel."""
    return _coupling(g, weight.transpose(0, 1).flip(2, 3))


class _WeightGrad:
    """d<g, W ⋆ y>/dW over blocks of (image, step) pairs, with buffers reused per block.

    With y padded circularly to (H+2, W+2) and g given two zero columns, the window of every
    kernel tap is one contiguous stretch of the flattened padded image, so each tap is one
    batched matrix product and no im2col copy is made (about twice as fast as the library's
    convolution weight gradient for few channels). ``g`` is written by the caller straight
    into :meth:`g_slot`; positions are copied once into the padded buffer.
    """

    def __init__(self, like: torch.Tensor, steps: int):
        b, c, h, w = like.shape
        self.shape, self.steps = (b, c, h, w), steps
        # (steps, B, C, H, W+2): the two extra columns stay zero
        self.wide = like.new_zeros(steps, b, c, h, w + 2)
        # (B, steps, C, (H+2)(W+2) + 2): two trailing zeros for the last tap's window
        self.padded = like.new_zeros(b, steps, c, (h + 2) * (w + 2) + 2)

    def g_slot(self, i: int) -> torch.Tensor:
        """Where the caller writes g of block step i (a (B, C, H, W) view)."""
        return self.wide[i, ..., :self.shape[3]]

    def __call__(self, positions: torch.Tensor, n: int) -> torch.Tensor:
        """The gradient for the first ``n`` steps of the block; ``positions`` (B, n, C, H, W)."""
        b, c, h, w = self.shape
        grid = self.padded[:, :n, :, :(h + 2) * (w + 2)].view(b, n, c, h + 2, w + 2)
        grid[..., 1:-1, 1:-1] = positions
        grid[..., 0, 1:-1], grid[..., -1, 1:-1] = positions[..., -1, :], positions[..., 0, :]
        grid[..., :, 0], grid[..., :, -1] = grid[..., :, -2], grid[..., :, 1]
        flat = self.padded[:, :n].reshape(b * n, c, -1)
        wide = self.wide[:n].transpose(0, 1).reshape(b * n, c, -1)
        span = h * (w + 2)
        out = positions.new_empty(c, c, 3, 3)
        for dy in range(3):
            for dx in range(3):
                off = dy * (w + 2) + dx
                out[:, :, dy, dx] = torch.bmm(wide, flat[:, :, off:off + span].transpose(1, 2)
                                              ).sum(0)
        return out


def _velocity_step(y, z, omega, alpha, weight, dt, drive=None):
    """The velocity update, in place on ``z``; returns tanh(W ⋆ y) (or uses ``drive``).

    The order of operations is fixed: the backward pass replays it to recompute velocities.
    """
    if drive is None:
        drive = torch.tanh_(_coupling(y, weight))
    accel = drive - omega * y
    accel.sub_(alpha * z)
    z.add_(accel.mul_(dt))
    return drive


def _step(y, z, omega, alpha, weight, dt):
    """One update, in place on ``y`` and ``z``; returns tanh(W ⋆ y_old)."""
    drive = _velocity_step(y, z, omega, alpha, weight, dt)
    y.add_(z * dt)
    return drive


class _Rollout(torch.autograd.Function):
    @staticmethod
    def forward(ctx, y0, omega, alpha, weight, steps, dt, segment, keep_drives):
        y = y0.detach().clone(memory_format=torch.contiguous_format)
        z = torch.zeros_like(y)
        b, c, h, w = y.shape
        seq = y.new_empty(b, steps, c, h, w)
        z_marks, drives = [], []
        for t in range(steps):
            if t % segment == 0:
                z_marks.append(z.clone())
            drive = _step(y, z, omega, alpha, weight, dt)
            if keep_drives:
                drives.append(drive)
            seq[:, t] = y
        ctx.steps, ctx.dt, ctx.segment, ctx.keep_drives = steps, dt, segment, keep_drives
        ctx.z_marks, ctx.drives = z_marks, drives
        ctx.save_for_backward(y0, omega, alpha, weight, seq)
        return seq

    @staticmethod
    @torch.autograd.function.once_differentiable
    def backward(ctx, grad_seq):
        y0, omega, alpha, weight, seq = ctx.saved_tensors
        steps, dt, segment = ctx.steps, ctx.dt, ctx.segment
        if grad_seq is None:  # (any strides will do: it is read one step at a time)
            grad_seq = torch.zeros_like(seq)
        lam_y = torch.zeros_like(y0)
        lam_z = torch.zeros_like(y0)
        g_omega = torch.zeros_like(omega)
        g_alpha = torch.zeros_like(alpha)
        g_weight = torch.zeros_like(weight)
        dt_omega = omega * dt
        decay = 1.0 - dt * alpha

        def position(t):  # y_t, the state before update t
            return y0 if t == 0 else seq[:, t - 1]

        # Steps run backwards in blocks; the coupling's weight gradient is taken once per
        # block, over all its steps at once (one call per kernel tap instead of one per step).
        block = segment if segment > 1 else min(steps, 16)
        weight_grad = _WeightGrad(y0, block)
        work = torch.empty_like(y0)
        for start in reversed(range(0, steps, block)):
            stop = min(start + block, steps)
            if segment == 1:
                zs = ctx.z_marks[start:stop]
                drives = (ctx.drives[start:stop] if ctx.keep_drives else
                          [torch.tanh_(_coupling(position(t), weight))
                           for t in range(start, stop)])
            else:  # replay the segment's velocities (and drives) from its stored start
                z = ctx.z_marks[start // segment].clone()
                zs, drives = [], []
                for t in range(start, stop):
                    zs.append(z.clone())
                    drives.append(_velocity_step(position(t), z, omega, alpha, weight, dt,
                                                 ctx.drives[t] if ctx.keep_drives else None))
            for t in reversed(range(start, stop)):
                y_t, z_t, drive = position(t), zs[t - start], drives[t - start]
                lam_y.add_(grad_seq[:, t])
                mu = lam_z.add_(lam_y, alpha=dt)  # adjoint of z_{t+1}, through y_{t+1} too
                g_alpha.addcmul_(mu, z_t)
                g_omega.addcmul_(mu, y_t)
                g_drive = torch.mul(drive, drive, out=work)
                g_drive = g_drive.neg_().add_(1.0).mul_(mu).mul_(dt)
                weight_grad.g_slot(t - start).copy_(g_drive)
                lam_y.addcmul_(dt_omega, mu, value=-1.0).add_(_coupling_adjoint(g_drive, weight))
                lam_z = mu.mul_(decay)
            if start == 0:
                y_block = torch.cat([y0[:, None], seq[:, :stop - 1]], dim=1)
            else:
                y_block = seq[:, start - 1:stop - 1]
            g_weight.add_(weight_grad(y_block, stop - start))
            del zs, drives
        return lam_y, g_omega.mul_(-dt), g_alpha.mul_(-dt), g_weight, None, None, None, None


def wave_rollout(y0: torch.Tensor, omega: torch.Tensor, alpha: torch.Tensor,
                 weight: torch.Tensor, steps: int, dt: float, segment: int = 1,
                 keep_drives: bool = True) -> torch.Tensor:
    """Run the oscillator field for ``steps`` steps and return positions (B, T, C, H, W).

    Parameters
    ----------
    y0, omega, alpha : torch.Tensor, shape (B, C, H, W)
        Initial position, natural frequency and damping (z₀ = 0).
    weight : torch.Tensor, shape (C, C, 3, 3)
        Coupling kernel (circular padding).
    steps : int
        Number of updates T; the output holds the position after each.
    dt : float
        Time step.
    segment : int
        Velocities are stored every ``segment`` steps and recomputed in between during the
        backward pass (1: store all; about sqrt(T): the least memory).
    keep_drives : bool
        Keep the coupling terms tanh(W ⋆ y) of every step (one state's size per step);
        otherwise the backward pass recomputes them (one convolution per step).

    Examples
    --------
    >>> import math
    >>> import torch
    >>> from wavescope.training.models import wave_rollout
    >>> y0 = torch.ones(1, 1, 4, 4)
    >>> omega = torch.full_like(y0, (2 * math.pi) ** 2)  # uncoupled: one cycle per time unit
    >>> y = wave_rollout(y0, omega, torch.zeros_like(y0), torch.zeros(1, 1, 3, 3), steps=100,
    ...                  dt=0.01)
    >>> print(tuple(y.shape))  # (B, T, C, H, W)
    (1, 100, 1, 4, 4)
    >>> print(round(float(y[0, 49, 0, 0, 0]), 3), round(float(y[0, 99, 0, 0, 0]), 3))  # t = 0.5, 1
    -1.0 1.0
    """
    if y0.ndim != 4 or omega.shape != y0.shape or alpha.shape != y0.shape:
        raise ValueError(
            f"y0, omega and alpha must share one (B, C, H, W) shape, got {tuple(y0.shape)}, "
            f"{tuple(omega.shape)}, {tuple(alpha.shape)}")
    c = y0.shape[1]
    if weight.shape != (c, c, 3, 3):
        raise ValueError(f"weight must have shape ({c}, {c}, 3, 3), got {tuple(weight.shape)}")
    if steps < 1 or segment < 1:
        raise ValueError(f"steps and segment must be >= 1, got {steps} and {segment}")
    if torch.is_autocast_enabled(y0.device.type):  # the adjoint needs one dtype: float32
        with torch.autocast(y0.device.type, enabled=False):
            return wave_rollout(y0.float(), omega.float(), alpha.float(), weight.float(),
                                steps, dt, segment, keep_drives)
    return _Rollout.apply(y0, omega, alpha, weight, int(steps), float(dt), int(segment),
                          bool(keep_drives))


class NeuralWaveMachine(nn.Module):
    """The Neural Wave Machine for per-pixel segmentation.

    Parameters
    ----------
    in_channels : int
        Image channels c_in (3 for Tetrominoes, 1 for MNIST).
    channels : int
        Oscillator channels C per pixel.
    n_classes : int
        Segmentation classes, background included.
    steps : int
        Recorded time steps T.
    dt : float
        Time step of the symplectic-Euler update.
    hidden : int
        Width c_mid of the encoders.
    readout : str
        "linear", "fft", "last", "mean" or "max".
    head : str
        "mlp256" or "mlp32x5".
    segment : int or None
        Velocity checkpoint interval of the roll-out's backward pass (see
        :func:`wave_rollout`); None: 1 while the recorded sequence is at most 16 MB, about
        sqrt(T) above.
    keep_drives : bool or None
        Keep the roll-out's tanh terms for the backward pass; None: while the sequence is
        at most 16 MB, i.e. while velocities are kept too (the Tetrominoes model at batch 16,
        a 52 MB sequence, recomputes them: about 0.1 s more per step, 52 MB less).

    Attributes
    ----------
    dt : float
        Exported hidden states are sampled at 1 / dt per unit time.
    periodic : bool
        True: the coupling wraps around the image edges (a torus).

    Examples
    --------
    >>> import torch
    >>> from wavescope.training.models import NeuralWaveMachine
    >>> model = NeuralWaveMachine(in_channels=3, channels=2, n_classes=6, steps=10)
    >>> logits, hidden = model(torch.zeros(2, 3, 16, 16), return_hidden=True)
    >>> print(tuple(logits.shape), tuple(hidden.shape))  # (B, classes, H, W), (B, T, C, H, W)
    (2, 6, 16, 16) (2, 10, 2, 16, 16)
    """

    periodic = True

    def __init__(self, in_channels: int = 3, channels: int = 2, n_classes: int = 6,
                 steps: int = 100, dt: float = 0.1, hidden: int = 16, readout: str = "linear",
                 head: str = "mlp256", segment: int | None = None,
                 keep_drives: bool | None = None):
        super().__init__()
        self.in_channels, self.channels, self.n_classes = in_channels, channels, n_classes
        self.steps, self.dt = int(steps), float(dt)
        self.segment, self.keep_drives = segment, keep_drives
        self.omega_encoder = conv_encoder(in_channels, hidden, channels, 3, nn.ReLU())
        self.alpha_encoder = conv_encoder(in_channels, hidden, channels, 3, nn.ReLU())
        self.y0_encoder = conv_encoder(in_channels, hidden, channels, 4, nn.Tanh())
        self.coupling = nn.Parameter(laplacian_kernel(channels))
        self.readout = make_readout(readout, self.steps, channels)
        self.head = make_head(head, self.readout.n_features, n_classes)

    def encode(self, x: torch.Tensor):
        """ω, α and y₀, each (B, C, H, W), for images x (B, c_in, H, W)."""
        if x.ndim != 4 or x.shape[1] != self.in_channels:
            raise ValueError(f"expected images (B, {self.in_channels}, H, W), got shape "
                             f"{tuple(x.shape)}")
        return self.omega_encoder(x), self.alpha_encoder(x), self.y0_encoder(x)

    def _memory_plan(self, y0: torch.Tensor) -> tuple[int, bool]:
        """(segment, keep_drives) of the roll-out: keep everything while the sequence is
        small, recompute velocities and drives above 16 MB."""
        size = y0.numel() * y0.element_size() * self.steps
        sqrt_t = max(1, round(math.sqrt(self.steps)))
        segment = self.segment if self.segment is not None else (
            1 if size <= 16 * 2**20 else sqrt_t)
        keep = self.keep_drives if self.keep_drives is not None else size <= 16 * 2**20
        return int(segment), bool(keep)

    def hidden_states(self, x: torch.Tensor) -> torch.Tensor:
        """The recorded positions (B, T, C, H, W)."""
        omega, alpha, y0 = self.encode(x)
        segment, keep = self._memory_plan(y0)
        return wave_rollout(y0, omega, alpha, self.coupling, self.steps, self.dt, segment, keep)

    def forward(self, x: torch.Tensor, return_hidden: bool = False):
        """Logits (B, n_classes, H, W), and the positions (B, T, C, H, W) if asked."""
        seq = self.hidden_states(x)
        logits = readout_head(seq, self.readout, self.head)
        return (logits, seq) if return_hidden else logits
