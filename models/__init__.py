"""PyMC model builders: data and priors in, a `pm.Model` with named coords out (no sampling, I/O or plots)."""
