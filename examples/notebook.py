# %% nnv from Python: verify, repair and train, each result plotted
# (run: python examples/notebook.py; the pictures go to ./pictures)
from pathlib import Path

import nnv

here, pictures = Path(__file__).parent, Path("pictures")
pictures.mkdir(exist_ok=True)

# %% Verify: is the XOR network robust in the box? (sat: a replayed counterexample)
net = nnv.load_network(here / "xor" / "network.onnx")
prop = nnv.load_property(here / "xor" / "robust_violated.vnnlib")
verdict = nnv.verify(net, prop, timeout=60)
print(verdict.status, verdict.counterexample)
verdict.plot().savefig(pictures / "verify.png")

# %% Repair: free two weights, keep the training points' labels, prove the box safe
fixed = nnv.repair(net, [prop], here / "xor" / "data.npz", free=["w2.1.8", "w2.2.8"])
print(fixed.status, fixed.certificate, fixed.accuracy["weighted"])
print(nnv.verify(fixed.network, prop).status)  # unsat: the property holds now
fixed.plot().savefig(pictures / "repair.png")

# %% Train: SMLE, a network that meets a property by construction
toy = here / "smle_toy"
trained = nnv.train(toy / "data.npz", property_file=toy / "properties.json",
                    property_name="sum_capped", epochs=20, learning_rate=1e-2, samples=20_000)
print(trained.certified, trained.scores)
trained.plot().savefig(pictures / "train.png")
