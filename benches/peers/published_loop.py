"""The published GLE MNIST-1D training loop, re-implemented in PyTorch (as read in the
paper's public code; written here, nothing copied), to compare how fast it learns with
`examples/mnist1d.rs` on the same data and machine.

What it does as the published code does: one input, 6 hidden layers of 53 units (layer 1
linear, layers 2-6 tanh; per layer 18 units tau_m = 0.6 and 18 units tau_m = 1.2 with
tau_r = dt, 17 units tau_m = tau_r = 1.2), 10 linear outputs (tau 1.2); every layer reads the
previous step's rates of the layer below and the previous step's errors of the layer above;
error neurons tau_r v' = e - v, eps = v + tau_m v'; dW = -eps r^T (batch mean), Adam at every
step (lr 5e-3 * dt, eps 1e-8), ReduceLROnPlateau(patience 2, factor 0.5) on the test loss;
torch's default Linear initialisation; states carried over between batches (not reset) unless
--reset 1; prediction = argmax of the output summed over the sequence. The error a layer sends
down is computed with its weights of that step, before the step's Adam update, as vle's
generated online step does too since stop 12 (`--feedback updated`: with the updated weights,
as vle's generated step did before; `published_check.py` changes the weights at every step
and tells the two apart).
One difference from the published code as read is kept here: its network states are never
reset, so they continue from the test run into the next epoch's training (vle's mnist1d
does the same by default); this loop continues from the last training batch instead.

    cargo run --release --example mnist1d -- --export-data /tmp/mnist1d_360.npz --epochs 0
    benches/peers/.venv/bin/python benches/peers/published_loop.py --data /tmp/mnist1d_360.npz

(`benches/peers/run.sh` creates the virtual environment with torch.)
"""
import argparse, time, math
import numpy as np, torch

ap = argparse.ArgumentParser()
ap.add_argument("--data", required=True, help="npz with x, y, x_test, y_test")
ap.add_argument("--epochs", type=int, default=5)
ap.add_argument("--seed", type=int, default=42)
ap.add_argument("--h1", default="identity", help="activation of hidden layer 1: identity (published) or tanh")
ap.add_argument("--reset", type=int, default=0, help="1: start every batch from rest (as examples/mnist1d.rs)")
ap.add_argument("--lr", type=float, default=1e-3)
ap.add_argument("--threads", type=int, default=1)
ap.add_argument("--hold", type=int, default=1)
ap.add_argument("--feedback", choices=["published", "updated"], default="published",
                help="weights of the error sent down: those of the step that computed it (published) "
                     "or those after that step's update (as vle's generated online step did before stop 12)")
a = ap.parse_args()
torch.set_num_threads(a.threads)
torch.manual_seed(a.seed)

d = np.load(a.data)
X, Y = torch.tensor(d["x"], dtype=torch.float32), torch.tensor(d["y"]).long()
Xt, Yt = torch.tensor(d["x_test"], dtype=torch.float32), torch.tensor(d["y_test"]).long()
if a.hold > 1:
    X, Xt = X.repeat_interleave(a.hold, 1), Xt.repeat_interleave(a.hold, 1)
dt, beta = 0.2, 1.0
sizes = [1] + [53] * 6 + [10]
L = len(sizes) - 1
lin = [torch.nn.Linear(sizes[i], sizes[i + 1]) for i in range(L)]
params = [p for l in lin for p in (l.weight, l.bias)]
tm_h = torch.tensor([0.6] * 18 + [1.2] * 35)
tr_h = torch.tensor([0.2] * 36 + [1.2] * 17)
tau_m = [tm_h] * (L - 1) + [torch.full((10,), 1.2)]
tau_r = [tr_h] * (L - 1) + [torch.full((10,), 1.2)]
ident = (lambda x: x, lambda x: torch.ones_like(x))
tanh = (torch.tanh, lambda x: 1 - torch.tanh(x) ** 2)
phis = [ident if a.h1 == "identity" else tanh] + [tanh] * (L - 2) + [ident]
opt = torch.optim.Adam(params, lr=a.lr, eps=1e-8)
sched = torch.optim.lr_scheduler.ReduceLROnPlateau(opt, patience=2, factor=0.5, eps=1e-8)


def zeros(B):
    return dict(u=[torch.zeros(B, n) for n in sizes[1:]], v=[torch.zeros(B, n) for n in sizes[1:]],
                r=[torch.zeros(B, n) for n in sizes[1:]], rp=[torch.zeros(B, n) for n in sizes[1:]],
                eb=[torch.zeros(B, n) for n in sizes[:-1]], pv=[torch.zeros(B, n) for n in sizes[1:]])


def fit(S, B):
    """States carried over to a batch of another size: repeated or cut (as the published code)."""
    def one(t):
        reps = -(-B // t.shape[0])
        return t.repeat(reps, 1)[:B].clone()
    return {k: [one(t) for t in v] for k, v in S.items()}


@torch.no_grad()
def step(S, x, target, learn):
    new = {k: list(v) for k, v in S.items()}
    for l in range(L):
        below = x if l == 0 else S["r"][l - 1]
        if l == L - 1:
            e = (torch.nn.functional.one_hot(target, 10) - torch.softmax(S["r"][l], 1)) * beta \
                if target is not None else torch.zeros_like(S["r"][l])
        else:
            e = S["eb"][l + 1]
        e = e * S["rp"][l]
        s = lin[l](below)
        vd = (e - S["v"][l]) / tau_r[l]
        pv = S["v"][l] + tau_m[l] * vd
        ud = (s - S["u"][l]) / tau_m[l]
        pu = S["u"][l] + tau_r[l] * ud
        new["v"][l] = S["v"][l] + dt * vd
        new["u"][l] = S["u"][l] + dt * ud
        new["r"][l], new["rp"][l] = phis[l][0](pu), phis[l][1](pu)
        new["eb"][l] = pv @ lin[l].weight
        new["pv"][l] = pv
        if learn:
            B = x.shape[0]
            lin[l].weight.grad = -(pv.T @ below) / B
            lin[l].bias.grad = -pv.mean(0)
    return new


def run(Xb, Yb, S, learn):
    steps = Xb.shape[1]
    out, loss = torch.zeros(Xb.shape[0], 10), 0.0
    for n in range(steps):
        S = step(S, Xb[:, n:n + 1], Yb if learn else None, learn)
        o = S["r"][L - 1]
        loss += torch.nn.functional.cross_entropy(o, Yb, reduction="sum").item() / steps
        out += o
        if learn:
            opt.step()
            if a.feedback == "updated":
                with torch.no_grad():
                    S["eb"] = [S["pv"][l] @ lin[l].weight for l in range(L)]
    return S, out, loss


S = zeros(100)
for ep in range(1, a.epochs + 1):
    t0 = time.time()
    perm = torch.randperm(X.shape[0])
    correct, tl = 0, 0.0
    for i in range(0, X.shape[0], 100):
        idx = perm[i:i + 100]
        S = zeros(len(idx)) if a.reset else fit(S, len(idx))
        S, out, loss = run(X[idx], Y[idx], S, True)
        correct += (out.argmax(1) == Y[idx]).sum().item()
        tl += loss
    St = zeros(Xt.shape[0]) if a.reset else fit(S, Xt.shape[0])
    _, out, vl = run(Xt, Yt, St, False)
    acc = (out.argmax(1) == Yt).float().mean().item() * 100
    sched.step(vl / Xt.shape[0])
    print(f"epoch {ep} train_loss {tl / X.shape[0]:.4f} train_acc {correct / X.shape[0] * 100:.2f} "
          f"test_loss {vl / Xt.shape[0]:.4f} test_acc {acc:.2f} lr {opt.param_groups[0]['lr']:.2e} "
          f"{time.time() - t0:.1f}s", flush=True)
