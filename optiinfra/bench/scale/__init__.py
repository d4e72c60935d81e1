"""`optiinfra bench scale`: a fleet scan of a synthetic fleet on the embedded engine, with the workers in
processes of their own, measured (see `optiinfra.bench.scale.run`)."""
