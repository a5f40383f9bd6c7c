"""muonlab: controlled studies of Muon-family optimizers.

Subpackages: ``optim`` (optimizers), ``toyproblems`` (AWB-T, injection, river valley,
digits), ``pinn`` (Helmholtz with random-ROI sampling), ``diagnostics`` (Hessian tools,
spikes, projections), ``runner`` (studies), ``analysis`` (tables and plots).
"""

__version__ = "0.1.0"
